package learn

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
)

func manual(id, bankRef, bankText, bankAmt, bankDate, ledgerRef, ledgerAmt, ledgerDate string) casestore.Evidence {
	return casestore.Evidence{MatchID: id, Action: string(record.ActManualMatch), User: "pat", Account: "DE89", Currency: "EUR",
		Bank:   []casestore.MatchItem{{ID: "b-" + id, Reference: bankRef, Description: bankText, Amount: bankAmt, BookingDate: bankDate}},
		Ledger: []casestore.MatchItem{{ID: "l-" + id, Reference: ledgerRef, Amount: ledgerAmt, BookingDate: ledgerDate}}}
}

const narrow = `rules:
  # Only the same reference and amount, three days either way.
  - name: exact
    reference: normalized
    date: {before: 3, after: 3}
`

// TestRuleSuggestions: matches people made by hand that the rules do not
// make, in three recurring shapes (a date lag, a fixed charge, a
// reference the bank writes with another word), each give a rule change
// that validates, keeps the text's comments, and makes the engine match
// exactly those pairs; a pair the rules match already, or a shape seen
// once, suggests nothing.
func TestRuleSuggestions(t *testing.T) {
	var ev []casestore.Evidence
	for i := range 3 {
		ref := fmt.Sprintf("INV-2026-10%02d", i)
		ev = append(ev, manual(fmt.Sprintf("lag%d", i), ref, "", "150.00", fmt.Sprintf("2026-03-%02d", 14+i), ref, "150.00", "2026-03-02"))
		ref = fmt.Sprintf("INV-2026-20%02d", i)
		ev = append(ev, manual(fmt.Sprintf("fee%d", i), ref, "", fmt.Sprintf("%d60.00", i+1), "2026-03-03", ref, fmt.Sprintf("%d00.00", i+2), "2026-03-03"))
		ev = append(ev, manual(fmt.Sprintf("ord%d", i), "", fmt.Sprintf("Auftrag %d Zahlung", 48213+i), "99.10", "2026-03-04",
			fmt.Sprintf("ORD-%d", 48213+i), "99.10", "2026-03-04"))
	}
	// Initech pays two or three invoices at once, naming none.
	for i := range 2 {
		e := casestore.Evidence{MatchID: fmt.Sprintf("grp%d", i), Action: string(record.ActManualMatch), User: "sam", Account: "DE89", Currency: "EUR",
			Bank: []casestore.MatchItem{{ID: fmt.Sprintf("b-grp%d", i), Counterparty: "INITECH GMBH", Description: "SAMMELZAHLUNG",
				Amount: "600.00", BookingDate: fmt.Sprintf("2026-03-%02d", 10+i)}}}
		for j, amt := range []string{"100.00", "200.00", "300.00"}[:2+i] {
			if i == 0 && j == 1 {
				amt = "500.00"
			}
			e.Ledger = append(e.Ledger, casestore.MatchItem{ID: fmt.Sprintf("l-grp%d-%d", i, j), Counterparty: "Initech GmbH", Reference: fmt.Sprintf("R-%d%d", i, j),
				Amount: amt, BookingDate: fmt.Sprintf("2026-03-%02d", 6+i+j)})
		}
		ev = append(ev, e)
	}
	ev = append(ev, manual("covered", "INV-2026-3000", "", "10.00", "2026-03-04", "INV-2026-3000", "10.00", "2026-03-04"),
		manual("once", "INV-2026-4000", "", "10.00", "2026-03-04", "INV-2026-4000", "12.50", "2026-03-04"))
	got, err := Rules(ev, 2, narrow, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]Suggestion{}
	for _, s := range got {
		shapes[s.Rule.Shape] = s
	}
	if len(got) != 4 || len(shapes) != 4 {
		for _, s := range got {
			t.Logf("%s: %s\n%s", s.Rule.Shape, s.Rule.Summary, s.Rule.Change)
		}
		t.Fatalf("%d suggestions, want one of each of 4 shapes", len(got))
	}
	for shape, wantIn := range map[string][]string{
		ShapeDateLag:   {"reference: contains", "after: 15", "action: propose"},
		ShapeFee:       {"fee: \"40.00\"", "fee_share: \"20\"", "variance: fee"},
		ShapeReference: {`(?:ORD|AUFTRAG)`, "template: ORD$1"},
		ShapeGroup:     {"reference: none", "cardinality: 1:N", "expand: counterparty", "min_similarity: 100", "before: 1", "after: 5", "max_group: 4"},
	} {
		s := shapes[shape]
		for _, w := range wantIn {
			if !strings.Contains(s.Rule.Change, w) {
				t.Errorf("%s change lacks %q:\n%s", shape, w, s.Rule.Change)
			}
		}
		if want := map[bool]int{true: 2, false: 3}[shape == ShapeGroup]; s.Count != want || len(s.Evidence) != want || !strings.Contains(s.Rule.YAML, "# Only the same reference") {
			t.Errorf("%s: count %d, evidence %v, comments kept: %v", shape, s.Count, s.Evidence, strings.Contains(s.Rule.YAML, "#"))
		}
		// The changed rules make the shape's pairs.
		cfg, err := engine.ParseConfig([]byte(s.Rule.YAML), shape)
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(cfg)
		for _, e := range ev {
			if !strings.HasPrefix(e.MatchID, map[string]string{ShapeDateLag: "lag", ShapeFee: "fee", ShapeReference: "ord", ShapeGroup: "grp"}[shape]) {
				continue
			}
			recs := []*engine.Rec{}
			for _, it := range e.Bank {
				b, _ := rec(eng, e, it, record.Bank)
				recs = append(recs, b)
			}
			for _, it := range e.Ledger {
				l, _ := rec(eng, e, it, record.Ledger)
				recs = append(recs, l)
			}
			if res := eng.MatchPool(recs); len(res.Matches) != 1 {
				t.Errorf("%s: the suggested rules do not match %s", shape, e.MatchID)
			}
		}
	}
	if s := shapes[ShapeDateLag]; s.Rule.From != "2026-03-02" || s.Rule.To != "2026-03-16" {
		t.Errorf("lag period %s..%s", s.Rule.From, s.Rule.To)
	}
}
