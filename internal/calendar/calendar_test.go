package calendar

import (
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/record"
)

func d(s string) record.Date {
	v, err := record.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Published holidays of 2026 (and a few other years where a substitution
// rule matters), against the rules.
func TestBuiltinHolidays(t *testing.T) {
	s := Builtin()
	holidays := map[string][]string{
		"EUR": {"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-12-25", "2026-12-26", "2027-03-26", "2027-03-29"},
		"USD": {"2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25", "2022-12-26", "2023-01-02"},
		"GBP": {"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28", "2027-12-27", "2027-12-28", "2022-12-26", "2022-12-27"},
		"CHF": {"2026-01-01", "2026-01-02", "2026-04-03", "2026-04-06", "2026-05-14", "2026-05-25", "2026-12-25"},
		"CAD": {"2026-01-01", "2026-04-03", "2026-05-18", "2026-07-01", "2026-08-03", "2026-09-07", "2026-09-30", "2026-10-12", "2026-11-11", "2026-12-25", "2026-12-28"},
		"AUD": {"2026-01-01", "2026-01-26", "2026-04-03", "2026-04-06", "2026-06-08", "2026-12-25", "2026-12-28"},
		"JPY": {"2026-01-01", "2026-01-02", "2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20", "2026-04-29", "2026-05-04", "2026-05-05", "2026-05-06",
			"2026-07-20", "2026-08-11", "2026-09-21", "2026-09-22", "2026-09-23", "2026-10-12", "2026-11-03", "2026-11-23", "2026-12-31"},
	}
	for cur, days := range holidays {
		c := s.For(cur)
		for _, x := range days {
			if c.IsBusinessDay(d(x)) {
				t.Errorf("%s: %s should be a holiday", cur, x)
			}
		}
	}
	working := map[string][]string{
		"USD": {"2026-07-03", "2026-04-03", "2026-12-24"}, // July 4 on a Saturday is not moved
		"EUR": {"2026-04-02", "2026-04-07", "2026-12-24"},
		"GBP": {"2026-12-29"},
		"JPY": {"2026-05-07", "2026-09-24"},
		"SEK": {"2026-04-03"}, // no calendar of its own: weekends only
	}
	for cur, days := range working {
		c := s.For(cur)
		for _, x := range days {
			if !c.IsBusinessDay(d(x)) {
				t.Errorf("%s: %s should be a business day", cur, x)
			}
		}
	}
	if s.For("SEK").IsBusinessDay(d("2026-04-04")) {
		t.Error("SEK: a Saturday is a business day")
	}
}

func TestBetweenAndAdd(t *testing.T) {
	eur := Builtin().For("EUR")
	cases := []struct {
		from, to string
		want     int
	}{
		{"2026-03-27", "2026-03-30", 1},  // Friday to Monday
		{"2026-04-02", "2026-04-07", 1},  // Thursday to the Tuesday after Easter
		{"2026-04-07", "2026-04-02", -1}, // and back
		{"2026-03-23", "2026-03-23", 0},
		{"2026-03-28", "2026-03-29", 0},  // Saturday to Sunday
		{"2026-03-28", "2026-03-30", 0},  // Saturday to Monday: the same business day
		{"2026-03-28", "2026-03-31", 1},  // Saturday to Tuesday
		{"2026-03-31", "2026-03-28", -1}, // and back
		{"2026-03-27", "2026-03-28", 0},  // Friday to Saturday
		{"2026-03-27", "2026-04-03", 4},  // a week with Good Friday
	}
	for _, c := range cases {
		if got := eur.Between(d(c.from), d(c.to)); got != c.want {
			t.Errorf("Between(%s, %s) = %d, want %d", c.from, c.to, got, c.want)
		}
		if c.want > 0 && eur.IsBusinessDay(d(c.to)) {
			if got := eur.Add(d(c.from), c.want); got != d(c.to) {
				t.Errorf("Add(%s, %d) = %s, want %s", c.from, c.want, got, c.to)
			}
		}
	}
	if got := eur.Add(d("2026-04-02"), 3); got != d("2026-04-09") {
		t.Errorf("3 business days after Maundy Thursday: %s", got)
	}
	if got := eur.Add(d("2026-04-09"), -3); got != d("2026-04-02") {
		t.Errorf("3 business days before 9 April: %s", got)
	}
	if got := eur.Next(d("2026-04-03")); got != d("2026-04-07") {
		t.Errorf("Next(Good Friday) = %s", got)
	}
}

func TestSettingsFile(t *testing.T) {
	s, err := Parse([]byte(`
calendars:
  EUR:
    holidays: [2026-12-24]
    working_days: [2026-05-01]
  AED:
    weekend: [saturday, sunday]
    holidays: [2026-12-02]
  default:
    holidays: [2026-12-31]
`), "cal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eur := s.For("EUR")
	if eur.IsBusinessDay(d("2026-12-24")) || !eur.IsBusinessDay(d("2026-05-01")) || eur.IsBusinessDay(d("2026-04-03")) {
		t.Error("EUR settings not applied over TARGET2")
	}
	if s.For("AED").IsBusinessDay(d("2026-12-02")) || s.For("SEK").IsBusinessDay(d("2026-12-31")) {
		t.Error("new currency or default entry not applied")
	}
	if b := Default().For("EUR"); b.IsBusinessDay(d("2026-05-01")) || !b.IsBusinessDay(d("2026-12-24")) {
		t.Error("settings leaked into the built-in set")
	}
	for _, bad := range []struct{ yaml, want string }{
		{"calendars:\n  eur:\n    holidays: [2026-01-02]\n", "eur: want an ISO 4217 code"},
		{"calendars:\n  EUR:\n    weekend: [caturday]\n", `weekend day "caturday"`},
		{"calendars:\n  EUR:\n    holidays: [2026-02-30]\n", "2026-02-30"},
		{"calendars:\n  EUR:\n    holiday: [2026-01-02]\n", "field holiday not found"},
		{"calendars:\n  EUR:\n    holidays: [2026-01-02]\n    working_days: [2026-01-02]\n", "both a holiday and a working day"},
	} {
		_, err := Parse([]byte(bad.yaml), "cal.yaml")
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "cal.yaml") {
			t.Errorf("%q: error %v, want one naming cal.yaml and %q", bad.yaml, err, bad.want)
		}
	}
}
