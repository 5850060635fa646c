package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

var eng = New(DefaultConfig())

func mk(id string, side record.Side, ref, desc, cp string, cents int64, date string) *Rec {
	d, _ := record.ParseDate(date)
	r := &Rec{Item: record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(cents, 2), BookingDate: d,
		Reference: ref, Description: desc, Counterparty: cp}, Account: "A"}
	eng.Prepare(r)
	return r
}

func matchedIDs(res PoolResult) []string {
	var out []string
	for _, g := range res.Matches {
		var ids []string
		for _, r := range append(append([]*Rec(nil), g.Bank...), g.Ledger...) {
			ids = append(ids, r.ID)
		}
		sort.Strings(ids)
		out = append(out, g.Rule+":"+strings.Join(ids, "+"))
	}
	sort.Strings(out)
	return out
}

func TestRuleFeatures(t *testing.T) {
	tests := []struct {
		name string
		recs []*Rec
		want []string
	}{
		{"normalised reference", []*Rec{mk("b1", record.Bank, "INV-1/ab", "", "", 10000, "2026-03-02"), mk("l1", record.Ledger, "inv 1 AB", "", "", 10000, "2026-03-01")},
			[]string{"exact:b1+l1"}},
		{"reference in remittance text, written another way", []*Rec{mk("b1", record.Bank, "", "Payment inv 2026 00123 thank you", "", -5000, "2026-03-02"), mk("l1", record.Ledger, "INV-2026-00123", "", "", -5000, "2026-03-02")},
			[]string{"reference-in-text:b1+l1"}},
		{"compact invoice number", []*Rec{mk("b1", record.Bank, "INV202600123", "", "", -5000, "2026-03-02"), mk("l1", record.Ledger, "INV-2026-123", "", "", -5000, "2026-03-02")},
			[]string{"reference-in-text:b1+l1"}},
		{"fee deducted", []*Rec{mk("b1", record.Bank, "SO-88412", "", "", 984950, "2026-03-03"), mk("l1", record.Ledger, "SO-88412", "", "", 985000, "2026-03-02")},
			[]string{"fee-deducted:b1+l1"}},
		{"fee too large: proposed as an FX variance (0.5 %)", []*Rec{mk("b1", record.Bank, "SO-88412", "", "", 980000, "2026-03-03"), mk("l1", record.Ledger, "SO-88412", "", "", 985000, "2026-03-02")},
			[]string{"fx-variance:b1+l1"}},
		{"bank never gets more than the ledger by the fee rule: an FX variance", []*Rec{mk("b1", record.Bank, "SO-88412", "", "", 985100, "2026-03-03"), mk("l1", record.Ledger, "SO-88412", "", "", 985000, "2026-03-02")},
			[]string{"fx-variance:b1+l1"}},
		{"more than 2 % off is no FX variance", []*Rec{mk("b1", record.Bank, "SO-88412", "", "", 960000, "2026-03-03"), mk("l1", record.Ledger, "SO-88412", "", "", 985000, "2026-03-02")},
			nil},
		{"outside the auto rules' date windows: proposed by the late-only rule", []*Rec{mk("b1", record.Bank, "INV-1", "", "", 100, "2026-03-20"), mk("l1", record.Ledger, "INV-1", "", "", 100, "2026-03-02")},
			[]string{"reference-far-date:b1+l1"}},
		{"outside every date window", []*Rec{mk("b1", record.Bank, "INV-1", "", "", 100, "2026-05-20"), mk("l1", record.Ledger, "INV-1", "", "", 100, "2026-03-02")},
			nil},
		{"opposite signs never match", []*Rec{mk("b1", record.Bank, "INV-1", "", "", 100, "2026-03-02"), mk("l1", record.Ledger, "INV-1", "", "", -100, "2026-03-02")},
			nil},
		{"no reference: counterparty and amount", []*Rec{mk("b1", record.Bank, "", "card", "ACME Office Supplies GmbH", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies", -4599, "2026-03-03")},
			[]string{"amount-date-counterparty:b1+l1"}},
		{"no reference: the name cut short and with its legal form spelled out", []*Rec{mk("b1", record.Bank, "", "card", "ACME OFFICE SUPPL", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies G.m.b.H.", -4599, "2026-03-03")},
			[]string{"amount-date-counterparty:b1+l1"}},
		{"no reference: the name only in the bank's text", []*Rec{mk("b1", record.Bank, "", "ACME OFFICE SUPPLIES GMBH SEPA CREDIT TRANSFER", "", 4599, "2026-03-04"), mk("l1", record.Ledger, "JE-1", "", "Acme Office Supplies", 4599, "2026-03-03")},
			[]string{"amount-date-counterparty:b1+l1"}},
		{"no reference: half the name", []*Rec{mk("b1", record.Bank, "", "card", "ACME Stationery", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies", -4599, "2026-03-03")},
			[]string{"amount-date-counterparty-weak:b1+l1"}},
		{"no reference, different counterparty, a round amount", []*Rec{mk("b1", record.Bank, "", "card", "Contoso", -4500, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies", -4500, "2026-03-03")},
			nil},
		{"no reference, different counterparty, the only amount of its kind", []*Rec{mk("b1", record.Bank, "", "card", "Contoso", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies", -4599, "2026-03-03")},
			[]string{"unique-amount:b1+l1"}},
		{"the amount twice on the bank side is not unique", []*Rec{mk("b1", record.Bank, "", "card", "", -4599, "2026-03-02"), mk("b2", record.Bank, "", "card", "", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "", -4599, "2026-03-03")},
			nil},
		{"N:M: two bank entries pay three ledger items of a batch", []*Rec{mk("b1", record.Bank, "", "PAYROLL BATCH-7001 PART 1", "", -180000, "2026-03-03"), mk("b2", record.Bank, "", "PAYROLL BATCH-7001 PART 2", "", -220000, "2026-03-03"),
			mk("l1", record.Ledger, "BATCH-7001", "", "", -100000, "2026-03-02"), mk("l2", record.Ledger, "BATCH-7001", "", "", -250000, "2026-03-02"), mk("l3", record.Ledger, "BATCH-7001", "", "", -50000, "2026-03-02"),
			mk("l4", record.Ledger, "BATCH-7001", "", "", -12300, "2026-03-02")},
			[]string{"batch-many:b1+b2+l1+l2+l3"}},
		{"batch payout 1:N", []*Rec{mk("b1", record.Bank, "", "CARD PAYOUT PO-7781", "", 30000, "2026-03-04"),
			mk("l1", record.Ledger, "PO-7781", "", "", 10000, "2026-03-02"), mk("l2", record.Ledger, "PO-7781", "", "", 12000, "2026-03-02"),
			mk("l3", record.Ledger, "PO-7781", "", "", 8000, "2026-03-03"), mk("l4", record.Ledger, "PO-7781", "", "", 99900, "2026-03-03")},
			[]string{"batch:b1+l1+l2+l3"}},
		{"instalments N:1", []*Rec{mk("l1", record.Ledger, "INV-2026-0005", "", "", 30000, "2026-03-01"),
			mk("b1", record.Bank, "INV 2026 0005", "", "", 15000, "2026-03-05"), mk("b2", record.Bank, "inv-2026-5", "", "", 15000, "2026-04-01")},
			[]string{"instalments:b1+b2+l1"}},
	}
	for _, tt := range tests {
		res := eng.MatchPool(tt.recs)
		if got := matchedIDs(res); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: matched %v, want %v", tt.name, got, tt.want)
		}
	}
	// The fee is recorded as an explained variance.
	res := eng.MatchPool([]*Rec{mk("b1", record.Bank, "SO-88412", "", "", 984950, "2026-03-03"), mk("l1", record.Ledger, "SO-88412", "", "", 985000, "2026-03-02")})
	if g := res.Matches[0]; g.Difference.String() != "-0.50" || !strings.Contains(g.Explanation, "amount differs by -0.50") || g.Status != record.Auto {
		t.Errorf("fee match %+v", g)
	}
	res = eng.MatchPool([]*Rec{mk("b1", record.Bank, "", "card", "ACME Office Supplies GmbH", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies", -4599, "2026-03-03")})
	if res.Matches[0].Status != record.Auto {
		t.Error("the same name, amount and close dates are matched")
	}
	res = eng.MatchPool([]*Rec{mk("b1", record.Bank, "", "card", "ACME Stationery", -4599, "2026-03-02"), mk("l1", record.Ledger, "", "", "Acme Office Supplies", -4599, "2026-03-03")})
	if res.Matches[0].Status != record.Proposed {
		t.Error("half the name is proposed, not matched")
	}
	// A fee of more than a tenth of the amount is no fee: 21.60 off 32.40
	// are instalments, not a charge.
	res = eng.MatchPool([]*Rec{mk("b1", record.Bank, "SO-88412", "", "", 1080, "2026-03-03"), mk("l1", record.Ledger, "SO-88412", "", "", 3240, "2026-03-02")})
	if len(res.Matches) != 0 {
		t.Errorf("a 67%% fee matched: %v", matchedIDs(res))
	}
}

func TestBusinessDays(t *testing.T) {
	cfg, err := ParseConfig([]byte("rules:\n- name: bd\n  date: {before: 1, after: 1, business_days: true}\n"), "bd")
	if err != nil {
		t.Fatal(err)
	}
	e := New(cfg)
	fri, mon := mk("l1", record.Ledger, "X1", "", "", 100, "2026-03-06"), mk("b1", record.Bank, "X1", "", "", 100, "2026-03-09")
	if got := matchedIDs(e.MatchPool([]*Rec{fri, mon})); len(got) != 1 {
		t.Errorf("Friday to Monday is one business day: %v", got)
	}
	// Nine calendar days (seven business days) is outside every auto
	// rule's 5-business-day window: the same reference and amount are
	// proposed by reference-far-date, not matched.
	res := New(DefaultConfig()).MatchPool([]*Rec{mk("l1", record.Ledger, "X1", "", "", 100, "2026-03-02"), mk("b1", record.Bank, "X1", "", "", 100, "2026-03-11")})
	if got := matchedIDs(res); len(got) != 1 || got[0] != "reference-far-date:b1+l1" || res.Matches[0].Status != record.Proposed {
		t.Errorf("seven business days with a 5-day window: %v", got)
	}
	// Over Easter: Thursday 2 April to Thursday 9 April 2026 is three
	// business days in TARGET2 (Good Friday and Easter Monday closed), five
	// in Fedwire.
	cfg, err = ParseConfig([]byte("rules:\n- name: bd\n  date: {before: 3, after: 3, business_days: true}\n"), "bd")
	if err != nil {
		t.Fatal(err)
	}
	e = New(cfg)
	for cur, want := range map[string]int{"EUR": 1, "USD": 0} {
		l, b := mk("l1", record.Ledger, "X1", "", "", 100, "2026-04-02"), mk("b1", record.Bank, "X1", "", "", 100, "2026-04-09")
		l.Currency, b.Currency = cur, cur
		if got := matchedIDs(e.MatchPool([]*Rec{l, b})); len(got) != want {
			t.Errorf("%s: Easter week, 3-business-day window: %v", cur, got)
		}
	}
	// A settings file's holiday widens the window the same way.
	cal, err := calendar.Parse([]byte("calendars:\n  USD:\n    holidays: [2026-04-03, 2026-04-06]\n"), "cal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Calendars = cal
	e = New(cfg)
	l, b := mk("l1", record.Ledger, "X1", "", "", 100, "2026-04-02"), mk("b1", record.Bank, "X1", "", "", 100, "2026-04-09")
	l.Currency, b.Currency = "USD", "USD"
	if got := matchedIDs(e.MatchPool([]*Rec{l, b})); len(got) != 1 {
		t.Errorf("USD with the settings file's holidays: %v", got)
	}
	// The close date counts the business days too: 3 business days after
	// Thursday 2 April (TARGET2) is Thursday 9 April (this file has no
	// grace days).
	if got := New(cfg).CloseDate(mk("l1", record.Ledger, "X1", "", "", 100, "2026-04-02")); got.String() != "2026-04-09" {
		t.Errorf("close date %s, want 2026-04-09", got)
	}
}

func TestDuplicatesAmbiguityMismatch(t *testing.T) {
	// The same posting twice: one matches, the copy is a duplicate.
	b := mk("b1", record.Bank, "INV-7", "", "", 100, "2026-03-02")
	l1, l2 := mk("l1", record.Ledger, "INV-7", "rent", "X", 100, "2026-03-02"), mk("l2", record.Ledger, "INV-7", "rent", "X", 100, "2026-03-02")
	res := eng.MatchPool([]*Rec{b, l2, l1})
	if got := matchedIDs(res); len(got) != 1 || got[0] != "exact:b1+l1" || res.Duplicates[l2] != l1 {
		t.Fatalf("duplicate: %v %v", got, res.Duplicates)
	}
	if reason, cs := eng.Explain(l2, nil, res); reason != record.Duplicate || cs[0].ID != "l1" {
		t.Errorf("explain duplicate: %s %v", reason, cs)
	}
	// Two different postings, equally good: nothing matched, ambiguous.
	l3 := mk("l3", record.Ledger, "INV-7", "rent March", "Y", 100, "2026-03-02")
	res = eng.MatchPool([]*Rec{b, l1, l3})
	if got := matchedIDs(res); len(got) != 0 {
		t.Fatalf("ambiguous pair matched: %v", got)
	}
	if reason, cs := eng.Explain(b, []*Rec{l1, l3}, res); reason != record.Ambiguous || len(cs) != 2 {
		t.Errorf("explain ambiguous: %s %v", reason, cs)
	}
	// The same reference, a different amount: amount mismatch.
	l4 := mk("l4", record.Ledger, "INV-9", "", "", 15000, "2026-03-02")
	b9 := mk("b9", record.Bank, "INV-9", "", "", 10000, "2026-03-02")
	res = eng.MatchPool([]*Rec{b9, l4})
	if reason, cs := eng.Explain(b9, []*Rec{l4}, res); reason != record.AmountMismatch || len(cs) != 1 || !strings.Contains(cs[0].Note, "-50.00") {
		t.Errorf("explain mismatch: %s %v", reason, cs)
	}
}

func TestArrivalMatch(t *testing.T) {
	b := mk("b1", record.Bank, "INV-7", "", "", 100, "2026-03-02")
	l1 := mk("l1", record.Ledger, "INV-7", "", "", 100, "2026-03-02")
	if d := eng.Match(b, []*Rec{l1}); d.Match == nil || d.Match.Ledger[0] != l1 {
		t.Errorf("arrival: %+v", d)
	}
	l2 := mk("l2", record.Ledger, "INV-7", "other", "", 100, "2026-03-02")
	if d := eng.Match(b, []*Rec{l1, l2}); d.Match != nil || len(d.Ambiguous) != 2 {
		t.Errorf("arrival with a tie: %+v", d)
	}
	// A better-fitting bank record already pending keeps the ledger record.
	b0 := mk("b0", record.Bank, "INV-7", "", "", 100, "2026-03-02")
	bLate := mk("b2", record.Bank, "INV-7", "", "", 100, "2026-03-06")
	if d := eng.Match(bLate, []*Rec{l1, b0}); d.Match != nil {
		t.Errorf("arrival took a counterpart that fits another pending record better: %+v", d.Match)
	}
}

func TestValidation(t *testing.T) {
	_, err := ParseConfig([]byte(`rules:
- name: a
  reference: fuzzy
  amount: {absolute: "-1"}
  cardinality: "2:2"
  action: maybe
- name: a
  date: {before: 99}
extractors:
- name: x
  pattern: "(["
`), "r.yaml")
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{"rules r.yaml", `rules[0] (a): reference "fuzzy"`, "amount.absolute", "cardinality", "action", "rules[1] (a): name used twice", "date.before", "extractors[0] (x): pattern"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := ParseConfig([]byte("rules:\n- name: a\n  tolerance: 1\n"), "r.yaml"); err == nil || !strings.Contains(err.Error(), "tolerance") {
		t.Errorf("unknown key: %v", err)
	}
}

// randomPool builds a noisy pool: pairs, fees, batches, duplicates, traps.
func randomPool(seed uint64) []*Rec {
	rng := rand.New(rand.NewPCG(seed, 1))
	var recs []*Rec
	n := 0
	id := func(p string) string { n++; return fmt.Sprintf("%s%03d", p, n) }
	for i := 0; i < 40; i++ {
		cents := rng.Int64N(50000) + 100
		ref := fmt.Sprintf("INV-2026-%05d", rng.IntN(30))
		d := fmt.Sprintf("2026-03-%02d", 1+rng.IntN(20))
		switch rng.IntN(5) {
		case 0:
			recs = append(recs, mk(id("b"), record.Bank, ref, "", "", cents, d), mk(id("l"), record.Ledger, ref, "", "", cents, d))
		case 1:
			recs = append(recs, mk(id("b"), record.Bank, "", "paid "+ref, "", cents-int64(rng.IntN(500)), d), mk(id("l"), record.Ledger, ref, "", "", cents, d))
		case 2:
			recs = append(recs, mk(id("b"), record.Bank, ref, "", "", cents*2, d), mk(id("l"), record.Ledger, ref, "", "", cents, d), mk(id("l"), record.Ledger, ref, "", "", cents, d))
		case 3:
			recs = append(recs, mk(id("l"), record.Ledger, ref, "dup", "", cents, d), mk(id("l"), record.Ledger, ref, "dup", "", cents, d), mk(id("b"), record.Bank, ref, "", "", cents, d))
		default:
			recs = append(recs, mk(id("b"), record.Bank, "", "", "", cents, d))
		}
	}
	return recs
}

// Property tests: no record in two matches; a group's sums agree within
// the rule's tolerance; the result does not depend on input order.
func TestPoolProperties(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		recs := randomPool(seed)
		res := eng.MatchPool(recs)
		seen := map[string]bool{}
		for _, g := range res.Matches {
			var bs, ls money.Decimal
			for _, r := range g.Bank {
				bs, _ = bs.Add(r.Amount)
			}
			for _, r := range g.Ledger {
				ls, _ = ls.Add(r.Amount)
			}
			for _, r := range append(append([]*Rec(nil), g.Bank...), g.Ledger...) {
				if seen[r.ID] {
					t.Fatalf("seed %d: %s in two matches", seed, r.ID)
				}
				seen[r.ID] = true
			}
			d, _ := bs.Sub(ls)
			ad, _ := d.Abs()
			if ad.Cmp(money.New(2500, 2)) > 0 || !d.Equal(g.Difference) {
				t.Fatalf("seed %d: group %s bank %s ledger %s difference %s", seed, g.Rule, bs, ls, g.Difference)
			}
		}
		for d := range res.Duplicates {
			if seen[d.ID] {
				t.Fatalf("seed %d: duplicate %s is also matched", seed, d.ID)
			}
		}
		want := strings.Join(matchedIDs(res), ",")
		for k := 0; k < 3; k++ {
			shuffled := append([]*Rec(nil), recs...)
			rand.New(rand.NewPCG(seed, uint64(k))).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := strings.Join(matchedIDs(eng.MatchPool(shuffled)), ","); got != want {
				t.Fatalf("seed %d: order changes the result:\n%s\n%s", seed, got, want)
			}
		}
	}
}

// Years and dates are no reference keys: every record of a year or day
// would share them.
func TestDateTokensAreNoKeys(t *testing.T) {
	for _, c := range []struct {
		ref, desc string
		want      string
	}{
		{"inv 2026 0090523", "", "90523 INV202600090523 INV20260090523"},
		{"", "payment of 2026-03-02 INV-7781", "INV7781"},
		{"", "Zahlung vom 02.03.2026 RE 4711", "4711"},
		{"", "booked 02/03/2026 ref 20260399", "20260399"},
		{"ORDER-20261", "", "ORDER20261"},
	} {
		r := &Rec{Item: record.Item{Reference: c.ref, Description: c.desc}}
		eng.Prepare(r)
		if got := strings.Join(r.Keys, " "); got != c.want {
			t.Errorf("%q %q: keys %q, want %q", c.ref, c.desc, got, c.want)
		}
	}
}

func TestNormalizeAndSimilarity(t *testing.T) {
	for in, want := range map[string]string{"inv-2026/00123 ": "INV202600123", "000123": "123", "Ümlaut 1": "ÜMLAUT1", "": ""} {
		if got := NormalizeRef(in); got != want {
			t.Errorf("NormalizeRef(%q) = %q", in, got)
		}
	}
	if s := similarity(nameTokens("ACME Office Supplies GmbH"), nameTokens("Acme Office Supplies")); s != 100 {
		t.Errorf("similarity %d", s)
	}
	if s := similarity(nameTokens("Contoso Ltd"), nameTokens("Acme")); s != 0 {
		t.Errorf("similarity %d", s)
	}
	if s := similarity(nameTokens(""), nameTokens("Acme")); s != -1 {
		t.Errorf("similarity with an empty name %d", s)
	}
}

func TestPoolSupersede(t *testing.T) {
	p := mk("p1", record.Bank, "INV-3", "", "", 500, "2026-03-02")
	p.Provisional, p.BankReference = true, "ASR-1"
	b := mk("b1", record.Bank, "INV-3", "", "", 500, "2026-03-02")
	b.BankReference = "ASR-1"
	l := mk("l1", record.Ledger, "INV-3", "", "", 500, "2026-03-02")
	res := eng.MatchPool([]*Rec{l, p, b})
	if got := matchedIDs(res); strings.Join(got, ",") != "exact:b1+l1,supersedes-provisional:p1" {
		t.Errorf("matched %v", got)
	}
	if d := eng.Match(b, []*Rec{p, l}); d.Superseded == nil || d.Superseded.Bank[0] != p || d.Match == nil || d.Match.Ledger[0] != l {
		t.Errorf("arrival: %+v", d)
	}
}

func BenchmarkPrepare(b *testing.B) {
	e := New(DefaultConfig())
	r := &Rec{Item: record.Item{Reference: "INV-2026-0005492", Description: "transfer INV-2026-0005492 ACME GmbH", BankReference: "BR000005492"}}
	for b.Loop() {
		e.Prepare(r)
	}
}

// The ASCII fast path of NormalizeRef agrees with the general one.
func FuzzNormalizeRef(f *testing.F) {
	for _, s := range []string{"inv-2026/00123 ", "000123", "0", "AB0C", "abc", "ÄÖ-12", "a\x00b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := normalizeASCII(s); ok && got != normalizeRunes(s) {
			t.Fatalf("NormalizeRef(%q): ascii %q, general %q", s, got, normalizeRunes(s))
		}
	})
}

// A prefilter never skips a text its pattern matches.
func FuzzPrefilter(f *testing.F) {
	patterns := []string{`(?i)\bSO[\s\-_/#]*(\d{3,10})\b`, `RF\d\d[A-Z0-9]{1,21}`, `(?i)(?:kundennr|kd\.?-?nr)\.?\s*(\d+)`,
		`(?i)\bk(?:elvin|s)\d`, `(ab|cd)+x?`, `\d+`}
	for _, x := range DefaultConfig().Extractors {
		patterns = append(patterns, x.Pattern)
	}
	for _, s := range []string{"Invoice 2026/0042", "re: 2026-17", "FACTUUR 2026 0001", "so #12345", "KD-Nr 77", "\u212aelvin7", "ſo 123", "abab", "x"} {
		f.Add(s)
	}
	res := make([]*regexp.Regexp, len(patterns))
	reqs := make([][]string, len(patterns))
	for i, p := range patterns {
		res[i], reqs[i] = regexp.MustCompile(p), prefilter(p)
	}
	f.Fuzz(func(t *testing.T, text string) {
		folded := fold(text)
		for i, re := range res {
			if re.MatchString(text) && !mayMatch(text, folded, reqs[i]) {
				t.Fatalf("pattern %s matches %q but its prefilter %q skips it", patterns[i], text, reqs[i])
			}
		}
	})
}

func TestPrefilterLiterals(t *testing.T) {
	for _, c := range []struct {
		pattern string
		want    []string
	}{
		{`(?i)\bSO[\s\-_/#]*(\d{3,10})\b`, []string{boundary + "SO"}},
		{`(?i)\b(?:INV|INVOICE|RE|RECHNUNG|FACTUUR|FV)[\s\-_/#.:]*(\d{4})`, []string{boundary + "INV", boundary + "INVOICE", boundary + "RE", boundary + "RECHNUNG", boundary + "FACTUUR", boundary + "FV"}},
		{`(?i)x\bINV\d`, []string{"XINV"}}, // a boundary inside a literal is dropped
		{`(?i)\b#INV\d`, []string{"#INV"}}, // before a non-word character it means something else
		{`\d+`, nil},
		{`(?i)a?b*`, nil},
	} {
		got := prefilter(c.pattern)
		sort.Strings(got)
		sort.Strings(c.want)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("prefilter(%s) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

// TestPrefilterWordStart: a literal that must start a word lets a text
// through only where it does (in ASCII texts; any other text is searched).
func TestPrefilterWordStart(t *testing.T) {
	req := prefilter(`(?i)\b(?:INV|RE)[\s\-_/#.:]*(\d{4})`)
	for text, want := range map[string]bool{
		"direct 2026":   false, // "re" inside a word
		"posting 123":   false,
		"Re: 2026-17":   true,
		"x/inv 2026":    true,
		"direct ſ 2026": true,  // not ASCII: searched
		"_re 2026":      false, // "_" is a word character
	} {
		if got := mayMatch(text, fold(text), req); got != want {
			t.Errorf("mayMatch(%q) = %v, want %v", text, got, want)
		}
	}
}

// Amounts at the edge of int64 units: a difference or sum that does not fit
// decides nothing (no match, no panic), the rest still matches.
func TestAmountsBeyondInt64(t *testing.T) {
	const max = int64(^uint64(0) >> 1)
	big := mk("b-big", record.Bank, "INV-9", "", "", max, "2026-03-02")
	neg := mk("l-neg", record.Ledger, "INV-9", "", "", -max-1, "2026-03-02") // opposite sign: never a pair anyway
	lo := mk("l-lo", record.Ledger, "INV-9", "", "", -5, "2026-03-02")
	b2 := mk("b-min", record.Bank, "INV-8", "", "", -max-1, "2026-03-02")
	l2 := mk("l-8", record.Ledger, "INV-8", "", "", 100, "2026-03-02")
	if d := eng.Match(b2, []*Rec{l2, neg}); d.Match != nil {
		t.Errorf("a pair whose difference overflows matched: %+v", d.Match)
	}
	ok1 := mk("b-ok", record.Bank, "INV-1", "", "", 100, "2026-03-02")
	ok2 := mk("l-ok", record.Ledger, "INV-1", "", "", 100, "2026-03-02")
	res := eng.MatchPool([]*Rec{big, neg, lo, b2, l2, ok1, ok2})
	if got := matchedIDs(res); !reflect.DeepEqual(got, []string{"exact:b-ok+l-ok"}) {
		t.Errorf("matches %v, want only the representable pair", got)
	}
}

// WithFiles: the rules file replaces the rules and keeps the calendars;
// the calendar file sets them; neither keeps the base.
func TestWithFiles(t *testing.T) {
	dir := t.TempDir()
	rules, cal := dir+"/rules.yaml", dir+"/cal.yaml"
	if err := os.WriteFile(rules, []byte("rules:\n- name: only\n  date: {before: 1, after: 1, business_days: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cal, []byte("calendars:\n  EUR:\n    holidays: [2026-03-03]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := DefaultConfig()
	if c, err := WithFiles(base, "", "", ""); err != nil || len(c.Rules) != len(base.Rules) || c.Calendars != nil {
		t.Errorf("no files: %d rules, calendars %v, %v", len(c.Rules), c.Calendars, err)
	}
	c, err := WithFiles(base, rules, cal, "")
	if err != nil || len(c.Rules) != 1 || c.Rules[0].Name != "only" || c.Calendars == nil || c.Calendars.For("EUR").IsBusinessDay(record.MakeDate(2026, 3, 3)) {
		t.Errorf("both files: %+v, %v", c.Rules, err)
	}
	if _, err := WithFiles(base, dir+"/missing.yaml", "", ""); err == nil {
		t.Error("a missing rules file was accepted")
	}
}

// TestEachToken: the tokenizer of Prepare splits as strings.FieldsFunc
// with the same classes does, on texts drawn from separators, ASCII and
// other letters and digits, and invalid UTF-8.
func TestEachToken(t *testing.T) {
	parts := []string{"INV", "-", "/", "_", " ", ".", "2026", "ſ", "é", "٣", "\xff", "\t", "#", "a", "Z"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		s := b.String()
		var got []string
		eachToken(s, func(tok string) { got = append(got, tok) })
		want := strings.FieldsFunc(s, func(c rune) bool {
			return !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '-' || c == '/' || c == '_')
		})
		if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("eachToken(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestTemplateKeys: keys built from a parsed template are what replacing
// $N in the template text (from the highest group down, as earlier
// versions did) gives, for the built-in extractors and odd templates.
func TestTemplateKeys(t *testing.T) {
	replaced := func(x *Extractor, text string) []string {
		var keys []string
		for _, m := range x.re.FindAllStringSubmatch(text, -1) {
			key := x.Template
			for g := len(m) - 1; g >= 1; g-- {
				v := strings.TrimLeft(m[g], "0")
				if w, ok := x.Pad[g]; ok {
					for len(v) < w {
						v = "0" + v
					}
				} else if v == "" {
					v = "0"
				}
				key = strings.ReplaceAll(key, "$"+strconv.Itoa(g), v)
			}
			keys = append(keys, NormalizeRef(key))
		}
		return keys
	}
	xs := DefaultConfig().Extractors
	for _, tmpl := range []string{"X$12", "$", "a$0b$", "$3$2$1", "$1$1", "P$10"} {
		xs = append(xs, Extractor{Name: "odd", Pattern: `(\d)(\d)?-(\d*)`, Template: tmpl, Pad: map[int]int{3: 4}})
	}
	xs = append(xs, Extractor{Name: "twelve", Pattern: strings.Repeat(`(\d)`, 12), Template: "K$12-$1$11", Pad: map[int]int{}})
	c := DefaultConfig()
	c.Extractors = xs
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	texts := []string{"Invoice 2026/0042 and INV-2026-0000035", "re: 2026-17", "FACTUUR 2026 0001", "so #12345 po 000777",
		"CHQ 004512, Cheque 4512, Chq. No. 4512, CHECK #4512", "7-0012 5-", "12-", "123456789012345678901234", "nothing here", ""}
	n := 0
	for i := range c.Extractors {
		x := &c.Extractors[i]
		for _, text := range texts {
			got := x.apply(text, fold(text), nil)
			if want := replaced(x, text); !slices.Equal(got, want) {
				t.Errorf("%s %q on %q: %q, want %q", x.Name, x.Template, text, got, want)
			}
			n += len(got)
		}
	}
	if n < 30 {
		t.Errorf("only %d keys extracted: the texts do not exercise the templates", n)
	}
}
