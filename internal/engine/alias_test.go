package engine

import (
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/record"
)

// TestAliases: a bank text and a ledger name that share no word match
// under the counterparty rule only once an alias of the account names
// them one party (the changing part of the text aside), the alias named
// in the explanation; another account's records, or another ledger
// name, are not touched.
func TestAliases(t *testing.T) {
	b := mk("b1", record.Bank, "", "AMZN MKTP DE*2X9K4", "", 4999, "2026-03-03")
	l := mk("l1", record.Ledger, "", "", "Amazon EU S.a r.l.", 4999, "2026-03-02")
	if d := eng.Match(b, []*Rec{l}); d.Match != nil {
		t.Fatalf("matched without an alias: %+v", d.Match)
	}
	cfg := DefaultConfig()
	cfg.Aliases = []record.Alias{{Account: "A", Currency: "EUR", BankName: "AMZN MKTP", LedgerName: AliasName("Amazon EU S.a r.l."),
		Evidence: 3, LearnedFrom: "preparer"}}
	with := New(cfg)
	prep := func(r *Rec) *Rec {
		c := *r
		with.Prepare(&c)
		return &c
	}
	b2, l2 := prep(b), prep(l)
	d := with.Match(b2, []*Rec{l2})
	if d.Match == nil || d.Match.Rule != "amount-date-counterparty" {
		t.Fatalf("with the alias: %+v", d)
	}
	if !strings.Contains(d.Match.Explanation, `counterparty alias "AMZN MKTP" = "AMAZON EU"`) ||
		!strings.Contains(d.Match.Explanation, "learned from 3 manual match(es) by preparer") {
		t.Errorf("explanation %q", d.Match.Explanation)
	}
	// Another payment of the same supplier: another transaction code.
	b3 := prep(mk("b3", record.Bank, "", "AMZN MKTP DE*7Y1Q2", "", 1250, "2026-03-05"))
	if d := with.Match(b3, []*Rec{prep(mk("l3", record.Ledger, "", "", "Amazon EU S.a r.l.", 1250, "2026-03-04"))}); d.Match == nil {
		t.Error("the alias did not take the next payment")
	}
	// Another account, another ledger name: no alias.
	other := prep(mk("b4", record.Bank, "", "AMZN MKTP DE*7Y1Q2", "", 1250, "2026-03-05"))
	other.Account = "B"
	if d := with.Match(other, []*Rec{prep(mk("l4", record.Ledger, "", "", "Amazon EU S.a r.l.", 1250, "2026-03-04"))}); d.Match != nil {
		t.Errorf("an alias of account A matched on account B: %+v", d.Match)
	}
	if d := with.Match(b3, []*Rec{prep(mk("l5", record.Ledger, "", "", "Globex AG", 1250, "2026-03-04"))}); d.Match != nil {
		t.Errorf("the alias matched another ledger name: %+v", d.Match)
	}
}
