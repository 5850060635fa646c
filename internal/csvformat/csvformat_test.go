package csvformat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/record"
)

const ledgerHeader = "id,account,currency,booking_date,amount,reference,counterparty,description\n"

func parse(t testing.TB, side record.Side, in string) (*format.Collector, error) {
	t.Helper()
	var c format.Collector
	err := Parser{}.Parse(context.Background(), strings.NewReader(in),
		format.Source{Name: "in.csv", Digest: "d1", Side: side}, &c)
	return &c, err
}

func TestLedgerGoodRows(t *testing.T) {
	c, err := parse(t, record.Ledger, ledgerHeader+
		"L1,DE89370400440532013000,eur,2026-03-02,-1234.50,INV-1,ACME GmbH,rent\n"+
		"L2,DE89370400440532013000,EUR,2026-03-03,\"1,000.00\",INV-2,\"Smith, J\",\"two\nlines\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rejects) != 0 || len(c.Transactions) != 2 {
		t.Fatalf("rejects=%v transactions=%d", c.Rejects, len(c.Transactions))
	}
	a, b := c.Transactions[0], c.Transactions[1]
	if a.ID != "L1" || a.Currency != "EUR" || a.Amount.String() != "-1234.50" || a.BookingDate.String() != "2026-03-02" ||
		a.Reference != "INV-1" || a.SourcePosition != 1 || a.Side != record.Ledger {
		t.Errorf("row 1 = %+v", a)
	}
	if b.Amount.String() != "1000.00" || b.Counterparty != "Smith, J" || b.Description != "two\nlines" || b.SourcePosition != 2 {
		t.Errorf("row 2 = %+v", b)
	}
}

func TestBankIDsDeterministic(t *testing.T) {
	in := "account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n" +
		"A1,USD,2026-01-05,2026-01-06,10.00,R1,BR1,X,d\nA1,USD,2026-01-05,,10.00,R1,BR1,X,d\n"
	c1, err := parse(t, "", in)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := parse(t, "", in)
	if len(c1.Transactions) != 2 || c1.Transactions[0].Side != record.Bank {
		t.Fatalf("got %+v", c1.Transactions)
	}
	if c1.Transactions[0].ID != c2.Transactions[0].ID || c1.Transactions[0].ID == c1.Transactions[1].ID {
		t.Error("bank ids not deterministic per position")
	}
	if c1.Transactions[0].ValueDate == nil || c1.Transactions[1].ValueDate != nil {
		t.Error("value_date")
	}
}

// TestMalformed: each bad row is rejected with its line and field, and every
// good row still comes through.
func TestMalformed(t *testing.T) {
	good := "G1,ACC,EUR,2026-03-02,5.00,R,C,D\n"
	tests := []struct {
		name      string
		in        string
		fileErr   string // non-empty: the whole file fails with this text
		rejects   []string
		goodCount int
	}{
		{name: "empty file", in: "", fileErr: "empty file"},
		{name: "only blank lines", in: "\n\r\n\n", fileErr: "empty file"},
		{name: "wrong columns", in: "foo,bar\n1,2\n", fileErr: "header lacks required column(s) id, account, currency, booking_date, amount"},
		{name: "duplicate column", in: "id,id,account,currency,booking_date,amount\n", fileErr: `column "id" appears twice`},
		{name: "bad amount", in: ledgerHeader + good + "B1,ACC,EUR,2026-03-02,\"1,234.5x\",R,C,D\n" + good,
			rejects: []string{`in.csv:3: entry 2: amount: "1,234.5x": not a decimal amount`}, goodCount: 2},
		{name: "bad grouping", in: ledgerHeader + "B1,ACC,EUR,2026-03-02,\"12,34.50\",R,C,D\n" + good,
			rejects: []string{"in.csv:2: entry 1: amount:"}, goodCount: 1},
		{name: "too many decimals", in: ledgerHeader + "B1,ACC,EUR,2026-03-02,1.0000001,R,C,D\n" + good,
			rejects: []string{"amount: \"1.0000001\": more than 6 decimal places"}, goodCount: 1},
		{name: "bad date", in: ledgerHeader + "B1,ACC,EUR,2026-02-30,1,R,C,D\n" + "B2,ACC,EUR,03/02/2026,1,R,C,D\n" + good,
			rejects: []string{"in.csv:2: entry 1: booking_date:", "in.csv:3: entry 2: booking_date:"}, goodCount: 1},
		{name: "bad currency", in: ledgerHeader + "B1,ACC,EUX,2026-02-03,1,R,C,D\n" + good,
			rejects: []string{`currency: "EUX" is not an ISO 4217`}, goodCount: 1},
		{name: "missing id and account", in: ledgerHeader + ",ACC,EUR,2026-02-03,1,R,C,D\nB2,,EUR,2026-02-03,1,R,C,D\n" + good,
			rejects: []string{"entry 1: id: empty", "entry 2: account: empty"}, goodCount: 1},
		{name: "wrong field count", in: ledgerHeader + "B1,ACC,EUR,2026-02-03,1\n" + good,
			rejects: []string{"in.csv:2: entry 1: row has 5 fields, the header has 8"}, goodCount: 1},
		{name: "bom and crlf", in: "\xef\xbb\xbf" + strings.ReplaceAll(ledgerHeader+good+good, "\n", "\r\n"), goodCount: 2},
		{name: "quoted newline keeps line numbers", in: ledgerHeader + "Q1,ACC,EUR,2026-03-02,1,R,C,\"a\nb\nc\"\n" + "B1,ACC,EUR,2026-03-02,x,R,C,D\n",
			rejects: []string{"in.csv:5: entry 2: amount"}, goodCount: 1},
		{name: "misplaced quote", in: ledgerHeader + "B1,ACC,EUR,2026-03-02,1,R\"x,C,D\n" + good,
			rejects: []string{"in.csv:2: entry 1: misplaced quote"}, goodCount: 1},
		{name: "unclosed quote at end", in: ledgerHeader + good + "B1,ACC,EUR,2026-03-02,1,R,C,\"open\n",
			rejects: []string{"in.csv:3: entry 2: quoted field is not closed"}, goodCount: 1},
		{name: "semicolon delimiter", in: strings.ReplaceAll(ledgerHeader+good, ",", ";"), goodCount: 1},
		{name: "latin-1 text", in: ledgerHeader + "G1,ACC,EUR,2026-03-02,5.00,R,M\xfcller,D\n", goodCount: 1},
		{name: "no line end at eof", in: ledgerHeader + strings.TrimSuffix(good, "\n"), goodCount: 1},
		{name: "bad provisional flag", in: "id,account,currency,booking_date,amount,provisional\nP1,ACC,EUR,2026-03-02,1,maybe\n",
			rejects: []string{"provisional: \"maybe\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, record.Ledger, tt.in)
			if tt.fileErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fileErr) {
					t.Fatalf("file error = %v, want %q", err, tt.fileErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("file error: %v", err)
			}
			if len(c.Transactions) != tt.goodCount {
				t.Errorf("good rows = %d, want %d", len(c.Transactions), tt.goodCount)
			}
			if len(c.Rejects) != len(tt.rejects) {
				t.Fatalf("rejects = %v, want %d", c.Rejects, len(tt.rejects))
			}
			for i, want := range tt.rejects {
				if got := c.Rejects[i].Error(); !strings.Contains(got, want) {
					t.Errorf("reject %d = %q, want it to contain %q", i, got, want)
				}
				if len(c.Rejects[i].Raw) == 0 {
					t.Errorf("reject %d has no raw bytes", i)
				}
			}
		})
	}
}

func TestLatin1Decoded(t *testing.T) {
	c, err := parse(t, record.Ledger, ledgerHeader+"G1,ACC,EUR,2026-03-02,5.00,R,M\xfcller,D\n")
	if err != nil || len(c.Transactions) != 1 || c.Transactions[0].Counterparty != "Müller" {
		t.Fatalf("got %+v, %v", c.Transactions, err)
	}
}

func TestExtraColumns(t *testing.T) {
	c, err := parse(t, record.Ledger, "entity,id,account,currency,booking_date,amount,cost center\nE1,L1,A,EUR,2026-01-01,1,CC9\n")
	if err != nil || len(c.Transactions) != 1 {
		t.Fatal(err, c.Rejects)
	}
	if got := c.Transactions[0].Extra; got["entity"] != "E1" || got["cost_center"] != "CC9" {
		t.Errorf("extra = %v", got)
	}
}

// genLedger writes n canonical ledger rows, every 1000th one bad.
func genLedger(w io.Writer, n int) (bad int) {
	bw := bufio.NewWriter(w)
	bw.WriteString(ledgerHeader)
	for i := 1; i <= n; i++ {
		amt := fmt.Sprintf("%d.%02d", i%100000, i%100)
		if i%1000 == 0 {
			amt = "12x.00"
			bad++
		}
		fmt.Fprintf(bw, "L%d,DE%018d,EUR,2026-%02d-%02d,%s,INV-%07d,\"Customer %d, Ltd\",payment for order %d\n",
			i, i%500, 1+i%12, 1+i%28, amt, i, i%977, i)
	}
	bw.Flush()
	return bad
}

type countSink struct{ good, bad int }

func (c *countSink) Statement(*record.Statement) error     { return nil }
func (c *countSink) Transaction(*record.Transaction) error { c.good++; return nil }
func (c *countSink) Reject(*format.ParseError) error       { c.bad++; return nil }

func TestLargeFile50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB file in -short mode")
	}
	var buf bytes.Buffer
	n := 0
	bad := 0
	for buf.Len() < 50<<20 {
		var chunk bytes.Buffer
		bad += genLedger(&chunk, 100000)
		if n > 0 {
			chunk.Next(len(ledgerHeader))
		}
		buf.Write(chunk.Bytes())
		n += 100000
	}
	var s countSink
	if err := (Parser{}).Parse(context.Background(), &buf, format.Source{Name: "big.csv", Side: record.Ledger}, &s); err != nil {
		t.Fatal(err)
	}
	if s.good != n-bad || s.bad != bad {
		t.Fatalf("good=%d bad=%d, want %d and %d", s.good, s.bad, n-bad, bad)
	}
}

func TestDetect(t *testing.T) {
	tests := map[string]format.Kind{
		ledgerHeader: format.LedgerCSV,
		"\xef\xbb\xbfaccount;currency;booking_date;value_date;amount\n": format.BankCSV,
		"01,BANK,CUST,260101,0800,1,,,2/\n":                             format.Unknown,
		"hello world\n":                                                 format.Unknown,
	}
	for in, want := range tests {
		if got := Detect([]byte(in)); got != want {
			t.Errorf("Detect(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(ledgerHeader + "L1,A,EUR,2026-01-01,1.00,R,C,D\n")
	f.Add("account,currency,booking_date,amount\nA,EUR,2026-01-01,\"1,0\"0\n")
	f.Add("\xef\xbb\xbfid;account;currency;booking_date;amount\r\nx;y;EUR;2026-01-01;\"a\r\nb\"\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		var c format.Collector
		err := Parser{}.Parse(context.Background(), strings.NewReader(in), format.Source{Name: "f.csv", Digest: "d"}, &c)
		if err != nil {
			return
		}
		seen := map[int64]bool{}
		for _, tr := range c.Transactions {
			if seen[tr.SourcePosition] {
				t.Fatalf("position %d emitted twice", tr.SourcePosition)
			}
			seen[tr.SourcePosition] = true
			if tr.Account == "" || tr.ID == "" {
				t.Fatalf("empty account or id passed: %+v", tr)
			}
		}
		for _, r := range c.Rejects {
			if seen[r.Entry] {
				t.Fatalf("entry %d both accepted and rejected", r.Entry)
			}
			seen[r.Entry] = true
		}
		for p := int64(1); p <= int64(len(seen)); p++ {
			if !seen[p] {
				t.Fatalf("entry %d neither accepted nor rejected (of %d)", p, len(seen))
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	genLedger(&buf, 100000)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var s countSink
		if err := (Parser{}).Parse(context.Background(), bytes.NewReader(data), format.Source{Name: "b.csv", Side: record.Ledger}, &s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
