package learn

import (
	"testing"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/record"
)

func ev(id, user, bankCP, bankText, ledgerCP string) casestore.Evidence {
	return casestore.Evidence{MatchID: id, User: user, Account: "DE89", Currency: "EUR",
		Bank:   []casestore.MatchItem{{ID: "b-" + id, Counterparty: bankCP, Description: bankText}},
		Ledger: []casestore.MatchItem{{ID: "l-" + id, Counterparty: ledgerCP}}}
}

// TestAliases: a supplier whose bank text never resembles its ledger name
// is suggested once two people's matches show it, with the words every
// payment shares (its transaction codes left out); names that agree
// already, ledger items of several names, a single match and a known
// alias suggest nothing.
func TestAliases(t *testing.T) {
	evidence := []casestore.Evidence{
		ev("m1", "pat", "", "AMZN MKTP DE*2X9K4 SEPA", "Amazon EU S.a r.l."),
		ev("m2", "sam", "", "AMZN MKTP DE*7Y1Q2 SEPA", "Amazon EU S.a r.l."),
		ev("m3", "pat", "AMZN MKTP DE 0412", "", "Amazon EU S.a r.l."),
		ev("m4", "pat", "Initech GmbH", "", "Initech GmbH"),         // names agree
		ev("m5", "pat", "Globex Holdings", "", "Umbrella Corp"),     // once only
		ev("m6", "pat", "Globex Holdings", "", "Umbrella Corp Ltd"), // the same ledger name, legal form aside
	}
	got := Aliases(evidence, 2, nil)
	if len(got) != 2 {
		t.Fatalf("%d suggestions, want 2: %+v", len(got), got)
	}
	a := got[0]
	if a.Names.Bank != "AMZN MKTP DE" || a.Names.Ledger != "AMAZON EU" || a.Count != 3 || len(a.Users) != 2 ||
		a.SuggestionID != record.AliasID("DE89", "EUR", "AMZN MKTP DE", "AMAZON EU") || a.Alias.LearnedFrom != "pat, sam" {
		t.Errorf("amazon: %+v", a)
	}
	if b := got[1]; b.Names.Bank != "GLOBEX HOLDINGS" || b.Names.Ledger != "UMBRELLA" || b.Count != 2 {
		t.Errorf("umbrella: %+v", b)
	}
	if got := Aliases(evidence, 4, nil); len(got) != 0 {
		t.Errorf("with 4 needed: %+v", got)
	}
	if got := Aliases(evidence, 2, []record.Alias{a.Alias}); len(got) != 1 || got[0].Names.Ledger != "UMBRELLA" {
		t.Errorf("with the amazon alias known: %+v", got)
	}
}
