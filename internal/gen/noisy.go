package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/record"
)

// Noise sets how a generated reconciliation day departs from the ideal:
// the kinds of noise real bank and ledger data have. Default gives the
// level the project's accuracy targets are measured at. Reformat,
// MissingRef and Fees are per mille: how many of 1,000 generated items have
// the trait.
type Noise struct {
	Pairs        int    // bank/ledger pairs
	Accounts     int    // accounts (each with one currency)
	Days         int    // spread of ledger dates
	Seed         uint64 //
	DateShift    int    // the bank books up to this many business days after (or 1 before) the ledger, on a business day of the currency
	Reformat     int    // pairs whose references are written differently on each side
	MissingRef   int    // bank entries without a reference field (the reference is in the text only)
	Fees         int    // incoming payments that arrive with a bank fee deducted (the fee: 1.00 to 25.00 and at most a tenth of the payment)
	Batches      int    // 1 bank entry = 2 to 5 ledger items sharing a batch reference
	Instalments  int    // 2 or 3 bank entries = 1 ledger item
	Duplicates   int    // ledger postings entered twice
	Traps        int    // pairs of pairs with the same amount and date and different references
	BankOnly     int    // bank entries without a ledger counterpart
	LedgerOnly   int    // ledger postings without a bank counterpart
	NoRef        int    // pairs with no reference at all: amount, a date up to 3 business days later and the counterparty's name (written the bank's way) link them
	NameInText   int    // bank entries (per mille) whose counterparty name is only in the free text (:86:, the 16 record's text, unstructured remittance)
	UniqueAmount int    // pairs with nothing in common but the exact amount (with cents) and close dates
	ManyToMany   int    // 2 or 3 bank entries = 2 to 4 ledger items sharing a batch id
	FarDates     int    // pairs with the same reference and amount booked 15 to 40 days apart (a person confirms)
	// The third pass's situations (counts per day, like Batches):
	Payouts      int // PSP/card acquirer payouts: 1 bank credit = 3 to 40 ledger charges and refunds with the payout id, the fee booked as a line or deducted unbooked (1 to 4.9 %)
	FX           int // receipts invoiced in another currency, converted by the bank at its day's rate (the ledger has original_currency and original_amount)
	Cheques      int // cheques paid, cleared 2 to 10 business days after the ledger date, the number written the ways banks and ledgers write it
	MultiInvoice int // one payment for 2 to 5 invoices of one counterparty, listed in its text (cut short by MT940 and BAI2 banks)
	// HardShare, per mille: when set, the four situations above are
	// scaled so that their records are this share of all records
	// (500: half the records), in equal parts.
	HardShare int
	// FXRates, when set, receives the day's exchange rates (recon
	// reconcile --fx-rates) as date,pair,rate lines.
	FXRates      io.Writer
	BankFormat   string      // csv, mt940, camt053, bai2
	BankFileName string      // the name the bank file is reconciled under (for the truth)
	Start        record.Date // the first ledger date (0: 2026-03-02)
}

// perMille draws true for k of 1,000 on average. It takes one Uint64 from
// rng, as rand.Float64 does (its top 53 bits against k/1000 of 2^53), so a
// seed gives the same day as it did when shares were fractions.
func perMille(rng *rand.Rand, k int) bool {
	const one = 1 << 53
	return rng.Uint64()<<11>>11 < (uint64(k)*one+999)/1000 // u/2^53 < k/1000, exactly
}

// DefaultNoise is the noise level of `recon gen --noisy` and the accuracy
// targets in the README.
func DefaultNoise() Noise {
	return Noise{Pairs: 2000, Accounts: 12, Days: 20, Seed: 1, DateShift: 3, Reformat: 250, MissingRef: 150, Fees: 80,
		Batches: 40, Instalments: 25, Duplicates: 25, Traps: 30, BankOnly: 40, LedgerOnly: 40,
		NoRef: 60, NameInText: 300, UniqueAmount: 15, ManyToMany: 10, FarDates: 10,
		Payouts: 6, FX: 30, Cheques: 30, MultiInvoice: 20, BankFormat: "csv"}
}

// link is a group of bank entries (indexes into the day's entries) and
// ledger ids that belong together.
type link struct {
	bank   []int
	ledger []string
}

// BankTx is a generated bank entry.
type BankTx struct {
	Account, Currency string
	Date              record.Date
	Cents             int64
	Ref, Text, CP     string
	BankRef           string
	// NameInText: the counterparty's name is only in the free text (Text
	// starts with it); no structured name field is written.
	NameInText bool
	// Cheque: a paid cheque; its serial is in Ref (CSV, MT940), in the
	// bank reference field (BAI2) or in ChqNb (camt).
	Cheque bool
	// CutText: MT940 and BAI2 cut the text to their field length.
	CutText bool
	// Details: a batch booked as one entry whose transactions are these
	// amounts (camt.053 writes a detail each).
	Details []int64
}

// LedgerTx is a generated ledger posting.
type LedgerTx struct {
	ID, Account, Currency string
	Date                  record.Date
	Cents                 int64
	Ref, CP, Desc         string
	OrigCurrency          string // invoiced in another currency: that currency and amount
	OrigCents             int64
}

// TruthFile is the expected result of a generated day.
type TruthFile struct {
	BankFile string      `json:"bank_file"`
	Links    [][2]string `json:"links"` // [bank position, ledger id]
	// Records that must end as breaks: bank positions, ledger ids.
	BankBreaks   []string `json:"bank_breaks"`
	LedgerBreaks []string `json:"ledger_breaks"`
}

var companies = []string{"ACME Office Supplies GmbH", "Northwind Traders", "Contoso Ltd", "Fabrikam Properties", "Litware Inc",
	"Adventure Works", "Tailspin Toys", "Wide World Importers", "Proseware Inc", "Lucerne Publishing", "Margie's Travel",
	"Fourth Coffee", "Woodgrove Bank", "Coho Winery", "Alpine Ski House", "Blue Yonder Airlines", "Graphic Design Institute"}

// WriteNoisy writes a bank file in n.BankFormat, a ledger CSV and the truth.
func WriteNoisy(n Noise, bank, ledger io.Writer, truth io.Writer) error {
	day, err := NoisyDay(n)
	if err != nil {
		return err
	}
	if err := WriteBank(bank, n.BankFormat, day.Bank); err != nil {
		return err
	}
	if err := WriteLedger(ledger, day.Ledger); err != nil {
		return err
	}
	enc := json.NewEncoder(truth)
	enc.SetIndent("", " ")
	return enc.Encode(day.Truth)
}

// Day is a generated reconciliation day: the bank entries in statement
// order (account, then date; positions count from 1 in that order), the
// ledger postings in file order (not by date), and what a perfect
// matcher finds.
type Day struct {
	Bank   []BankTx
	Ledger []LedgerTx
	Truth  *TruthFile
}

// statementOrder says whether x comes before y in a bank's statements:
// by account, then date.
func statementOrder(x, y BankTx) bool {
	if x.Account != y.Account {
		return x.Account < y.Account
	}
	return x.Date < y.Date
}

// SortStatementOrder puts bank entries in statement order (stable: the
// entries of a day keep their order).
func SortStatementOrder(txs []BankTx) {
	sort.SliceStable(txs, func(i, j int) bool { return statementOrder(txs[i], txs[j]) })
}

// NoisyAccount is the i-th account of a noisy day and its currency
// (EUR, USD, GBP, CHF in turn).
func NoisyAccount(i int) (account, currency string) {
	curs := [...]string{"EUR", "USD", "GBP", "CHF"}
	return fmt.Sprintf("DE%020d", 44000000+i), curs[i%len(curs)]
}

// NoisyDay generates the day n describes; WriteNoisy writes it.
func NoisyDay(n Noise) (*Day, error) {
	rng := rand.New(rand.NewPCG(n.Seed, 0xC0FFEE))
	start := record.MakeDate(2026, 3, 23) // four weeks over Easter: weekends and holidays in most currencies
	if n.Start != 0 {
		start = n.Start
	}
	acct := func() (string, string) { return NoisyAccount(rng.IntN(n.Accounts)) }
	var banks []BankTx
	var ledgers []LedgerTx
	t := &TruthFile{BankFile: n.BankFileName}
	lid := 0
	nextLedger := func() string { lid++; return fmt.Sprintf("GL-%07d", lid) }
	seq := 0
	invoice := func() string { seq++; return fmt.Sprintf("INV-2026-%05d", seq) }
	// A reference as each side writes it.
	refPair := func(ref string) (string, string) {
		if perMille(rng, n.Reformat) {
			digits := strings.ReplaceAll(strings.TrimPrefix(ref, "INV-"), "-", "")
			switch rng.IntN(3) {
			case 0:
				return "INV" + digits, ref
			case 1:
				return strings.ToLower(strings.ReplaceAll(ref, "-", " ")), ref
			default:
				return ref, "inv/" + strings.ReplaceAll(strings.TrimPrefix(ref, "INV-"), "-", "/")
			}
		}
		return ref, ref
	}
	amount := func() int64 {
		v := rng.Int64N(800_000) + 500
		if rng.IntN(3) > 0 {
			return v // most are receipts
		}
		return -v
	}
	// The bank books on business days of the currency, up to DateShift
	// business days after the ledger date or one before it.
	cals := calendar.Default()
	bookDay := func(c string, ledger record.Date, k int) record.Date {
		cal := cals.For(c)
		if k < 0 {
			return cal.Add(ledger, k)
		}
		return cal.Add(cal.Next(ledger), k)
	}
	shift := func(c string, ledger record.Date) record.Date { return bookDay(c, ledger, rng.IntN(n.DateShift+2)-1) }
	var links []link
	addBank := func(b BankTx) int {
		banks = append(banks, b)
		return len(banks) - 1
	}
	mkBank := func(a, c string, d record.Date, cents int64, ref, cp string) BankTx {
		b := BankTx{Account: a, Currency: c, Date: d, Cents: cents, CP: cp, Ref: ref, Text: "Payment " + ref}
		if perMille(rng, n.MissingRef) {
			b.Ref = ""
			b.Text = fmt.Sprintf("%s / %s", cp, ref)
		}
		return b
	}
	// inText moves the counterparty's name into the free text for
	// NameInText of 1,000 entries.
	inText := func(b BankTx) BankTx {
		if b.CP != "" && perMille(rng, n.NameInText) && !strings.HasPrefix(b.Text, b.CP) {
			b.NameInText, b.Text = true, b.CP+" "+b.Text
		}
		return b
	}
	// Pairs, with fees and traps.
	for i := 0; i < n.Pairs; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cents := amount()
		cp := companies[rng.IntN(len(companies))]
		bref, lref := refPair(invoice())
		bankCents := cents
		if cents > 2600 && perMille(rng, n.Fees) {
			bankCents = cents - (rng.Int64N(min(2400, cents/10-100)) + 100) // 1.00 to 25.00, at most a tenth
		}
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: cents, Ref: lref, CP: cp, Desc: "invoice " + lref})
		links = append(links, link{[]int{addBank(inText(mkBank(a, c, shift(c, d), bankCents, bref, cp)))}, []string{id}})
	}
	// No reference on either side: the ledger has its own journal number,
	// the bank the payer's name the bank's way and a generic text.
	for i := 0; i < n.NoRef; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cents := amount()
		cp := companies[rng.IntN(len(companies))]
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: cents, Ref: fmt.Sprintf("JE-%06d", 300000+i), CP: cp, Desc: "customer receipt"})
		b := BankTx{Account: a, Currency: c, Date: bookDay(c, d, rng.IntN(4)), Cents: cents, CP: bankName(rng, cp), Text: "SEPA CREDIT TRANSFER"}
		if cents < 0 {
			b.Text = "SEPA DIRECT DEBIT"
		}
		links = append(links, link{[]int{addBank(inText(b))}, []string{id}})
	}
	// Only the amount, exact to the cent, and the dates link these: card
	// and cash items with no name and no reference the other side knows.
	for i := 0; i < n.UniqueAmount; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cents := amount()
		if cents%100 == 0 {
			cents += 37
		}
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: cents, Ref: fmt.Sprintf("JE-%06d", 500000+i), Desc: "petty cash"})
		links = append(links, link{[]int{addBank(BankTx{Account: a, Currency: c, Date: bookDay(c, d, rng.IntN(2)), Cents: cents, Text: "CARD TRANSACTION"})}, []string{id}})
	}
	// Booked weeks apart with the same reference and amount.
	for i := 0; i < n.FarDates; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cents := amount()
		cp := companies[rng.IntN(len(companies))]
		ref := invoice()
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: cents, Ref: ref, CP: cp, Desc: "invoice " + ref})
		b := BankTx{Account: a, Currency: c, Date: cals.For(c).Next(d + record.Date(15+rng.IntN(26))), Cents: cents, Ref: ref, CP: cp, Text: "Payment " + ref}
		links = append(links, link{[]int{addBank(b)}, []string{id}})
	}
	// Several bank entries against several ledger items of one batch: the
	// totals agree, the parts do not.
	for i := 0; i < n.ManyToMany; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		batch := fmt.Sprintf("BATCH-%06d", 700000+i)
		var ids []string
		var total int64
		for k := 0; k < 2+rng.IntN(3); k++ {
			v := rng.Int64N(300_000) + 1000
			total += v
			id := nextLedger()
			ids = append(ids, id)
			ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: -v, Ref: batch, CP: "Payroll Services", Desc: "salary run " + batch})
		}
		parts := 2 + rng.IntN(2)
		var bs []int
		left := total
		for k := 0; k < parts; k++ {
			v := left
			if k < parts-1 {
				v = total/int64(parts) + rng.Int64N(1000) - 500
			}
			left -= v
			bs = append(bs, addBank(BankTx{Account: a, Currency: c, Date: bookDay(c, d, 1), Cents: -v, Text: fmt.Sprintf("PAYROLL %s PART %d", batch, k+1)}))
		}
		links = append(links, link{bs, ids})
	}
	for i := 0; i < n.Traps; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cents := amount()
		for k := 0; k < 2; k++ {
			ref := invoice()
			cp := companies[rng.IntN(len(companies))]
			id := nextLedger()
			ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: cents, Ref: ref, CP: cp, Desc: "invoice " + ref})
			b := BankTx{Account: a, Currency: c, Date: cals.For(c).Next(d), Cents: cents, Ref: ref, CP: cp, Text: "Payment " + ref}
			links = append(links, link{[]int{addBank(b)}, []string{id}})
		}
	}
	for i := 0; i < n.Batches; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		batch := fmt.Sprintf("PAYOUT-%06d", 100000+i)
		var sum int64
		var ids []string
		for k := 0; k < 2+rng.IntN(4); k++ {
			v := rng.Int64N(200_000) + 500
			sum += v
			id := nextLedger()
			ids = append(ids, id)
			ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d - record.Date(rng.IntN(2)), Cents: v, Ref: batch, CP: "Card Acquirer", Desc: "card sales " + batch})
		}
		b := BankTx{Account: a, Currency: c, Date: bookDay(c, d, 1), Cents: sum, Ref: "", CP: "Card Acquirer", Text: "SETTLEMENT " + batch}
		links = append(links, link{[]int{addBank(b)}, ids})
	}
	for i := 0; i < n.Instalments; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days/2))
		ref := invoice()
		k := 2 + rng.IntN(2)
		part := rng.Int64N(300_000) + 1000
		cp := companies[rng.IntN(len(companies))]
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: part * int64(k), Ref: ref, CP: cp, Desc: "invoice " + ref})
		var bs []int
		for j := 0; j < k; j++ {
			bs = append(bs, addBank(BankTx{Account: a, Currency: c, Date: cals.For(c).Next(d + record.Date(1+7*j)), Cents: part, Ref: ref, CP: cp,
				Text: fmt.Sprintf("Instalment %d/%d %s", j+1, k, ref)}))
		}
		links = append(links, link{bs, []string{id}})
	}
	// Duplicates: a ledger posting entered twice (its copy must be a break).
	for i := 0; i < n.Duplicates && i < len(links); i++ {
		l := links[rng.IntN(len(links))]
		if len(l.ledger) != 1 || len(l.bank) != 1 {
			continue
		}
		var orig *LedgerTx
		for j := range ledgers {
			if ledgers[j].ID == l.ledger[0] {
				orig = &ledgers[j]
			}
		}
		cp := *orig
		cp.ID = nextLedger()
		ledgers = append(ledgers, cp)
		t.LedgerBreaks = append(t.LedgerBreaks, cp.ID)
	}
	var bankOnly []int
	for i := 0; i < n.BankOnly; i++ {
		a, c := acct()
		bankOnly = append(bankOnly, addBank(BankTx{Account: a, Currency: c, Date: cals.For(c).Next(start + record.Date(rng.IntN(n.Days))), Cents: amount(),
			Ref: fmt.Sprintf("MISC-%05d", i), CP: companies[rng.IntN(len(companies))], Text: "Account fee or unknown payment"}))
	}
	for i := 0; i < n.LedgerOnly; i++ {
		a, c := acct()
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: start + record.Date(rng.IntN(n.Days)), Cents: amount(),
			Ref: fmt.Sprintf("ACCR-%05d", i), CP: companies[rng.IntN(len(companies))], Desc: "accrual not yet paid"})
		t.LedgerBreaks = append(t.LedgerBreaks, id)
	}
	if err := hard(n, rng, start, acct, nextLedger, invoice, bookDay, &banks, &ledgers, &links); err != nil {
		return nil, err
	}
	// Bank entries in statement order: by account, currency, date; positions follow.
	order := make([]int, len(banks))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return statementOrder(banks[order[i]], banks[order[j]]) })
	pos := make([]int, len(banks))
	sorted := make([]BankTx, len(banks))
	for p, i := range order {
		pos[i] = p + 1
		sorted[p] = banks[i]
		sorted[p].BankRef = fmt.Sprintf("BR%09d", p+1)
	}
	for _, l := range links {
		for _, b := range l.bank {
			for _, id := range l.ledger {
				t.Links = append(t.Links, [2]string{fmt.Sprint(pos[b]), id})
			}
		}
	}
	for _, b := range bankOnly {
		t.BankBreaks = append(t.BankBreaks, fmt.Sprint(pos[b]))
	}
	// Ledger postings shuffled: files are not in date order.
	rng.Shuffle(len(ledgers), func(i, j int) { ledgers[i], ledgers[j] = ledgers[j], ledgers[i] })
	return &Day{Bank: sorted, Ledger: ledgers, Truth: t}, nil
}

// WriteLedger writes ledger postings as a ledger CSV (with the original
// currency columns when any posting has one).
func WriteLedger(w io.Writer, ledgers []LedgerTx) error {
	lw := bufio.NewWriter(w)
	fx := false
	for _, l := range ledgers {
		fx = fx || l.OrigCurrency != ""
	}
	if fx {
		lw.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description,original_currency,original_amount\n")
	} else {
		lw.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description\n")
	}
	for _, l := range ledgers {
		fmt.Fprintf(lw, "%s,%s,%s,%s,%s,%s,%s,%s", l.ID, l.Account, l.Currency, l.Date, cents(l.Cents, '.'), l.Ref, csvQuote(l.CP), csvQuote(l.Desc))
		if fx {
			o := ""
			if l.OrigCurrency != "" {
				o = cents(l.OrigCents, '.')
			}
			fmt.Fprintf(lw, ",%s,%s", l.OrigCurrency, o)
		}
		lw.WriteString("\n")
	}
	return lw.Flush()
}

// cut is the text as an MT940 or BAI2 bank writes it: a remittance
// listing several invoices cut to the field's length (30 to 45
// characters, often inside a number).
func (t BankTx) cut() string {
	if !t.CutText {
		return t.Text
	}
	n := 30 + int(abs(t.Cents)%16)
	if len(t.Text) <= n {
		return t.Text
	}
	return t.Text[:n]
}

// structuredName is the name for the format's name field: empty when the
// name is only in the text.
func (t BankTx) structuredName() string {
	if t.NameInText {
		return ""
	}
	return t.CP
}

// bankName is a name as banks write it: as given, in capitals, cut to the
// field's length, or with its legal form spelled another way or dropped.
func bankName(rng *rand.Rand, cp string) string {
	switch rng.IntN(5) {
	case 0:
		return strings.ToUpper(cp)
	case 1:
		if up := strings.ToUpper(cp); len(up) > 14 {
			return up[:14]
		}
		return strings.ToUpper(cp)
	case 2:
		return strings.NewReplacer(" GmbH", " G.m.b.H.", " Ltd", " Limited", " Inc", " Incorporated").Replace(cp)
	case 3:
		return strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(cp, " GmbH"), " Ltd"), " Inc")
	}
	return cp
}

// writeBankTxs writes entries (sorted by account and date) as one file of
// the format; statements are per account and day, with balances that add up.
