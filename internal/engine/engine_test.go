package engine

import (
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

func rec(id string, side record.Side, ref string, cents int64, day int) *Rec {
	return &Rec{Item: record.Item{ID: id, Side: side, Amount: money.New(cents, 2), BookingDate: record.Date(20000 + day), Reference: ref},
		NormRef: NormalizeRef(ref)}
}

func TestExactRule(t *testing.T) {
	e := New(DefaultConfig())
	b := rec("b1", record.Bank, "INV-1", -1000, 5)
	tests := []struct {
		name  string
		cands []*Rec
		want  string
	}{
		{"equal", []*Rec{rec("l1", record.Ledger, "inv 1", -1000, 5)}, "l1"},
		{"amount differs", []*Rec{rec("l1", record.Ledger, "INV-1", -1001, 5)}, ""},
		{"sign differs", []*Rec{rec("l1", record.Ledger, "INV-1", 1000, 5)}, ""},
		{"outside window", []*Rec{rec("l1", record.Ledger, "INV-1", -1000, 9)}, ""},
		{"edge of window", []*Rec{rec("l1", record.Ledger, "INV-1", -1000, 2)}, "l1"},
		{"same side ignored", []*Rec{rec("b2", record.Bank, "INV-1", -1000, 5)}, ""},
		{"closest date wins", []*Rec{rec("l1", record.Ledger, "INV-1", -1000, 7), rec("l2", record.Ledger, "INV-1", -1000, 4)}, "l2"},
		{"tie by id, any order", []*Rec{rec("l9", record.Ledger, "INV-1", -1000, 6), rec("l3", record.Ledger, "INV-1", -1000, 4)}, "l3"},
		{"tie by id, reversed", []*Rec{rec("l3", record.Ledger, "INV-1", -1000, 4), rec("l9", record.Ledger, "INV-1", -1000, 6)}, "l3"},
		{"scale-insensitive amount", []*Rec{{Item: record.Item{ID: "l1", Side: record.Ledger, Amount: money.New(-10, 0), BookingDate: 20005}, NormRef: "INV1"}}, "l1"},
	}
	for _, tt := range tests {
		d := e.Match(b, tt.cands)
		got := ""
		if d.Counterpart != nil {
			got = d.Counterpart.ID
		}
		if got != tt.want {
			t.Errorf("%s: matched %q, want %q", tt.name, got, tt.want)
		}
		if got != "" && (d.Rule != "exact" || d.Confidence != 10000) {
			t.Errorf("%s: decision %+v", tt.name, d)
		}
	}
	if d := e.Match(rec("b", record.Bank, "  -- ", 1, 1), []*Rec{rec("l", record.Ledger, "", 1, 1)}); d.Counterpart != nil {
		t.Error("empty references matched")
	}
}

func TestCloseDate(t *testing.T) {
	e := New(DefaultConfig())
	if got := e.CloseDate(rec("b", record.Bank, "x", 1, 0)); got != 20004 {
		t.Errorf("close = %d", got)
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{"inv-2026/00123 ": "INV202600123", "Ümlaut 1": "ÜMLAUT1", "": ""} {
		if got := NormalizeRef(in); got != want {
			t.Errorf("NormalizeRef(%q) = %q", in, got)
		}
	}
}
