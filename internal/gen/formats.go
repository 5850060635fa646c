package gen

// The bank file writers, one set for every generator: a noisy day
// (NoisyDay, WriteBank), the demo (Statements, WriteStatements) and the
// parsers' large statement files (WriteMT940, WriteBAI2, WriteCAMT053,
// from StatementConfig) all write through Layout.Write.

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/record"
)

// StatementConfig shapes generated statement files: Statements accounts ×
// days, each with EntriesPer entries, balances that add up.
type StatementConfig struct {
	Statements int
	EntriesPer int
	Seed       uint64
	Currency   string // default EUR
	StartDate  record.Date
}

func (c *StatementConfig) defaults() *rand.Rand {
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.StartDate == 0 {
		c.StartDate = record.MakeDate(2026, 3, 2)
	}
	if c.EntriesPer <= 0 {
		c.EntriesPer = 100
	}
	return rand.New(rand.NewPCG(c.Seed, 77))
}

// cents formats minor units as "1234,56" (MT940) or "1234.56".
func cents(v int64, sep byte) string {
	neg := ""
	if v < 0 {
		neg, v = "-", -v
	}
	return fmt.Sprintf("%s%d%c%02d", neg, v/100, sep, v%100)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// statements draws c's statements: Statements accounts and days (28
// days, 200 accounts), each with EntriesPer entries and balances that add
// up; with batchEvery, every batchEvery-th entry is a batch of two
// transactions. It returns them and the number of entries.
func (c StatementConfig) statements(batchEvery int) ([]*Statement, int) {
	rng := c.defaults()
	var out []*Statement
	n := 0
	for s := 0; s < c.Statements; s++ {
		st := &Statement{Account: fmt.Sprintf("DE%020d", 89370400+s%200), Currency: c.Currency, Date: c.StartDate + record.Date(s%28), Number: s + 1}
		st.Opening = rng.Int64N(10_000_000) - 2_000_000
		st.Closing = st.Opening
		for e := 0; e < c.EntriesPer; e++ {
			v := entryCents(rng)
			n++
			t := BankTx{Account: st.Account, Currency: c.Currency, Date: st.Date, Cents: v, Ref: fmt.Sprintf("INV-%07d", n),
				BankRef: fmt.Sprintf("B%09d", n), CP: fmt.Sprintf("Customer %d GmbH", rng.IntN(997)), Text: fmt.Sprintf("Invoice INV-%07d", n)}
			if batchEvery > 0 && e%batchEvery == 0 && abs(v) > 1 {
				t.Details = []int64{v / 2, v - v/2}
			}
			st.Txs = append(st.Txs, t)
			st.Closing += v
		}
		out = append(out, st)
	}
	return out, n
}

// WriteMT940 writes a multi-statement MT940 file, each statement in a
// SWIFT envelope, with German-style ?NN :86: information. It returns the
// number of entries.
func WriteMT940(w io.Writer, c StatementConfig) (int, error) {
	stmts, n := c.statements(0)
	return n, Layout{SWIFT: true}.Write(w, "mt940", stmts)
}

// WriteBAI2 writes a BAI2 file: one group per day, accounts with 010/015
// balances and their 100/400 summaries, detail records with 88
// continuations, correct control totals.
func WriteBAI2(w io.Writer, c StatementConfig) (int, error) {
	stmts, n := c.statements(0)
	sort.SliceStable(stmts, func(i, j int) bool { return stmts[i].Date < stmts[j].Date })
	return n, Layout{Groups: true}.Write(w, "bai2", stmts)
}

// WriteCAMT053 writes a camt.053.001.08 document with Statements
// statements, each with opening and closing booked balances and
// EntriesPer entries, every fifth a batch of two transaction details.
func WriteCAMT053(w io.Writer, c StatementConfig) (int, error) {
	stmts, n := c.statements(5)
	return n, Layout{}.Write(w, "camt053", stmts)
}

// entryCents is a statement entry's amount in cents: -10,000.00 to
// 10,000.00, never zero.
func entryCents(rng *rand.Rand) int64 {
	if v := rng.Int64N(2_000_000) - 1_000_000; v != 0 {
		return v
	}
	return 1
}

func csvQuote(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// Statement is one bank statement: an account's entries of one business
// day, numbered by the business days of the year (so numbers run on
// without gaps), opening at the previous statement's closing balance.
type Statement struct {
	Account, Currency string
	Date              record.Date
	Number            int
	Opening, Closing  int64 // cents
	Txs               []BankTx
}

// Statements groups bank entries in statement order into statements: one
// per account and business day of its currency from the first entry's day
// to the last one's, with or without entries, the first opening at
// 1,000,000.00.
func Statements(txs []BankTx) []*Statement {
	var stmts []*Statement
	for _, t := range txs {
		if len(stmts) == 0 || stmts[len(stmts)-1].Account != t.Account || stmts[len(stmts)-1].Date != t.Date {
			stmts = append(stmts, &Statement{Account: t.Account, Currency: t.Currency, Date: t.Date})
		}
		stmts[len(stmts)-1].Txs = append(stmts[len(stmts)-1].Txs, t)
	}
	if len(stmts) == 0 {
		return nil
	}
	first, last := stmts[0].Date, stmts[0].Date
	for _, st := range stmts {
		first, last = min(first, st.Date), max(last, st.Date)
	}
	cals := calendar.Default()
	var all []*Statement
	for i := 0; i < len(stmts); {
		j := i
		have := map[record.Date]*Statement{}
		for ; j < len(stmts) && stmts[j].Account == stmts[i].Account; j++ {
			have[stmts[j].Date] = stmts[j]
		}
		cal := cals.For(stmts[i].Currency)
		bal := int64(1_000_000_00)
		for d := first; d <= last; d++ {
			st := have[d]
			if st == nil && !cal.IsBusinessDay(d) {
				continue
			}
			if st == nil {
				st = &Statement{Account: stmts[i].Account, Currency: stmts[i].Currency, Date: d}
			}
			st.Number = cal.Between(record.MakeDate(d.Time().Year()-1, 12, 31), d)
			st.Opening, st.Closing = bal, bal
			for _, t := range st.Txs {
				st.Closing += t.Cents
			}
			bal = st.Closing
			all = append(all, st)
		}
		i = j
	}
	return all
}

// WriteBank writes bank entries in statement order as a bank file: CSV,
// or statements (Statements) in MT940, camt.053 or BAI2.
func WriteBank(w io.Writer, format string, txs []BankTx) error {
	if format == "" || format == "csv" {
		bw := bufio.NewWriterSize(w, 1<<20)
		bw.WriteString("account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n")
		for _, t := range txs {
			fmt.Fprintf(bw, "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", t.Account, t.Currency, t.Date, t.Date, cents(t.Cents, '.'), t.Ref, t.BankRef, csvQuote(t.structuredName()), csvQuote(t.Text))
		}
		return bw.Flush()
	}
	return WriteStatements(w, format, Statements(txs))
}

// WriteStatements writes statements as one MT940, camt.053 or BAI2 file.
func WriteStatements(w io.Writer, format string, stmts []*Statement) error {
	return Layout{}.Write(w, format, stmts)
}

// Layout is how a statement file is laid out beyond what every file of
// its format has: the ways of banks that the parsers must read too.
type Layout struct {
	// SWIFT: MT940 statements each in a SWIFT FIN envelope
	// ({1:…}{2:…}{4:…-}).
	SWIFT bool
	// Groups: BAI2 statements of one day and currency in one group
	// (02…98), each account with its credit and debit summary (88 after
	// the 03 record: type codes 100 and 400).
	Groups bool
}

// Write writes statements as one file of format.
func (l Layout) Write(w io.Writer, format string, stmts []*Statement) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	switch format {
	case "mt940":
		for i, s := range stmts {
			bal := s.Opening
			y := s.Date.Time().Format("060102")
			dc := func(v int64) string {
				if v < 0 {
					return "D"
				}
				return "C"
			}
			if l.SWIFT {
				bw.WriteString("{1:F01BANKDEFFAXXX0000000000}{2:O940BANKDEFFXXXXN}{4:\r\n")
			}
			fmt.Fprintf(bw, ":20:STMT%06d\r\n:25:%s\r\n:28C:%05d/1\r\n:60F:%s%s%s%s\r\n", i, s.Account, s.Number, dc(bal), y, s.Currency, cents(abs(bal), ','))
			for _, t := range s.Txs {
				ref := t.Ref
				if ref == "" {
					ref = "NONREF"
				}
				if len(ref) > 16 {
					ref = ref[:16]
				}
				kind := "NTRF"
				if t.Cheque {
					kind = "NCHK"
				}
				fmt.Fprintf(bw, ":61:%s%s%s%s%s%s//%s\r\n", y, s.Date.Time().Format("0102"), dc(t.Cents), cents(abs(t.Cents), ','), kind, ref, t.BankRef)
				if t.NameInText && t.Cents%2 == 0 {
					// Unstructured :86:, lines of up to 65 characters.
					text := t.Text
					if t.Ref != "" {
						text += " EREF " + t.Ref
					}
					bw.WriteString(":86:")
					for len(text) > 65 {
						bw.WriteString(text[:65] + "\r\n")
						text = text[65:]
					}
					bw.WriteString(text + "\r\n")
				} else {
					info := "?00UEBERWEISUNG?20"
					if t.Ref != "" {
						info += "EREF+" + t.Ref + "?21"
					}
					fmt.Fprintf(bw, ":86:166%sSVWZ+%s", info, t.cut())
					if name := t.structuredName(); name != "" {
						fmt.Fprintf(bw, "?32%s", name)
					}
					bw.WriteString("\r\n")
				}
			}
			end := "-"
			if l.SWIFT {
				end = "-}"
			}
			fmt.Fprintf(bw, ":62F:%s%s%s%s\r\n%s\r\n", dc(s.Closing), y, s.Currency, cents(abs(s.Closing), ','), end)
		}
	case "camt053":
		bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>GEN</MsgId><CreDtTm>2026-03-31T18:00:00Z</CreDtTm></GrpHdr>` + "\n")
		dc := func(v int64) string {
			if v < 0 {
				return "DBIT"
			}
			return "CRDT"
		}
		for i, s := range stmts {
			fmt.Fprintf(bw, "<Stmt><Id>S%d</Id><ElctrncSeqNb>%d</ElctrncSeqNb><Acct><Id><Othr><Id>%s</Id></Othr></Id><Ccy>%s</Ccy></Acct>\n", i, s.Number, s.Account, s.Currency)
			for _, b := range []struct {
				code string
				v    int64
			}{{"OPBD", s.Opening}, {"CLBD", s.Closing}} {
				fmt.Fprintf(bw, "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>\n", b.code, s.Currency, cents(abs(b.v), '.'), dc(b.v), s.Date)
			}
			for _, t := range s.Txs {
				e2e := t.Ref
				if e2e == "" {
					e2e = "NOTPROVIDED"
				}
				party := "Dbtr"
				if t.Cents < 0 {
					party = "Cdtr"
				}
				parties := ""
				if name := t.structuredName(); name != "" {
					parties = fmt.Sprintf("<RltdPties><%s><Pty><Nm>%s</Nm></Pty></%s></RltdPties>", party, xmlEscape(name), party)
				}
				chq := ""
				if t.Cheque {
					chq, e2e = "<ChqNb>"+t.Ref+"</ChqNb>", "NOTPROVIDED"
				}
				details := fmt.Sprintf("<TxDtls><Refs><EndToEndId>%s</EndToEndId>%s</Refs>%s<RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls>",
					xmlEscape(e2e), chq, parties, xmlEscape(t.Text))
				if len(t.Details) > 0 { // a batch: one entry, a detail per transaction
					details = fmt.Sprintf("<Btch><NbOfTxs>%d</NbOfTxs></Btch>", len(t.Details))
					for i, v := range t.Details {
						details += fmt.Sprintf("<TxDtls><Refs><EndToEndId>%s-%d</EndToEndId></Refs><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd></TxDtls>",
							xmlEscape(e2e), i+1, s.Currency, cents(abs(v), '.'), dc(v))
					}
				}
				fmt.Fprintf(bw, "<Ntry><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><AcctSvcrRef>%s</AcctSvcrRef><NtryDtls>%s</NtryDtls></Ntry>\n",
					s.Currency, cents(abs(t.Cents), '.'), dc(t.Cents), s.Date, t.BankRef, details)
			}
			bw.WriteString("</Stmt>\n")
		}
		bw.WriteString("</BkToCstmrStmt></Document>\n")
	case "bai2":
		fmt.Fprintf(bw, "01,BANK,CUSTOMER,260401,0600,1,,,2/\n")
		var fileTotal int64
		records, groups := 1, 0
		for g := 0; g < len(stmts); {
			// A group: one statement, or (Groups) those of one day and
			// currency.
			end := g + 1
			for l.Groups && end < len(stmts) && stmts[end].Date == stmts[g].Date && stmts[end].Currency == stmts[g].Currency {
				end++
			}
			groups++
			fmt.Fprintf(bw, "02,CUSTOMER,BANK,1,%s,2359,%s,2/\n", stmts[g].Date.Time().Format("060102"), stmts[g].Currency)
			var grpTotal int64
			grpRecords := 2 // 02, 98
			for _, s := range stmts[g:end] {
				fmt.Fprintf(bw, "03,%s,%s,010,%d,,,015,%d,,/\n", s.Account, s.Currency, s.Opening, s.Closing)
				total := s.Opening + s.Closing
				n := 2 // 03, 49
				if l.Groups {
					var credits, debits int64
					var nc, nd int
					for _, t := range s.Txs {
						if t.Cents >= 0 {
							credits, nc = credits+t.Cents, nc+1
						} else {
							debits, nd = debits-t.Cents, nd+1
						}
					}
					fmt.Fprintf(bw, "88,100,%d,%d,,400,%d,%d,/\n", credits, nc, debits, nd)
					total += credits + debits
					n++
				}
				for _, t := range s.Txs {
					code, v := "165", t.Cents
					if v < 0 {
						code, v = "495", -v
					}
					bankRef, custRef := t.BankRef, t.Ref
					if t.Cheque {
						code, bankRef, custRef = "475", t.Ref, "" // Check Paid: the serial in the bank reference field
					}
					fmt.Fprintf(bw, "16,%s,%d,0,%s,%s,%s/\n", code, v, bankRef, custRef, strings.ReplaceAll(t.cut(), "/", " "))
					n++
					if name := t.structuredName(); name != "" {
						fmt.Fprintf(bw, "88,DBNM: %s\n", name)
						n++
					}
					total += v
				}
				fmt.Fprintf(bw, "49,%d,%d/\n", total, n)
				grpTotal += total
				grpRecords += n
			}
			fmt.Fprintf(bw, "98,%d,%d,%d/\n", grpTotal, end-g, grpRecords)
			fileTotal += grpTotal
			records += grpRecords
			g = end
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
