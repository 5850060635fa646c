package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/record"
)

// Noise sets how a generated reconciliation day departs from the ideal:
// the kinds of noise real bank and ledger data have. Default gives the
// level the project's accuracy targets are measured at. Reformat,
// MissingRef and Fees are per mille: how many of 1,000 generated items have
// the trait.
type Noise struct {
	Pairs        int         // bank/ledger pairs
	Accounts     int         // accounts (each with one currency)
	Days         int         // spread of ledger dates
	Seed         uint64      //
	DateShift    int         // the bank books up to this many days after (or 1 before) the ledger
	Reformat     int         // pairs whose references are written differently on each side
	MissingRef   int         // bank entries without a reference field (the reference is in the text only)
	Fees         int         // incoming payments that arrive with a bank fee deducted (the fee: whole cents, 1.00 to 25.00)
	Batches      int         // 1 bank entry = 2 to 5 ledger items sharing a batch reference
	Instalments  int         // 2 or 3 bank entries = 1 ledger item
	Duplicates   int         // ledger postings entered twice
	Traps        int         // pairs of pairs with the same amount and date and different references
	BankOnly     int         // bank entries without a ledger counterpart
	LedgerOnly   int         // ledger postings without a bank counterpart
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
		Batches: 40, Instalments: 25, Duplicates: 25, Traps: 30, BankOnly: 40, LedgerOnly: 40, BankFormat: "csv"}
}

// BankTx is a generated bank entry.
type BankTx struct {
	Account, Currency string
	Date              record.Date
	Cents             int64
	Ref, Text, CP     string
	BankRef           string
}

// LedgerTx is a generated ledger posting.
type LedgerTx struct {
	ID, Account, Currency string
	Date                  record.Date
	Cents                 int64
	Ref, CP, Desc         string
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
	rng := rand.New(rand.NewPCG(n.Seed, 0xC0FFEE))
	start := record.MakeDate(2026, 3, 2)
	if n.Start != 0 {
		start = n.Start
	}
	curs := []string{"EUR", "USD", "GBP", "CHF"}
	acct := func() (string, string) {
		a := rng.IntN(n.Accounts)
		return fmt.Sprintf("DE%020d", 44000000+a), curs[a%len(curs)]
	}
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
	shift := func() record.Date { return record.Date(rng.IntN(n.DateShift+2) - 1) }
	type link struct {
		bank   []int // indexes into banks
		ledger []string
	}
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
	// Pairs, with fees and traps.
	for i := 0; i < n.Pairs; i++ {
		a, c := acct()
		d := start + record.Date(rng.IntN(n.Days))
		cents := amount()
		cp := companies[rng.IntN(len(companies))]
		bref, lref := refPair(invoice())
		bankCents := cents
		if cents > 2600 && perMille(rng, n.Fees) {
			bankCents = cents - (rng.Int64N(2400) + 100) // 1.00 to 25.00
		}
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: d, Cents: cents, Ref: lref, CP: cp, Desc: "invoice " + lref})
		links = append(links, link{[]int{addBank(mkBank(a, c, d+shift(), bankCents, bref, cp))}, []string{id}})
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
			b := BankTx{Account: a, Currency: c, Date: d, Cents: cents, Ref: ref, CP: cp, Text: "Payment " + ref}
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
		b := BankTx{Account: a, Currency: c, Date: d + 1, Cents: sum, Ref: "", CP: "Card Acquirer", Text: "SETTLEMENT " + batch}
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
			bs = append(bs, addBank(BankTx{Account: a, Currency: c, Date: d + record.Date(1+7*j), Cents: part, Ref: ref, CP: cp,
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
		bankOnly = append(bankOnly, addBank(BankTx{Account: a, Currency: c, Date: start + record.Date(rng.IntN(n.Days)), Cents: amount(),
			Ref: fmt.Sprintf("MISC-%05d", i), CP: companies[rng.IntN(len(companies))], Text: "Account fee or unknown payment"}))
	}
	for i := 0; i < n.LedgerOnly; i++ {
		a, c := acct()
		id := nextLedger()
		ledgers = append(ledgers, LedgerTx{ID: id, Account: a, Currency: c, Date: start + record.Date(rng.IntN(n.Days)), Cents: amount(),
			Ref: fmt.Sprintf("ACCR-%05d", i), CP: companies[rng.IntN(len(companies))], Desc: "accrual not yet paid"})
		t.LedgerBreaks = append(t.LedgerBreaks, id)
	}
	// Bank entries in statement order: by account, currency, date; positions follow.
	order := make([]int, len(banks))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		x, y := banks[order[i]], banks[order[j]]
		if x.Account != y.Account {
			return x.Account < y.Account
		}
		return x.Date < y.Date
	})
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
	if err := writeBankTxs(bank, n.BankFormat, sorted); err != nil {
		return err
	}
	lw := bufio.NewWriter(ledger)
	lw.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description\n")
	for _, l := range ledgers {
		fmt.Fprintf(lw, "%s,%s,%s,%s,%s,%s,%s,%s\n", l.ID, l.Account, l.Currency, l.Date, cents(l.Cents, '.'), l.Ref, csvQuote(l.CP), csvQuote(l.Desc))
	}
	if err := lw.Flush(); err != nil {
		return err
	}
	enc := json.NewEncoder(truth)
	enc.SetIndent("", " ")
	return enc.Encode(t)
}

func csvQuote(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// writeBankTxs writes entries (sorted by account and date) as one file of
// the format; statements are per account and day, with balances that add up.
func writeBankTxs(w io.Writer, format string, txs []BankTx) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	type stmt struct {
		acct, cur string
		date      record.Date
		txs       []BankTx
	}
	var stmts []*stmt
	for _, t := range txs {
		if len(stmts) == 0 || stmts[len(stmts)-1].acct != t.Account || stmts[len(stmts)-1].date != t.Date {
			stmts = append(stmts, &stmt{acct: t.Account, cur: t.Currency, date: t.Date})
		}
		stmts[len(stmts)-1].txs = append(stmts[len(stmts)-1].txs, t)
	}
	switch format {
	case "", "csv":
		bw.WriteString("account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n")
		for _, t := range txs {
			fmt.Fprintf(bw, "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", t.Account, t.Currency, t.Date, t.Date, cents(t.Cents, '.'), t.Ref, t.BankRef, csvQuote(t.CP), csvQuote(t.Text))
		}
	case "mt940":
		bal := int64(1_000_000_00)
		for i, s := range stmts {
			y := s.date.Time().Format("060102")
			dc := func(v int64) string {
				if v < 0 {
					return "D"
				}
				return "C"
			}
			fmt.Fprintf(bw, ":20:STMT%06d\r\n:25:%s\r\n:28C:%d/1\r\n:60F:%s%s%s%s\r\n", i, s.acct, i+1, dc(bal), y, s.cur, cents(abs(bal), ','))
			for _, t := range s.txs {
				ref := t.Ref
				if ref == "" {
					ref = "NONREF"
				}
				if len(ref) > 16 {
					ref = ref[:16]
				}
				fmt.Fprintf(bw, ":61:%s%s%s%sNTRF%s//%s\r\n", y, s.date.Time().Format("0102"), dc(t.Cents), cents(abs(t.Cents), ','), ref, t.BankRef)
				info := "?00UEBERWEISUNG?20"
				if t.Ref != "" {
					info += "EREF+" + t.Ref + "?21"
				}
				fmt.Fprintf(bw, ":86:166%sSVWZ+%s?32%s\r\n", info, t.Text, t.CP)
				bal += t.Cents
			}
			fmt.Fprintf(bw, ":62F:%s%s%s%s\r\n-\r\n", dc(bal), y, s.cur, cents(abs(bal), ','))
		}
	case "camt053":
		bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>GEN</MsgId><CreDtTm>2026-03-31T18:00:00Z</CreDtTm></GrpHdr>` + "\n")
		bal := int64(1_000_000_00)
		dc := func(v int64) string {
			if v < 0 {
				return "DBIT"
			}
			return "CRDT"
		}
		for i, s := range stmts {
			open := bal
			for _, t := range s.txs {
				bal += t.Cents
			}
			fmt.Fprintf(bw, "<Stmt><Id>S%d</Id><Acct><Id><Othr><Id>%s</Id></Othr></Id><Ccy>%s</Ccy></Acct>\n", i, s.acct, s.cur)
			for _, b := range []struct {
				code string
				v    int64
			}{{"OPBD", open}, {"CLBD", bal}} {
				fmt.Fprintf(bw, "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>\n", b.code, s.cur, cents(abs(b.v), '.'), dc(b.v), s.date)
			}
			for _, t := range s.txs {
				e2e := t.Ref
				if e2e == "" {
					e2e = "NOTPROVIDED"
				}
				party := "Dbtr"
				if t.Cents < 0 {
					party = "Cdtr"
				}
				fmt.Fprintf(bw, "<Ntry><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><AcctSvcrRef>%s</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>%s</EndToEndId></Refs><RltdPties><%s><Pty><Nm>%s</Nm></Pty></%s></RltdPties><RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n",
					s.cur, cents(abs(t.Cents), '.'), dc(t.Cents), s.date, t.BankRef, xmlEscape(e2e), party, xmlEscape(t.CP), party, xmlEscape(t.Text))
			}
			bw.WriteString("</Stmt>\n")
		}
		bw.WriteString("</BkToCstmrStmt></Document>\n")
	case "bai2":
		fmt.Fprintf(bw, "01,BANK,CUSTOMER,260401,0600,1,,,2/\n")
		var fileTotal int64
		records, groups := 1, 0
		for _, s := range stmts {
			groups++
			var credits, debits, total int64
			for _, t := range s.txs {
				if t.Cents >= 0 {
					credits += t.Cents
				} else {
					debits -= t.Cents
				}
			}
			open := int64(1_000_000_00)
			closing := open + credits - debits
			fmt.Fprintf(bw, "02,CUSTOMER,BANK,1,%s,2359,%s,2/\n03,%s,%s,010,%d,,,015,%d,,/\n", s.date.Time().Format("060102"), s.cur, s.acct, s.cur, open, closing)
			total = open + closing
			n := 2 // 03, 49
			for _, t := range s.txs {
				code, v := "165", t.Cents
				if v < 0 {
					code, v = "475", -v
				}
				fmt.Fprintf(bw, "16,%s,%d,0,%s,%s,%s/\n88,%s\n", code, v, t.BankRef, t.Ref, strings.ReplaceAll(t.Text, "/", " "), "DBNM: "+t.CP)
				total += v
				n += 2
			}
			fmt.Fprintf(bw, "49,%d,%d/\n98,%d,1,%d/\n", total, n, total, n+2)
			fileTotal += total
			records += n + 2
		}
		records++
		fmt.Fprintf(bw, "99,%d,%d,%d/\n", fileTotal, groups, records)
	default:
		return fmt.Errorf("bank format %q: want csv, mt940, camt053 or bai2", format)
	}
	return bw.Flush()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
