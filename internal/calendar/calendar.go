// Package calendar says which days are business days for a currency:
// weekends and the holidays of the currency's settlement system (built in
// for the major currencies, computed per year), changed or extended by a
// settings file. The matching rules count date windows in business days
// with it, and the console ages breaks with it.
package calendar

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openrecon/recon/internal/record"
)

// Calendar is one currency's business days.
type Calendar struct {
	Name    string
	weekend [7]bool // by time.Weekday
	rules   func(year int) []record.Date
	add     map[record.Date]bool // settings-file holidays
	remove  map[record.Date]bool // settings-file working days that a rule makes holidays

	years sync.Map // year -> map[record.Date]bool, computed on first use (read without a lock)
	// last is the year asked for most recently, as a table by day: the
	// matcher asks about the same few weeks for every record.
	last atomic.Pointer[yearTable]
}

// yearTable marks a year's holidays by day.
type yearTable struct {
	first   record.Date
	holiday []bool
}

// Set holds the calendars by currency; a currency without its own gets the
// default (weekends only, plus the settings file's "default" entry).
type Set struct {
	byCur map[string]*Calendar
	def   *Calendar
}

func newCalendar(name string, rules func(int) []record.Date) *Calendar {
	c := &Calendar{Name: name, rules: rules, add: map[record.Date]bool{}, remove: map[record.Date]bool{}}
	c.weekend[time.Saturday], c.weekend[time.Sunday] = true, true
	return c
}

// Builtin returns the built-in calendars: EUR (TARGET2), USD (Fedwire),
// GBP (England and Wales bank holidays), CHF (SIX SIC), CAD, AUD and JPY,
// and a weekends-only default for every other currency.
func Builtin() *Set {
	s := &Set{byCur: map[string]*Calendar{}, def: newCalendar("default", nil)}
	for cur, rules := range builtins {
		s.byCur[cur] = newCalendar(cur, rules)
	}
	return s
}

// For returns currency's calendar (the default when it has none).
func (s *Set) For(currency string) *Calendar {
	if s == nil {
		return defaultSet.For(currency)
	}
	if c, ok := s.byCur[currency]; ok {
		return c
	}
	return s.def
}

var defaultSet = Builtin()

// Default is the built-in set, shared.
func Default() *Set { return defaultSet }

func (c *Calendar) holidays(year int) map[record.Date]bool {
	if h, ok := c.years.Load(year); ok {
		return h.(map[record.Date]bool)
	}
	h := map[record.Date]bool{}
	if c.rules != nil {
		for _, d := range c.rules(year) {
			if !c.remove[d] {
				h[d] = true
			}
		}
	}
	for d := range c.add {
		if d.Time().Year() == year {
			h[d] = true
		}
	}
	v, _ := c.years.LoadOrStore(year, h) // two computing at once store the same
	return v.(map[record.Date]bool)
}

// weekday of d: 1970-01-01 was a Thursday.
func weekday(d record.Date) time.Weekday {
	return time.Weekday(((int(d) % 7) + 7 + int(time.Thursday)) % 7)
}

// IsBusinessDay reports whether d is neither a weekend day nor a holiday.
func (c *Calendar) IsBusinessDay(d record.Date) bool {
	if c.weekend[weekday(d)] {
		return false
	}
	t := c.last.Load()
	if t == nil || d < t.first || int(d-t.first) >= len(t.holiday) {
		y := d.Time().Year()
		first := record.MakeDate(y, time.January, 1)
		t = &yearTable{first: first, holiday: make([]bool, record.MakeDate(y+1, time.January, 1)-first)}
		for h := range c.holidays(y) {
			if h >= first && int(h-first) < len(t.holiday) { // as the map is read: by the date's year
				t.holiday[h-first] = true
			}
		}
		c.last.Store(t)
	}
	return !t.holiday[d-t.first]
}

// Between counts the business days from the earlier date to the later one
// (negative when to is before from): those in (earlier, later], where an
// earlier date that is no business day counts from the next one. So Friday
// to Monday is 1, Saturday to Monday 0 (a weekend posting the bank books
// on Monday is the same day), and in TARGET2 the Thursday before Good
// Friday to the Tuesday after Easter Monday is 1.
func (c *Calendar) Between(from, to record.Date) int {
	sign := 1
	if to < from {
		from, to, sign = to, from, -1
	}
	n := 0
	for d := c.Next(from) + 1; d <= to; d++ {
		if c.IsBusinessDay(d) {
			n++
		}
	}
	return sign * n
}

// Add returns the date n business days after d (before it when n < 0),
// the inverse of Between: a d that is no business day counts as the next
// business day going forward and as the previous one going back. With
// n == 0 it is d itself, business day or not.
func (c *Calendar) Add(d record.Date, n int) record.Date {
	step := record.Date(1)
	switch {
	case n > 0:
		d = c.Next(d)
	case n < 0:
		for !c.IsBusinessDay(d) {
			d--
		}
		step, n = -1, -n
	}
	for n > 0 {
		d += step
		if c.IsBusinessDay(d) {
			n--
		}
	}
	return d
}

// Next returns d when it is a business day, else the first one after it.
func (c *Calendar) Next(d record.Date) record.Date {
	for !c.IsBusinessDay(d) {
		d++
	}
	return d
}

// File is the settings file: per currency (or "default"), the weekend
// days, holidays to add and built-in holidays to drop, or a list that
// replaces the built-in one.
//
//	calendars:
//	  EUR:
//	    holidays: [2026-12-24, 2026-12-31]   # added to TARGET2's
//	    working_days: [2026-05-01]          # a built-in holiday that is not one
//	  AED:
//	    weekend: [saturday, sunday]
//	    holidays: [2026-12-02, 2026-12-03]
//	  JPY:
//	    replace: true                       # only the holidays listed here
//	    holidays: [...]
type File struct {
	Calendars map[string]struct {
		Weekend     []string      `yaml:"weekend"`
		Holidays    []record.Date `yaml:"holidays"`
		WorkingDays []record.Date `yaml:"working_days"`
		Replace     bool          `yaml:"replace"`
	} `yaml:"calendars"`
}

// Load reads a settings file over the built-in set; "" gives the shared
// built-in set (Default).
func Load(path string) (*Set, error) {
	if path == "" {
		return defaultSet, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("calendar file: %w", err)
	}
	return Parse(b, path)
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// Parse reads calendar settings YAML (see File) over the built-in set,
// naming the file and the currency of every problem.
func Parse(b []byte, file string) (*Set, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("calendar file %s: %w", file, err)
	}
	s := Builtin()
	var errs []error
	for cur, e := range f.Calendars {
		where := fmt.Sprintf("calendar file %s: %s", file, cur)
		var c *Calendar
		switch {
		case cur == "default":
			c = s.def
		case len(cur) == 3 && strings.ToUpper(cur) == cur:
			if c = s.byCur[cur]; c == nil {
				c = newCalendar(cur, nil)
				s.byCur[cur] = c
			}
		default:
			errs = append(errs, fmt.Errorf("%s: want an ISO 4217 code in upper case (EUR) or default", where))
			continue
		}
		if e.Replace {
			c.rules = nil
		}
		if e.Weekend != nil {
			c.weekend = [7]bool{}
			for _, w := range e.Weekend {
				d, ok := weekdays[strings.ToLower(w)]
				if !ok {
					errs = append(errs, fmt.Errorf("%s: weekend day %q: want monday … sunday", where, w))
					continue
				}
				c.weekend[d] = true
			}
			if c.weekend == [7]bool{true, true, true, true, true, true, true} {
				errs = append(errs, fmt.Errorf("%s: every day is a weekend day", where))
			}
		}
		for _, d := range e.Holidays {
			c.add[d] = true
		}
		for _, d := range e.WorkingDays {
			if c.add[d] {
				errs = append(errs, fmt.Errorf("%s: %s is both a holiday and a working day", where, d))
			}
			c.remove[d] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}
