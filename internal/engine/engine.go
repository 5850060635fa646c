// Package engine decides matches. It is pure: no I/O, no clocks. The
// matcher feeds it a record and the pending counterparts that share the
// record's match key and reference; it answers which one, if any, matches
// and when an unmatched record's window closes.
package engine

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Rec is a record in the matching window.
type Rec struct {
	record.Item
	Account     string
	NormRef     string
	BreakID     string // set once reported as a break; a late match clears it
	Provisional bool
	// PendingSince is when the record entered the window (wall clock); a
	// record becomes a break only after a minimum time in the window.
	PendingSince time.Time
}

// Broken reports whether r was already reported as a break.
func (r *Rec) Broken() bool { return r.BreakID != "" }

// Rule is one step of the waterfall. v0 has the exact rule only:
// normalised reference equal, amount equal, booking dates at most
// DateWindow days apart.
type Rule struct {
	Name       string
	DateWindow int // days, either direction
}

// Config is the engine's configuration.
type Config struct {
	Rules []Rule
	// GraceDays is added to the widest window before a pending record
	// becomes a break, for late files.
	GraceDays int
}

// DefaultConfig is the built-in rule set.
func DefaultConfig() Config {
	return Config{Rules: []Rule{{Name: "exact", DateWindow: 3}}, GraceDays: 1}
}

// Engine applies a Config.
type Engine struct {
	cfg       Config
	maxWindow int
}

// New returns an engine for cfg.
func New(cfg Config) *Engine {
	e := &Engine{cfg: cfg}
	for _, r := range cfg.Rules {
		e.maxWindow = max(e.maxWindow, r.DateWindow)
	}
	return e
}

// CloseDate is the stream time at which an unmatched r becomes a break.
func (e *Engine) CloseDate(r *Rec) record.Date {
	return r.BookingDate + record.Date(e.maxWindow+e.cfg.GraceDays)
}

// Decision is the engine's answer for one record.
type Decision struct {
	Counterpart *Rec // nil: no match
	Rule        string
	Confidence  record.Confidence
	Difference  money.Decimal
	Explanation string
}

// Match picks r's counterpart among cands (records of the other side with
// the same account, currency and normalised reference). Ties go to the
// closest date, then the smallest id, so the choice does not depend on the
// order the candidates are given in.
func (e *Engine) Match(r *Rec, cands []*Rec) Decision {
	if r.NormRef == "" {
		return Decision{}
	}
	for _, rule := range e.cfg.Rules {
		var best *Rec
		bestGap := 0
		for _, c := range cands {
			if c.Side == r.Side || c.NormRef != r.NormRef || !c.Amount.Equal(r.Amount) {
				continue
			}
			gap := int(c.BookingDate - r.BookingDate)
			if gap < 0 {
				gap = -gap
			}
			if gap > rule.DateWindow {
				continue
			}
			if best == nil || gap < bestGap || (gap == bestGap && c.ID < best.ID) {
				best, bestGap = c, gap
			}
		}
		if best != nil {
			expl := "reference and amount equal"
			if bestGap > 0 {
				expl += ", dates " + strconv.Itoa(bestGap) + " day(s) apart"
			}
			return Decision{Counterpart: best, Rule: rule.Name, Confidence: 10000,
				Difference: money.New(0, 0), Explanation: expl}
		}
	}
	return Decision{}
}

// NormalizeRef upper-cases a reference and drops everything but letters
// and digits: "inv-2026/00123 " -> "INV202600123".
func NormalizeRef(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}
