package csvformat

import (
	"context"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
)

func TestBuiltinProfiles(t *testing.T) {
	ps := BuiltinProfiles()
	if len(ps) < 3 {
		t.Fatalf("%d built-in profiles", len(ps))
	}
}

func TestProfileValidation(t *testing.T) {
	_, err := ParseProfile([]byte("name: x\nside: vendor\ncolumns:\n  amont: 3\n"), "x.yaml")
	if err == nil {
		t.Fatal("invalid profile accepted")
	}
	for _, want := range []string{"x.yaml (x)", "side:", "detect:", "columns.amont: unknown field", "columns.account (or values.account) is required",
		"give columns.amount, or columns.debit with columns.credit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := ParseProfile([]byte("name: x\nbogus: 1\n"), "y.yaml"); err == nil || !strings.Contains(err.Error(), "field bogus not found") {
		t.Errorf("unknown key: %v", err)
	}
}

func parseWith(t *testing.T, profile, in string) *format.Collector {
	t.Helper()
	p, err := ParseProfile([]byte(profile), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m := MatchProfile([]byte(in), []*Profile{p}); m != p {
		t.Fatalf("profile not detected in %q", in)
	}
	var c format.Collector
	if err := (ProfileParser{Profile: p}).Parse(context.Background(), strings.NewReader(in), format.Source{Name: "in.csv", Digest: "d"}, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestDebitCreditColumns(t *testing.T) {
	c := parseWith(t, `name: dc
side: ledger
detect: [Doc, Posted]
skip_rows: 1
date_format: DD.MM.YYYY
decimal: ","
thousands: "."
values: {currency: EUR, account: "DE89 3704"}
columns: {id: Doc, booking_date: Posted, debit: Soll, credit: Haben, reference: [Ref, Doc]}
`, "Report 2026\nDoc;Posted;Soll;Haben;Ref\nD1;02.03.2026;1.234,50;;INV-1\nD2;03.03.2026;;(7,00);\nD3;04.03.2026;1,00;2,00;\nD4;31.02.2026;1,00;;\n")
	if len(c.Transactions) != 2 || len(c.Rejects) != 2 {
		t.Fatalf("%d transactions, rejects %v", len(c.Transactions), c.Rejects)
	}
	a, b := c.Transactions[0], c.Transactions[1]
	if a.ID != "D1" || a.Amount.String() != "-1234.50" || a.Account != "DE89 3704" || a.Reference != "INV-1 D1" || a.BookingDate.String() != "2026-03-02" {
		t.Errorf("row 1: %+v", a)
	}
	if b.Amount.String() != "7.00" {
		t.Errorf("row 2 amount %s", b.Amount)
	}
	if r := c.Rejects[0].Error(); !strings.Contains(r, "in.csv:5: entry 3: debit: both debit and credit are filled") {
		t.Errorf("reject %q", r)
	}
	if r := c.Rejects[1].Error(); !strings.Contains(r, "booking_date") {
		t.Errorf("reject %q", r)
	}
}

func TestIndicatorAndEncoding(t *testing.T) {
	c := parseWith(t, `name: ind
side: bank
detect: [Konto, Betrag, S/H]
encoding: iso-8859-1
date_format: YYYYMMDD
columns: {account: Konto, currency: 4, booking_date: Datum, amount: Betrag, indicator: S/H, counterparty: Name}
indicator_values: {debit: [S], credit: [H]}
`, "Konto,Datum,Betrag,Whg,S/H,Name\n1,20260302,10.00,EUR,S,M\xfcller\n1,20260302,5,EUR,H,X\n1,20260302,5,EUR,?,X\n")
	if len(c.Transactions) != 2 || len(c.Rejects) != 1 {
		t.Fatalf("%d transactions, rejects %v", len(c.Transactions), c.Rejects)
	}
	if a := c.Transactions[0]; a.Amount.String() != "-10.00" || a.Counterparty != "Müller" || a.Currency != "EUR" {
		t.Errorf("row 1: %+v", a)
	}
	if !strings.Contains(c.Rejects[0].Error(), `indicator: "?" is neither a debit (S) nor a credit (H) mark`) {
		t.Errorf("reject %v", c.Rejects[0])
	}
}

func TestNoHeader(t *testing.T) {
	p, err := ParseProfile([]byte(`name: nh
side: bank
detect: [x]
header: false
delimiter: "|"
columns: {account: 1, currency: 2, booking_date: 3, amount: 4}
`), "nh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c format.Collector
	if err := (ProfileParser{Profile: p}).Parse(context.Background(), strings.NewReader("A|USD|2026-01-02|-3.5\nA|USD|2026-01-03|1\n"), format.Source{Name: "n", Digest: "d"}, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Transactions) != 2 || c.Transactions[0].Amount.String() != "-3.5" || c.Transactions[1].SourcePosition != 2 {
		t.Errorf("%+v %v", c.Transactions, c.Rejects)
	}
}

func FuzzProfile(f *testing.F) {
	p := BuiltinProfiles()
	f.Add("TransactionId,CardId,Date,ValutaDate,Amount,Currency,MerchantName\nT1,C1,2025-03-01 15:12:22,2025-03-03 00:00:00,29.000,CHF,X\n")
	f.Add("Document No;GL Account;Posting Date;Debit Amount;Credit Amount;Currency Code\nD;1200;2026-01-01;5;;EUR\n")
	f.Fuzz(func(t *testing.T, in string) {
		prof := MatchProfile([]byte(in), p)
		if prof == nil {
			return
		}
		var c format.Collector
		_ = ProfileParser{Profile: prof}.Parse(context.Background(), strings.NewReader(in), format.Source{Name: "f", Digest: "d"}, &c)
		for _, tx := range c.Transactions {
			if tx.Account == "" || tx.ID == "" || !money.KnownCurrency(tx.Currency) {
				t.Fatalf("bad transaction %+v", tx)
			}
		}
	})
}
