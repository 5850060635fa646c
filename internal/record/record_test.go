package record

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/money"
)

func TestDate(t *testing.T) {
	d, err := ParseDate("2026-02-28")
	if err != nil || d.String() != "2026-02-28" {
		t.Fatalf("ParseDate = %v, %v", d, err)
	}
	if d2, _ := ParseDate("20260228"); d2 != d {
		t.Errorf("compact form differs: %v", d2)
	}
	if MakeDate(1970, 1, 2) != 1 {
		t.Error("epoch")
	}
	for _, bad := range []string{"2026-02-30", "2026-13-01", "26-02-01", "", "2026/02/01"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}

func TestIDDeterministic(t *testing.T) {
	a := ID("b", "abc", 1, 0)
	if a != ID("b", "abc", 1, 0) {
		t.Fatal("not deterministic")
	}
	seen := map[string]bool{a: true}
	for _, id := range []string{ID("b", "abc", 2, 0), ID("b", "abd", 1, 0), ID("b", "abc", 1, 1), ID("l", "abc", 1, 0)} {
		if seen[id] {
			t.Errorf("collision %s", id)
		}
		seen[id] = true
	}
	if len(a) != 2+24 {
		t.Errorf("id %q has length %d", a, len(a))
	}
}

func TestTransactionJSON(t *testing.T) {
	tx := &Transaction{ID: "x", Side: Bank, Account: "A", Currency: "EUR", Amount: money.New(5, 0), BookingDate: MakeDate(2026, 1, 2)}
	b, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"type":"transaction"`, `"amount":"5.00"`, `"booking_date":"2026-01-02"`, `"id":"x"`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
	if strings.Count(s, `"amount"`) != 1 {
		t.Errorf("amount twice: %s", s)
	}
}
