package freetext

import (
	"reflect"
	"testing"

	"github.com/openrecon/recon/internal/record"
)

func TestExtract(t *testing.T) {
	cases := []struct {
		name, text string
		want       Fields
	}{
		{"colon-separated MT940 :86: with the name before the IBAN",
			"999SEPA_CREDIT_TRANSFER:Rechnung Nr 7983:SRB Steuerberatungsgesellschaft mbH:DE70210512750155069677",
			Fields{Name: "SRB Steuerberatungsgesellschaft mbH", IBAN: "DE70210512750155069677", References: []string{"7983"}}},
		{"SWIFT tags", "/EREF/E2E-4711//CNTP/NL91ABNA0417164300/ABNANL2A/ACME Trading BV/AMSTERDAM/ /REMI/USTD//INV 2026 00123/",
			Fields{Name: "ACME Trading BV", IBAN: "NL91ABNA0417164300", EndToEndID: "E2E-4711", References: []string{"2026 00123"}}},
		{"BAI2 ACH text with labels on one line", "ORIG CO NAME:ACME CORP ORIG ID:1234567890 DESC DATE:260402 SO 445566",
			Fields{Name: "ACME CORP", References: []string{"445566"}}},
		{"B/O and a spaced IBAN with a BIC", "B/O NORTHWIND TRADERS LTD; IBAN GB29 NWBK 6016 1331 9268 19 BIC: NWBKGB2L",
			Fields{Name: "NORTHWIND TRADERS LTD", IBAN: "GB29NWBK60161331926819", BIC: "NWBKGB2L"}},
		{"a company name opening the text", "ACME OFFICE SUPPLIES GMBH Payment INV-2026-00123",
			Fields{Name: "ACME OFFICE SUPPLIES GMBH", References: []string{"2026-00123"}}},
		{"no legal form and no label: no name", "Northwind Traders Payment 4711", Fields{}},
		{"a wrong IBAN checksum is no IBAN", "FROM: Contoso Ltd DE89370400440532013001", Fields{Name: "Contoso Ltd"}},
		{"placeholders are no references", "EREF+NOTPROVIDED SVWZ+Miete", Fields{}},
		{"end-to-end id", "END TO END ID: 20260402-ABC-1 Rent April", Fields{EndToEndID: "20260402-ABC-1"}},
		{"order number", "Purchase order PO 4500012345 thank you", Fields{References: []string{"4500012345"}}},
		{"a label phrase without a name", "BENEFICIARY INFO", Fields{}},
	}
	for _, c := range cases {
		got := Extract(c.text)
		if got.References == nil {
			got.References = nil
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", c.name, got, c.want)
		}
	}
}

func TestValidIBAN(t *testing.T) {
	for iban, want := range map[string]bool{"DE89370400440532013000": true, "GB29NWBK60161331926819": true, "CH9300762011623852957": true,
		"DE89370400440532013001": false, "DE8937040044": false, "1289370400440532013000": false} {
		if validIBAN(iban) != want {
			t.Errorf("validIBAN(%s) != %v", iban, want)
		}
	}
}

// Enrich keeps what the format gave in structured fields and moves the
// structured details out of Extra into their fields.
func TestEnrich(t *testing.T) {
	tx := &record.Transaction{Counterparty: "Müller GmbH", Description: "SVWZ+Miete",
		RawText: "166?00GUTSCHRIFT?20EREF+E2E-1?21SVWZ+Miete?30PBNKDEFF100?31DE42100100100043921105?32Müller GmbH",
		Extra:   map[string]string{"counterparty_iban": "DE42100100100043921105", "counterparty_bank": "PBNKDEFF100", "eref": "E2E-1"}}
	Enrich(tx)
	if tx.Counterparty != "Müller GmbH" || tx.CounterpartyAccount != "DE42100100100043921105" || tx.CounterpartyBIC != "PBNKDEFF100" ||
		tx.EndToEndID != "E2E-1" || tx.Reference != "E2E-1" || tx.Extra["counterparty_iban"] != "" || tx.RawText == "" {
		t.Errorf("structured MT940: %+v", tx)
	}
	tx = &record.Transaction{Reference: "INV-9", Description: "B/O CONTOSO LTD INV-9", Extra: map[string]string{}}
	Enrich(tx)
	if tx.Counterparty != "CONTOSO LTD INV-9" && tx.Counterparty != "CONTOSO LTD" {
		t.Errorf("name from the text: %q", tx.Counterparty)
	}
	if tx.Reference != "INV-9" || tx.RawText != "" {
		t.Errorf("reference or raw text changed: %+v", tx)
	}
}

// BenchmarkEnrich: the cost per entry on the ingest path, over texts of
// the kinds the parsers give.
func BenchmarkEnrich(b *testing.B) {
	texts := []string{
		"166?00GUTSCHRIFT?20EREF+E2E-1?21SVWZ+Miete April?30PBNKDEFF100?31DE42100100100043921105?32Müller GmbH",
		"999SEPA_CREDIT_TRANSFER:Rechnung Nr 7983:SRB Steuerberatungsgesellschaft mbH:DE70210512750155069677",
		"Payment INV-2026-00123",
		"ACME OFFICE SUPPLIES GMBH Payment INV-2026-00123",
		"ORIG CO NAME:ACME CORP ORIG ID:1234567890 DESC DATE:260402 SO 445566",
		"SEPA CREDIT TRANSFER",
	}
	for i := 0; i < b.N; i++ {
		t := &record.Transaction{Description: texts[i%len(texts)], Extra: map[string]string{}}
		Enrich(t)
	}
}
