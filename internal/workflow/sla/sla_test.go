package sla

import (
	"testing"

	"github.com/openrecon/recon/internal/record"
)

// A break has the stricter of its reason's and its account's SLA, and
// its age counts calendar days or the currency's business days.
func TestPolicy(t *testing.T) {
	p := Policy{Reason: map[string]int{"duplicate": 1}, Default: 5, Account: map[string]int{"A": 2}}
	for _, c := range []struct {
		reason, account string
		want            int
	}{{"duplicate", "B", 1}, {"unmatched", "B", 5}, {"unmatched", "A", 2}, {"duplicate", "A", 1}} {
		if got := p.Days(c.reason, c.account); got != c.want {
			t.Errorf("%s on %s: %d days, want %d", c.reason, c.account, got, c.want)
		}
	}
	if p.Min() != 1 {
		t.Errorf("min %d", p.Min())
	}
	fri, mon := record.MakeDate(2026, 4, 10), record.MakeDate(2026, 4, 13)
	if p.Age("EUR", fri, mon) != 3 || p.Unit() != "d" {
		t.Errorf("calendar age %d %s", p.Age("EUR", fri, mon), p.Unit())
	}
	p.BusinessDays = true
	if p.Age("EUR", fri, mon) != 1 || p.Unit() != "bd" {
		t.Errorf("business age %d %s", p.Age("EUR", fri, mon), p.Unit())
	}
}
