package mt940

import (
	"context"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/format"
)

func TestEntryGrammar(t *testing.T) {
	tests := []struct {
		in                                   []string
		amount, booking, value, typ, ref, br string
		funds                                string
	}{
		{[]string{"0709040904CR300,NTRFTFNr 40005 MSGID//0724710345313905"}, "300", "2007-09-04", "2007-09-04", "NTRF", "TFNr 40005 MSGID", "0724710345313905", "R"},
		{[]string{"0709040904RCR204,88NRTINONREF"}, "-204.88", "2007-09-04", "2007-09-04", "NRTI", "", "", "R"},
		{[]string{"0709040904DR999946,95NMSCNONREF"}, "-999946.95", "2007-09-04", "2007-09-04", "NMSC", "", "", "R"},
		{[]string{"240312    DD212,39NMSCNONREF//", "/ABC/DEF/MISCELLANEOUS"}, "-212.39", "2024-03-12", "2024-03-12", "NMSC", "", "", "D"},
		{[]string{"2009020902D20,00NONREF"}, "-20.00", "2020-09-02", "2020-09-02", "", "", "", ""},
		{[]string{"1812241231C5,00NTRFX"}, "5.00", "2018-12-31", "2018-12-24", "NTRF", "X", "", ""},  // entry date after value date, same year
		{[]string{"1812310102C5,00NTRFX"}, "5.00", "2019-01-02", "2018-12-31", "NTRF", "X", "", ""},  // entry date in the next year
		{[]string{"1901021231D5,00NTRFX"}, "-5.00", "2018-12-31", "2019-01-02", "NTRF", "X", "", ""}, // entry date in the previous year
		{[]string{"1811261126CR", "30,00N062NONREF"}, "30.00", "2018-11-26", "2018-11-26", "N062", "", "", "R"},
		{[]string{"160230C1,00NMSCX"}, "1.00", "2016-02-29", "2016-02-29", "NMSC", "X", "", ""}, // 30 February
		{[]string{"1203290329DD20000,00NTRF1004688128      //6128522200250001"}, "-20000.00", "2012-03-29", "2012-03-29", "NTRF", "1004688128", "6128522200250001", "D"},
		{[]string{"131017ED6800,NCHK16703074"}, "-6800", "2013-10-17", "2013-10-17", "NCHK", "16703074", "", ""},
	}
	for _, tt := range tests {
		tx, err := parseEntry(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if tx.Amount.String() != tt.amount && tx.Amount.Trim(0).String() != tt.amount {
			t.Errorf("%q: amount %s, want %s", tt.in, tx.Amount, tt.amount)
		}
		if tx.BookingDate.String() != tt.booking || tx.ValueDate.String() != tt.value {
			t.Errorf("%q: booking %s value %s", tt.in, tx.BookingDate, tx.ValueDate)
		}
		if tx.TypeCode != tt.typ || tx.Reference != tt.ref || tx.BankReference != tt.br || tx.Extra["funds_code"] != tt.funds {
			t.Errorf("%q: type %q ref %q bankref %q funds %q", tt.in, tx.TypeCode, tx.Reference, tx.BankReference, tx.Extra["funds_code"])
		}
	}
	for _, bad := range [][]string{{"12"}, {"2401"}, {"240101X5,00"}, {"240101C"}, {"241301C5,00"}, {"240101CABC"}} {
		if _, err := parseEntry(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestInfoDialects(t *testing.T) {
	in := parseInfo([]string{"166?00GUTSCHR. UEBERWEISUNG?109249?20EREF+INV-2026-00123?21SVWZ+Rechnung 2026-00123 vom 0", "?221.03.2026?30COBADEFFXXX?31DE89370400440532013000?32ACME Office Supplies?33 GmbH"})
	if in.reference != "INV-2026-00123" || in.counterparty != "ACME Office Supplies GmbH" || in.description != "Rechnung 2026-00123 vom 01.03.2026" ||
		in.extra["counterparty_account"] != "DE89370400440532013000" || in.extra["transaction_code"] != "166" {
		t.Errorf("?NN: %+v", in)
	}
	in = parseInfo([]string{"/EREF/E2E-77//CNTP/NL91ABNA0417164300/ABNANL2A/Jansen BV/Amsterdam//REMI/USTD//factuur 2026-4411/"})
	if in.reference != "E2E-77" || in.counterparty != "Jansen BV" || in.description != "factuur 2026-4411" || in.extra["counterparty_iban"] != "NL91ABNA0417164300" {
		t.Errorf("/TAG/: %+v", in)
	}
	in = parseInfo([]string{"020>00PRZELEW>20FV 12/2026>2124 marca>27FIRMA SP. Z O.O.>38PL61109010140000071219812874"})
	if in.counterparty != "FIRMA SP. Z O.O." || in.description != "FV 12/202624 marca" || in.extra["counterparty_iban"] != "PL61109010140000071219812874" {
		t.Errorf(">NN: %+v", in)
	}
	in = parseInfo([]string{"Betaling sieraden", "", "  tweede regel"})
	if in.description != "Betaling sieraden tweede regel" {
		t.Errorf("free text: %q", in.description)
	}
}

func TestEncodings(t *testing.T) {
	latin1 := ":20:X\n:25:DE1\n:60F:C200101EUR1,00\n:61:2001010101C1,00NTRFX\n:86:M\xfcller\n:62F:C200101EUR2,00\n"
	latin2 := ":20:X\n:25:HU1\n:60F:C200101HUF1,00\n:61:2001010101C1,00NTRFX\n:86:\xc1tutal\xe1s \xf5sszeg\n:62F:C200101HUF2,00\n"
	for in, want := range map[string]string{latin1: "Müller", latin2: "Átutalás ősszeg"} {
		var c format.Collector
		if err := (Parser{}).Parse(context.Background(), strings.NewReader(in), format.Source{Name: "f", Digest: "d"}, &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Transactions) != 1 || !strings.Contains(c.Transactions[0].Description, want) {
			t.Errorf("decoded %+v, want %q", c.Transactions, want)
		}
	}
}

func TestStatementsAndErrors(t *testing.T) {
	in := "{1:F01BANKBEBBAXXX0000000000}{2:O940BANKBEBBXXXXN}{4:\r\n:20:REF1\r\n:25:BE68539007547034 EUR\r\n:28C:12/1\r\n:60F:D260301EUR100,00\r\n" +
		":61:2603020302C50,NTRFINV1//B1\r\n:86:first\r\n:61:2603020302XX1,00\r\n:61:2603030303D20,5NMSCINV2\r\n:62F:D260303EUR70,5\r\n-}{5:}\r\n"
	var c format.Collector
	if err := (Parser{}).Parse(context.Background(), strings.NewReader(in), format.Source{Name: "s.sta", Digest: "d"}, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Transactions) != 2 || len(c.Statements) != 1 || len(c.Rejects) != 1 {
		t.Fatalf("%d transactions, %d statements, %d rejects", len(c.Transactions), len(c.Statements), len(c.Rejects))
	}
	if r := c.Rejects[0].Error(); !strings.Contains(r, "s.sta:8: entry 2: :61:: debit/credit mark") {
		t.Errorf("reject %q", r)
	}
	st := c.Statements[0]
	if st.Account != "BE68539007547034" || st.Currency != "EUR" || st.OpeningBalance.String() != "-100.00" || st.ClosingBalance.String() != "-70.5" {
		t.Errorf("statement %+v", st)
	}
	if c.Transactions[1].SourcePosition != 3 || c.Transactions[0].Description != "first" {
		t.Errorf("positions/info: %+v", c.Transactions)
	}
	if err := (Parser{}).Parse(context.Background(), strings.NewReader("hello\n"), format.Source{Name: "x"}, &c); err == nil {
		t.Error("a file without statements parsed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(":20:X\n:25:A\n:60F:C200101EUR1,00\n:61:2001010101C1,00NTRFX//Y\nsup\n:86:?20EREF+1?32N\n:62F:C200101EUR2,00\n-")
	f.Add("{1:F01}{4:\n:20:X\n:25:A/EUR\n:34F:EURD0,\n:61:200101C5,NONREF\n:90C:1EUR5,\n-}")
	f.Add(":61:1811261126CR\n30,00N062NONREF\n:\n86:166?00X")
	f.Fuzz(func(t *testing.T, in string) {
		var c format.Collector
		_ = (Parser{}).Parse(context.Background(), strings.NewReader(in), format.Source{Name: "f", Digest: "d"}, &c)
		seen := map[int64]bool{}
		for _, tx := range c.Transactions {
			if seen[tx.SourcePosition] || tx.Account == "" || tx.Currency == "" {
				t.Fatalf("bad transaction %+v", tx)
			}
			seen[tx.SourcePosition] = true
		}
	})
}
