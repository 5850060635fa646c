package parse

import (
	"context"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/record"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		in   string
		want format.Kind
	}{
		{"01,122099999,123456789,260302,0800,1,,,2/\n", format.BAI2},
		{"\xef\xbb\xbf01,X,Y,260302,0800,1,80,,2/", format.BAI2},
		{"{1:F01ABNANL2AAXXX0000000000}{2:O940}{4:\r\n:20:STMT\r\n", format.MT940},
		{":20:940S130403\n:25:123\n", format.MT940},
		{"some preamble\r\n:20:REF\r\n:25:NL12\r\n:28C:1\r\n", format.MT940},
		{"<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">", format.CAMT},
		{"id,account,currency,booking_date,amount\n", format.LedgerCSV},
		{"account,currency,booking_date,amount\n", format.BankCSV},
		{"%PDF-1.7", format.Unknown},
	}
	for _, tt := range tests {
		if got := Detect([]byte(tt.in)); got != tt.want {
			t.Errorf("Detect(%.30q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFileSides(t *testing.T) {
	ctx := context.Background()
	var c format.Collector
	kind, err := File(ctx, strings.NewReader("id,account,currency,booking_date,amount\nL1,A,EUR,2026-01-01,1\n"), format.Source{Name: "x"}, &c)
	if err != nil || kind != format.LedgerCSV || len(c.Transactions) != 1 || c.Transactions[0].Side != record.Ledger {
		t.Fatalf("ledger csv: %s %v %+v", kind, err, c.Transactions)
	}
	for in, want := range map[string]string{
		"":           "empty file",
		"   \n":      "empty file",
		"%PDF-1.7\n": "unrecognised format",
	} {
		_, err := File(ctx, strings.NewReader(in), format.Source{Name: "f"}, &c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("File(%q) = %v, want %q", in, err, want)
		}
	}
}
