package gen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"

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

// WriteMT940 writes a multi-statement MT940 file with SWIFT blocks and
// German-style ?NN :86: information. It returns the number of entries.
func WriteMT940(w io.Writer, c StatementConfig) (int, error) {
	rng := c.defaults()
	bw := bufio.NewWriterSize(w, 1<<20)
	n := 0
	for s := 0; s < c.Statements; s++ {
		d := (c.StartDate + record.Date(s%28)).Time()
		yymmdd := d.Format("060102")
		bal := rng.Int64N(10_000_000) - 2_000_000
		fmt.Fprintf(bw, "{1:F01BANKDEFFAXXX0000000000}{2:O940BANKDEFFXXXXN}{4:\r\n:20:STMT%08d\r\n:25:DE%020d\r\n:28C:%d/1\r\n", s, 89370400+s%200, s+1)
		dc := func(v int64) string {
			if v < 0 {
				return "D"
			}
			return "C"
		}
		fmt.Fprintf(bw, ":60F:%s%s%s%s\r\n", dc(bal), yymmdd, c.Currency, cents(abs(bal), ','))
		for e := 0; e < c.EntriesPer; e++ {
			v := entryCents(rng)
			bal += v
			n++
			fmt.Fprintf(bw, ":61:%s%s%s%sNTRFINV-%07d//B%09d\r\n", yymmdd, d.Format("0102"), dc(v), cents(abs(v), ','), n, n)
			fmt.Fprintf(bw, ":86:166?00GUTSCHRIFT?20EREF+INV-%07d?21SVWZ+Rechnung %d vom %s?32Customer %d GmbH\r\n", n, n, d.Format("02.01.2006"), rng.IntN(997))
		}
		fmt.Fprintf(bw, ":62F:%s%s%s%s\r\n-}\r\n", dc(bal), yymmdd, c.Currency, cents(abs(bal), ','))
	}
	return n, bw.Flush()
}

// WriteBAI2 writes a BAI2 file: one group per day, accounts with 010/015
// balances, detail records with 88 continuations, correct control totals.
func WriteBAI2(w io.Writer, c StatementConfig) (int, error) {
	rng := c.defaults()
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "01,BANK,CUSTOMER,%s,0600,1,,,2/\n", c.StartDate.Time().Format("060102"))
	n, records, groups := 0, 1, 0
	var fileTotal int64
	const perGroup = 50
	for s := 0; s < c.Statements; s += perGroup {
		groups++
		d := (c.StartDate + record.Date(groups%28)).Time().Format("060102")
		fmt.Fprintf(bw, "02,CUSTOMER,BANK,1,%s,2359,%s,2/\n", d, c.Currency)
		grpRecords, accounts := 1, 0
		var grpTotal int64
		for a := s; a < min(s+perGroup, c.Statements); a++ {
			accounts++
			open := rng.Int64N(100_000_000)
			var credits, debits int64
			type det struct {
				code string
				v    int64
			}
			dets := make([]det, c.EntriesPer)
			for e := range dets {
				v := rng.Int64N(1_000_000) + 1
				if rng.IntN(2) == 0 {
					dets[e] = det{"475", v}
					debits += v
				} else {
					dets[e] = det{"165", v}
					credits += v
				}
			}
			closing := open + credits - debits
			fmt.Fprintf(bw, "03,%d,%s,010,%d,,,015,%d,,/\n88,100,%d,%d,,400,%d,%d,/\n", 1000000+a, c.Currency, open, closing,
				credits, c.EntriesPer, debits, c.EntriesPer)
			total := open + closing + credits + debits
			acctRecords := 2
			for _, dt := range dets {
				n++
				fmt.Fprintf(bw, "16,%s,%d,0,B%09d,INV-%07d,payment %d/\n88,EREF: INV-%07d\n88,DBNM: Customer %d Inc\n", dt.code, dt.v, n, n, n, n, rng.IntN(997))
				total += dt.v
				acctRecords += 3
			}
			acctRecords++
			fmt.Fprintf(bw, "49,%d,%d/\n", total, acctRecords)
			grpTotal += total
			grpRecords += acctRecords
		}
		grpRecords++
		fmt.Fprintf(bw, "98,%d,%d,%d/\n", grpTotal, accounts, grpRecords)
		fileTotal += grpTotal
		records += grpRecords
	}
	records++
	fmt.Fprintf(bw, "99,%d,%d,%d/\n", fileTotal, groups, records)
	return n, bw.Flush()
}

// WriteCAMT053 writes a camt.053.001.08 document with Statements statements,
// each with opening and closing booked balances and EntriesPer entries,
// every fifth a batch of two transaction details.
func WriteCAMT053(w io.Writer, c StatementConfig) (int, error) {
	rng := c.defaults()
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>` +
		`<GrpHdr><MsgId>GEN</MsgId><CreDtTm>2026-03-02T18:00:00Z</CreDtTm></GrpHdr>` + "\n")
	dc := func(v int64) string {
		if v < 0 {
			return "DBIT"
		}
		return "CRDT"
	}
	n := 0
	var entries bytes.Buffer
	for s := 0; s < c.Statements; s++ {
		d := (c.StartDate + record.Date(s%28)).String()
		bal := rng.Int64N(10_000_000) - 2_000_000
		fmt.Fprintf(bw, "<Stmt><Id>S%d</Id><ElctrncSeqNb>%d</ElctrncSeqNb><Acct><Id><IBAN>DE%020d</IBAN></Id><Ccy>%s</Ccy></Acct>\n", s, s+1, 89370400+s%200, c.Currency)
		opening := fmt.Sprintf("<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>\n", c.Currency, cents(abs(bal), '.'), dc(bal), d)
		var body []byte
		entries.Reset()
		for e := 0; e < c.EntriesPer; e++ {
			v := entryCents(rng)
			bal += v
			n++
			details := fmt.Sprintf(`<TxDtls><Refs><EndToEndId>E2E-%07d</EndToEndId></Refs><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><RltdPties><Dbtr><Pty><Nm>Customer %d</Nm></Pty></Dbtr></RltdPties><RmtInf><Ustrd>Invoice INV-%07d</Ustrd></RmtInf></TxDtls>`,
				n, c.Currency, cents(abs(v), '.'), dc(v), rng.IntN(997), n)
			if e%5 == 0 && abs(v) > 1 { // a batch of two details
				h := abs(v) / 2
				details = fmt.Sprintf(`<Btch><NbOfTxs>2</NbOfTxs></Btch><TxDtls><Refs><EndToEndId>E2E-%07d-1</EndToEndId></Refs><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd></TxDtls><TxDtls><Refs><EndToEndId>E2E-%07d-2</EndToEndId></Refs><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd></TxDtls>`,
					n, c.Currency, cents(h, '.'), dc(v), n, c.Currency, cents(abs(v)-h, '.'), dc(v))
			}
			body = fmt.Appendf(body[:0], "<Ntry><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><ValDt><Dt>%s</Dt></ValDt><AcctSvcrRef>A%09d</AcctSvcrRef><NtryDtls>%s</NtryDtls></Ntry>\n",
				c.Currency, cents(abs(v), '.'), dc(v), d, d, n, details)
			entries.Write(body)
		}
		// Schema order: both balances before the entries.
		bw.WriteString(opening)
		fmt.Fprintf(bw, "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>\n", c.Currency, cents(abs(bal), '.'), dc(bal), d)
		bw.Write(entries.Bytes())
		bw.WriteString("</Stmt>\n")
	}
	bw.WriteString("</BkToCstmrStmt></Document>\n")
	return n, bw.Flush()
}

// entryCents is a statement entry's amount in cents: -10,000.00 to
// 10,000.00, never zero.
func entryCents(rng *rand.Rand) int64 {
	if v := rng.Int64N(2_000_000) - 1_000_000; v != 0 {
		return v
	}
	return 1
}
