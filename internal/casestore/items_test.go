package casestore

import (
	"reflect"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// TestStoredItems: a match's items are stored as arrays without keys, and
// read back whole; rows of earlier versions (objects) still read.
func TestStoredItems(t *testing.T) {
	d, _ := record.ParseDate("2026-03-15")
	its := []record.Item{{ID: "b-1", Amount: money.New(-75870, 2), BookingDate: d, Reference: "INV-35", Counterparty: "ACME",
		Description: `transfer "INV-35", ß`, SourceFile: "bank/bank.csv", SourcePosition: 35}, {ID: "b-2", Amount: money.New(1, 2), BookingDate: d}}
	raw, err := storeItems(its)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"id"`) || !strings.HasPrefix(string(raw), `[["b-1","-758.70","2026-03-15","INV-35","ACME",`) {
		t.Errorf("stored form %s", raw)
	}
	got, err := parseItems(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := itemsJSON(its); !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n got %+v\nwant %+v", got, want)
	}
	old := `[{"id":"b-1","amount":"-758.70","booking_date":"2026-03-15","reference":"INV-35","counterparty":"ACME","description":"transfer \"INV-35\", ß","source_file":"bank/bank.csv","source_position":35}]`
	if got, err = parseItems([]byte(old)); err != nil || !reflect.DeepEqual(got, itemsJSON(its[:1])) {
		t.Errorf("the object form read as %+v, %v", got, err)
	}
	for _, bad := range []string{`{"id":"x"}`, `[["b-1","1.00"]]`, `[["b-1",1,"","","","","",0]]`} {
		if _, err := parseItems([]byte(bad)); err == nil {
			t.Errorf("%s read without an error", bad)
		}
	}
}
