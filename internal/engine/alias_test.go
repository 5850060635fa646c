package engine

import (
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/money"
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

// TestCounterpartyGroup: with reference none, expand: counterparty makes
// a bank entry up from two or more items of its counterparty in the
// window, exact total; one item alone, another counterparty's items, or
// no rule of the kind make nothing; the rule needs a similarity.
func TestCounterpartyGroup(t *testing.T) {
	text, err := DefaultConfig().Text()
	if err != nil {
		t.Fatal(err)
	}
	group := text + `  - name: counterparty-group
    reference: none
    cardinality: "1:N"
    expand: counterparty
    counterparty: {min_similarity: 80}
    date: {before: 1, after: 5}
    max_group: 4
    confidence: 8500
    min_confidence: 6000
    action: propose
`
	cfg, err := ParseConfig([]byte(group), "group")
	if err != nil {
		t.Fatal(err)
	}
	with := New(cfg)
	recs := func(e *Engine, ledger ...*Rec) []*Rec {
		b := &Rec{Item: record.Item{ID: "b", Side: record.Bank, Currency: "EUR", Amount: money.New(60000, 2), BookingDate: 20530,
			Counterparty: "INITECH GMBH", Description: "SAMMELZAHLUNG"}, Account: "A"}
		e.Prepare(b)
		out := []*Rec{b}
		for _, l := range ledger {
			e.Prepare(l)
			out = append(out, l)
		}
		return out
	}
	led := func(id, cp string, cents int64, day record.Date) *Rec {
		return &Rec{Item: record.Item{ID: id, Side: record.Ledger, Currency: "EUR", Amount: money.New(cents, 2), BookingDate: day,
			Counterparty: cp, Reference: "R-" + id}, Account: "A"}
	}
	res := with.MatchPool(recs(with, led("l1", "Initech GmbH", 10000, 20527), led("l2", "Initech GmbH", 50000, 20528),
		led("l3", "Globex AG", 50000, 20528)))
	if len(res.Matches) != 1 || res.Matches[0].Rule != "counterparty-group" || len(res.Matches[0].Ledger) != 2 ||
		!strings.Contains(res.Matches[0].Explanation, "2 items of the same counterparty add up to the amount exactly") {
		t.Fatalf("with the rule: %+v", res.Matches)
	}
	if res := New(DefaultConfig()).MatchPool(recs(New(DefaultConfig()), led("l1", "Initech GmbH", 10000, 20527), led("l2", "Initech GmbH", 50000, 20528))); len(res.Matches) != 0 {
		t.Errorf("the built-in rules grouped it: %+v", res.Matches[0])
	}
	if res := with.MatchPool(recs(with, led("l1", "Globex AG", 10000, 20527), led("l2", "Globex AG", 50000, 20528))); len(res.Matches) != 0 {
		t.Errorf("another counterparty's items: %+v", res.Matches[0])
	}
	i := strings.LastIndex(group, "    counterparty: {min_similarity: 80}\n")
	if _, err := ParseConfig([]byte(group[:i]+group[i+len("    counterparty: {min_similarity: 80}\n"):]), "x"); err == nil ||
		!strings.Contains(err.Error(), "expand: counterparty needs counterparty.min_similarity") {
		t.Errorf("without a similarity: %v", err)
	}
}
