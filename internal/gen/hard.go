package gen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/record"
)

// The third pass's situations: what real banks send that simple rules
// miss. Each adds bank entries, ledger items and their links.

var providers = []struct{ name, bankText string }{
	{"Stripe", "STRIPE PAYMENTS EUROPE LTD STRIPE PAYOUT"},
	{"Adyen", "ADYEN N.V. SETTLEMENT"},
	{"PayPal", "PAYPAL EUROPE S.A R.L. TRANSFER"},
}

// fxPairs: for an account currency, the currencies its customers are
// invoiced in, and the rate (account currency per unit, 5 decimals) the
// day starts from.
var fxPairs = map[string][]struct {
	from string
	base int64
}{
	"EUR": {{"USD", 92000}, {"GBP", 117000}, {"CHF", 104000}},
	"USD": {{"EUR", 108700}, {"GBP", 127000}, {"CAD", 74000}},
	"GBP": {{"EUR", 85500}, {"USD", 79000}},
	"CHF": {{"EUR", 96000}, {"USD", 88000}},
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randID(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return string(b)
}

// convert is cents of one currency at rate (5 decimals), rounded half
// away from zero: what a bank credits.
func convert(cents, rate int64) int64 {
	x := cents * rate
	q := x / 100000
	if r := x % 100000; r*2 >= 100000 {
		q++
	} else if r*2 <= -100000 {
		q--
	}
	return q
}

func hard(n Noise, rng *rand.Rand, start record.Date, acct func() (string, string), nextLedger, invoice func() string,
	bookDay func(c string, ledger record.Date, k int) record.Date, banks *[]BankTx, ledgers *[]LedgerTx, links *[]link) error {
	payouts, fx, cheques, multi := n.Payouts, n.FX, n.Cheques, n.MultiInvoice
	if n.HardShare > 0 {
		if n.HardShare >= 1000 {
			return fmt.Errorf("hard share %d per mille: want less than 1000", n.HardShare)
		}
		r0 := len(*banks) + len(*ledgers)
		each := r0 * n.HardShare / (1000 - n.HardShare) / 4 // records per situation
		payouts, fx, cheques, multi = max(1, each/23), max(1, each/2), max(1, each/2), max(1, each*2/9)
	}
	addBank := func(b BankTx) int {
		*banks = append(*banks, b)
		return len(*banks) - 1
	}
	addLedger := func(l LedgerTx) string {
		*ledgers = append(*ledgers, l)
		return l.ID
	}
	// Payouts: charges and refunds by payout id, the processor's fee booked
	// as a line or deducted unbooked.
	for i := 0; i < payouts; i++ {
		a, c := acct()
		d := start + record.Date(5+rng.IntN(max(1, n.Days-5)))
		p := providers[rng.IntN(len(providers))]
		var id string
		switch p.name {
		case "Stripe":
			id = "po_1" + randID(rng, 13)
		case "Adyen":
			id = fmt.Sprintf("ADYEN-BATCH-%06d", 100000+rng.IntN(800000))
		default:
			id = fmt.Sprintf("PPX%s%03d", strings.ToUpper(randID(rng, 8)), rng.IntN(1000)) // PayPal batch ids carry digits
		}
		var ids []string
		var total int64
		for k := 3 + rng.IntN(38); k > 0; k-- {
			v := rng.Int64N(30000) + 500
			desc := "charge ch_" + randID(rng, 10)
			if rng.IntN(8) == 0 {
				v, desc = -v/2-100, "refund re_"+randID(rng, 10)
			}
			total += v
			ids = append(ids, addLedger(LedgerTx{ID: nextLedger(), Account: a, Currency: c, Date: d - record.Date(rng.IntN(5)), Cents: v, Ref: id, CP: p.name, Desc: desc + " " + id}))
		}
		fee := max(1, total*int64(100+rng.IntN(390))/10000) // 1.00 to 4.89 %
		if total-fee <= 0 {
			continue // the ledger items stay: with no bank credit they are breaks
		}
		if rng.IntN(2) == 0 {
			ids = append(ids, addLedger(LedgerTx{ID: nextLedger(), Account: a, Currency: c, Date: d, Cents: -fee, Ref: id, CP: p.name, Desc: "processing fees " + id}))
		}
		b := addBank(BankTx{Account: a, Currency: c, Date: bookDay(c, d, 1), Cents: total - fee, CP: p.name, Text: p.bankText + " " + id})
		*links = append(*links, link{[]int{b}, ids})
	}
	// Foreign-currency receipts: invoiced in another currency, booked in
	// the ledger at its date's rate, credited at the bank's.
	var rates map[string]map[record.Date]int64
	if fx > 0 || n.FXRates != nil {
		rates = fxRates(rng, start-10, start+record.Date(n.Days)+30)
	}
	for i := 0; i < fx; i++ {
		a, c := acct()
		opts := fxPairs[c]
		if len(opts) == 0 {
			continue
		}
		from := opts[rng.IntN(len(opts))].from
		d := start + record.Date(rng.IntN(n.Days))
		orig := rng.Int64N(500000) + 10000
		bd := bookDay(c, d, 1+rng.IntN(3))
		ref := invoice()
		cp := companies[rng.IntN(len(companies))]
		id := addLedger(LedgerTx{ID: nextLedger(), Account: a, Currency: c, Date: d, Cents: convert(orig, rates[from+"/"+c][d]), Ref: ref, CP: cp,
			Desc: fmt.Sprintf("invoice %s (%s %s)", ref, from, cents(orig, '.')), OrigCurrency: from, OrigCents: orig})
		b := addBank(BankTx{Account: a, Currency: c, Date: bd, Cents: convert(orig, rates[from+"/"+c][bd]), Ref: ref, CP: cp, Text: "Payment " + ref})
		*links = append(*links, link{[]int{b}, []string{id}})
	}
	// Cheques paid: the ledger writes the number its way, the bank clears
	// it days later with the serial.
	for i := 0; i < cheques; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		serial := 1000 + rng.IntN(899000)
		cp := companies[rng.IntN(len(companies))]
		v := -(rng.Int64N(500000) + 2000)
		var ref string
		switch rng.IntN(4) {
		case 0:
			ref = fmt.Sprintf("CHQ %06d", serial)
		case 1:
			ref = fmt.Sprintf("Cheque %d", serial)
		case 2:
			ref = fmt.Sprintf("%06d", serial)
		default:
			ref = fmt.Sprintf("Chq. No. %d", serial)
		}
		id := addLedger(LedgerTx{ID: nextLedger(), Account: a, Currency: c, Date: d, Cents: v, Ref: ref, CP: cp, Desc: "cheque to " + cp})
		b := addBank(BankTx{Account: a, Currency: c, Date: bookDay(c, d, 2+rng.IntN(9)), Cents: v, Ref: fmt.Sprintf("%06d", serial), Text: "CHEQUE PAID", Cheque: true})
		*links = append(*links, link{[]int{b}, []string{id}})
	}
	// One payment for several invoices of one counterparty.
	for i := 0; i < multi; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cp := companies[rng.IntN(len(companies))]
		var refs, ids []string
		var total int64
		for k := 2 + rng.IntN(4); k > 0; k-- {
			ref := invoice()
			v := rng.Int64N(300000) + 1000
			total += v
			refs = append(refs, ref)
			ids = append(ids, addLedger(LedgerTx{ID: nextLedger(), Account: a, Currency: c, Date: d - record.Date(rng.IntN(3)), Cents: v, Ref: ref, CP: cp, Desc: "invoice " + ref}))
		}
		b := addBank(BankTx{Account: a, Currency: c, Date: bookDay(c, d, rng.IntN(3)), Cents: total, CP: bankName(rng, cp),
			Text: "Invoices " + strings.Join(refs, " "), CutText: true})
		*links = append(*links, link{[]int{b}, ids})
	}
	if n.FXRates != nil {
		return writeRates(n.FXRates, rates)
	}
	return nil
}

// fxRates is a random walk of every pair's daily rate over [from, to],
// kept within 0.9 % of its base, so a receipt's two conversions differ by
// less than 2 %.
func fxRates(rng *rand.Rand, from, to record.Date) map[string]map[record.Date]int64 {
	out := map[string]map[record.Date]int64{}
	for _, c := range []string{"CHF", "EUR", "GBP", "USD"} {
		for _, p := range fxPairs[c] {
			m := map[record.Date]int64{}
			r := p.base
			for d := from; d <= to; d++ {
				r += r * int64(rng.IntN(61)-30) / 10000 // up to 0.3 % a day
				r = min(max(r, p.base*991/1000), p.base*1009/1000)
				m[d] = r
			}
			out[p.from+"/"+c] = m
		}
	}
	return out
}

func writeRates(w io.Writer, rates map[string]map[record.Date]int64) error {
	var pairs []string
	for p := range rates {
		pairs = append(pairs, p)
	}
	sort.Strings(pairs)
	if _, err := io.WriteString(w, "date,pair,rate\n"); err != nil {
		return err
	}
	for _, p := range pairs {
		var days []record.Date
		for d := range rates[p] {
			days = append(days, d)
		}
		sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
		for _, d := range days {
			r := rates[p][d]
			if _, err := fmt.Fprintf(w, "%s,%s,%d.%05d\n", d, p, r/100000, r%100000); err != nil {
				return err
			}
		}
	}
	return nil
}
