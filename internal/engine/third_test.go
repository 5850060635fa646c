package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

func groupOf(t *testing.T, res PoolResult, rule string) *Group {
	t.Helper()
	for _, g := range res.Matches {
		if g.Rule == rule {
			return g
		}
	}
	t.Fatalf("no %s match in %v", rule, matchedIDs(res))
	return nil
}

// Payouts net of refunds and fees: the whole group by payout id, either
// sign, a booked fee line or an unbooked fee (auto up to 3.5 %, proposed
// up to 5 %, nothing beyond).
func TestPayouts(t *testing.T) {
	payout := func(bankCents int64, items ...int64) []*Rec {
		recs := []*Rec{mk("b1", record.Bank, "", "STRIPE PAYMENTS UK STRIPE PAYOUT po_1QxT7aBc9DeF", "Stripe Payments UK", bankCents, "2026-03-06")}
		for i, c := range items {
			recs = append(recs, mk(fmt.Sprintf("l%02d", i), record.Ledger, "po_1QxT7aBc9DeF", "charge ch_"+fmt.Sprint(i), "Stripe", c, "2026-03-0"+fmt.Sprint(2+i%3)))
		}
		return recs
	}
	// Charges, a refund and the fee booked as its own line: exact.
	res := eng.MatchPool(payout(20850, 10000, 12000, -1000, -150))
	g := groupOf(t, res, "payout")
	if len(g.Ledger) != 4 || !g.Difference.IsZero() || g.Status != record.Auto || !strings.Contains(g.Explanation, "2 against it") {
		t.Errorf("booked fee: %+v", g)
	}
	// The fee not booked: 2 % of 21,000 -> auto, with the variance named.
	res = eng.MatchPool(payout(20580, 10000, 12000, -1000))
	g = groupOf(t, res, "payout")
	if g.Status != record.Auto || g.Difference.String() != "-4.20" || !strings.Contains(g.Explanation, "fee variance") {
		t.Errorf("unbooked 2%% fee: %+v", g)
	}
	// 4 %: proposed.
	res = eng.MatchPool(payout(20160, 10000, 12000, -1000))
	if g = groupOf(t, res, "payout"); g.Status != record.Proposed {
		t.Errorf("unbooked 4%% fee: %+v", g)
	}
	// 6 %: no fee; and never more paid out than the items.
	for _, c := range []int64{19740, 21001} {
		if res := eng.MatchPool(payout(c, 10000, 12000, -1000)); len(res.Matches) != 0 {
			t.Errorf("bank %d: matched %v", c, matchedIDs(res))
		}
	}
	// A refund-heavy payout is a debit.
	res = eng.MatchPool(payout(-3000, 1000, -4000))
	if g = groupOf(t, res, "payout"); len(g.Ledger) != 2 || !g.Difference.IsZero() {
		t.Errorf("debit payout %+v", g)
	}
	// Thousands of items: one pass.
	items := make([]int64, 3000)
	var total int64
	for i := range items {
		items[i] = int64(1000 + i%700)
		if i%9 == 0 {
			items[i] = -items[i]
		}
		total += items[i]
	}
	res = eng.MatchPool(payout(total, items...))
	if g = groupOf(t, res, "payout"); len(g.Ledger) != 3000 || g.Status != record.Auto {
		t.Errorf("3,000 items: %d matched, %s", len(g.Ledger), g.Status)
	}
}

// Cheques: the number however it is written on either side, clearing up
// to ten business days after the ledger date.
func TestCheques(t *testing.T) {
	shapes := []struct{ bankRef, ledgerRef, ledgerDesc string }{
		{"CHQ 004512", "CHQ 004512", ""},
		{"CHQ 004512", "Cheque 4512", ""},
		{"CHQ 004512", "004512", "cheque to Contoso"},
		{"CHQ 4512", "", "Chq. No. 4512 Contoso"},
		{"CHQ 004512", "CHECK #4512", ""},
	}
	for _, s := range shapes {
		b := mk("b1", record.Bank, s.bankRef, "CHECK PAID", "", -125000, "2026-03-16") // 10 business days after 03-02
		l := mk("l1", record.Ledger, s.ledgerRef, s.ledgerDesc, "Contoso", -125000, "2026-03-02")
		res := eng.MatchPool([]*Rec{b, l})
		if got := matchedIDs(res); strings.Join(got, ",") != "cheque:b1+l1" {
			t.Errorf("%q vs %q %q: %v", s.bankRef, s.ledgerRef, s.ledgerDesc, got)
		}
	}
	// 11 business days, another amount or another number: no cheque match.
	for _, c := range []struct {
		ref, date string
		cents     int64
	}{{"CHQ 004512", "2026-03-17", -125000}, {"CHQ 004512", "2026-03-10", -125001}, {"CHQ 004513", "2026-03-10", -125000}} {
		res := eng.MatchPool([]*Rec{mk("b1", record.Bank, c.ref, "CHECK PAID", "", c.cents, c.date), mk("l1", record.Ledger, "Cheque 4512", "", "", -125000, "2026-03-02")})
		for _, g := range res.Matches {
			if g.Rule == "cheque" {
				t.Errorf("%+v matched by the cheque rule", c)
			}
		}
	}
}

// FX: a rates file makes a converted receipt exact (auto); without one
// it is proposed with the variance explained; amounts stay decimals.
func TestFX(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rates.csv")
	os.WriteFile(path, []byte("date,pair,rate\n2026-03-05,USD/EUR,0.92137\n2026-03-06,USD/EUR,0.91850\n"), 0o644)
	rates, err := LoadRates(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Rates = rates
	fx := New(cfg)
	mkfx := func(e *Engine, bankCents int64, bankDate string) []*Rec {
		bd, _ := record.ParseDate(bankDate)
		ld, _ := record.ParseDate("2026-03-02")
		b := &Rec{Item: record.Item{ID: "b1", Side: record.Bank, Currency: "EUR", Amount: money.New(bankCents, 2), BookingDate: bd, Reference: "INV-2026-00077"}, Account: "A"}
		l := &Rec{Item: record.Item{ID: "l1", Side: record.Ledger, Currency: "EUR", Amount: money.New(100000, 2), BookingDate: ld, Reference: "INV-2026-00077"}, Account: "A",
			OrigCurrency: "USD", OrigAmount: money.New(108500, 2)}
		e.Prepare(b)
		e.Prepare(l)
		return []*Rec{b, l}
	}
	// 1,085.00 USD * 0.92137 = 999.68645 -> 999.69 EUR on 03-05.
	g := groupOf(t, fx.MatchPool(mkfx(fx, 99969, "2026-03-05")), "fx-rate")
	if g.Status != record.Auto || !strings.Contains(g.Explanation, "0.92137") || g.Difference.String() != "-0.31" {
		t.Errorf("rate match %+v", g)
	}
	// A weekend takes Friday's rate; a cent off is no rate match (but an FX variance).
	if g := groupOf(t, fx.MatchPool(mkfx(fx, 99657, "2026-03-08")), "fx-rate"); g.Status != record.Auto {
		t.Errorf("weekend %+v", g)
	}
	if g := groupOf(t, fx.MatchPool(mkfx(fx, 99970, "2026-03-05")), "fx-variance"); g.Status != record.Proposed || !strings.Contains(g.Explanation, "FX variance") {
		t.Errorf("a cent off %+v", g)
	}
	// Without rates: proposed.
	if g := groupOf(t, eng.MatchPool(mkfx(eng, 99969, "2026-03-05")), "fx-variance"); g.Status != record.Proposed {
		t.Errorf("no rates %+v", g)
	}
	for _, bad := range []string{"2026-03-05,USD,0.9\n", "2026-13-05,USD/EUR,0.9\n", "2026-03-05,USD/EUR,-1\n", "2026-03-05,USD/EUR\n"} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := LoadRates(path); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A remittance naming several invoices, its text cut short: the
// invoices still named anchor the group; the counterparty's other items
// complete it exactly (proposed).
func TestRemittanceCutShort(t *testing.T) {
	full := mk("b1", record.Bank, "", "INV-2026-00011 INV-2026-00012 INV-2026-00013", "Contoso Ltd", 60000, "2026-03-04")
	l1 := mk("l1", record.Ledger, "INV-2026-00011", "", "Contoso Ltd", 10000, "2026-03-02")
	l2 := mk("l2", record.Ledger, "INV-2026-00012", "", "Contoso Ltd", 20000, "2026-03-02")
	l3 := mk("l3", record.Ledger, "INV-2026-00013", "", "Contoso Ltd", 30000, "2026-03-02")
	other := mk("l4", record.Ledger, "INV-2026-00099", "", "Fabrikam", 30000, "2026-03-02")
	if got := matchedIDs(eng.MatchPool([]*Rec{full, l1, l2, l3, other})); strings.Join(got, ",") != "batch:b1+l1+l2+l3" {
		t.Errorf("whole text: %v", got)
	}
	cut := mk("b1", record.Bank, "", "INV-2026-00011 INV-2026-0", "CONTOSO LTD", 60000, "2026-03-04")
	res := eng.MatchPool([]*Rec{cut, l1, l2, l3, other})
	g := groupOf(t, res, "remittance-cut-short")
	if got := matchedIDs(res); strings.Join(got, ",") != "remittance-cut-short:b1+l1+l2+l3" || g.Status != record.Proposed {
		t.Errorf("cut short: %v %s", got, g.Status)
	}
	// Two ways to fill it: nothing.
	l5 := mk("l5", record.Ledger, "INV-2026-00014", "", "Contoso Ltd", 50000, "2026-03-02")
	if got := matchedIDs(eng.MatchPool([]*Rec{cut, l1, l2, l3, l5, other})); len(got) != 0 {
		t.Errorf("ambiguous filling matched %v", got)
	}
}

// Close dates come from the rules that can still take a record, in its
// direction.
func TestCloseDates(t *testing.T) {
	day := func(s string) record.Date { d, _ := record.ParseDate(s); return d }
	cases := []struct {
		name string
		r    *Rec
		want string
	}{
		// No reference: only the no-reference rules (ledger waits 3
		// business days, the bank 1), plus a grace day.
		{"ledger without reference", mk("l1", record.Ledger, "", "", "Contoso", 1000, "2026-03-02"), "2026-03-06"},
		{"bank without reference", mk("b1", record.Bank, "", "", "Contoso", 1000, "2026-03-02"), "2026-03-04"},
		// With a reference the instalment rule (N:1, bank parts up to 31
		// days after) holds a ledger item a month; a bank entry 10 days.
		{"ledger with reference", mk("l1", record.Ledger, "INV-2026-00001", "", "Contoso", 1000, "2026-03-02"), "2026-04-03"},
		{"bank with reference", mk("b1", record.Bank, "INV-2026-00001", "", "", 1000, "2026-03-02"), "2026-03-13"},
		// A cheque: 10 business days.
		{"ledger cheque", mk("l1", record.Ledger, "", "", "", -1000, "2026-03-02"), "2026-03-06"},
	}
	cases[4].r = mk("l1", record.Ledger, "Cheque 4512", "", "", -1000, "2026-03-02")
	cases[4].want = "2026-04-03" // the cheque's 10 business days are within the instalments' month
	for _, c := range cases {
		if got := eng.CloseDate(c.r); got != day(c.want) {
			t.Errorf("%s: close %s, want %s", c.name, got, c.want)
		}
	}
	// A rules file without the wide rule: a referenced cheque waits for
	// the cheque rule alone.
	cfg := DefaultConfig()
	var rules []Rule
	for _, r := range cfg.Rules {
		if r.Name != "instalments" {
			rules = append(rules, r)
		}
	}
	cfg.Rules = rules
	e := New(cfg)
	r := mk("l1", record.Ledger, "Cheque 4512", "", "", -1000, "2026-03-02")
	e.Prepare(r)
	if got := e.CloseDate(r); got != day("2026-03-17") {
		t.Errorf("cheque without instalments: %s", got)
	}
	r = mk("l2", record.Ledger, "INV-2026-00001", "", "", -1000, "2026-03-02")
	e.Prepare(r)
	if got := e.CloseDate(r); got != day("2026-03-17") { // payout: 10 business days
		t.Errorf("referenced ledger without instalments: %s", got)
	}
}

// sharesKeyWith agrees with the intersection of keysOf on both sides, for
// every pair of the shapes references come in.
func TestSharesKeyWithPrefix(t *testing.T) {
	refs := []string{"CHQ 004512", "Cheque 4512", "004512", "4512", "Chq. No. 4513", "INV-2026-00012", "", "12", "CHECK #12", "SO-4512"}
	for _, x := range refs {
		for _, y := range refs {
			a, b := mk("a", record.Bank, x, "", "", 100, "2026-03-02"), mk("b", record.Ledger, y, "", "", 100, "2026-03-02")
			want := false
			for _, k := range keysOf(a, "CHQ") {
				for _, l := range keysOf(b, "CHQ") {
					want = want || k == l
				}
			}
			if got := sharesKeyWith(a, b, "CHQ"); got != want {
				t.Errorf("%q vs %q: %v, want %v", x, y, got, want)
			}
		}
	}
}
