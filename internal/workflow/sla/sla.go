// Package sla is the workflow's service levels: how long an open break
// may wait for a person, per reason and per account, counted in calendar
// or business days. The dashboard counts the breaches, escalation climbs
// by them.
package sla

import (
	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/record"
)

// Policy is how many days an open break may age: per reason (Default for the
// others), and per account; a break has the stricter of the two.
type Policy struct {
	Reason  map[string]int
	Default int
	Account map[string]int
	// BusinessDays counts a break's age against its SLA in business days
	// of its currency (Calendars; nil: the built-in calendars), not
	// calendar days.
	BusinessDays bool
	Calendars    *calendar.Set
}

// Age is the age on today of a break of currency booked on booked, as
// the policy counts it.
func (s Policy) Age(currency string, booked, today record.Date) int {
	if !s.BusinessDays {
		return int(today - booked)
	}
	return s.Calendars.For(currency).Between(booked, today)
}

// Unit names the Policy's day: "d" (calendar days) or "bd" (business days).
func (s Policy) Unit() string {
	if s.BusinessDays {
		return "bd"
	}
	return "d"
}

// Days is the Policy of a break of reason on account.
func (s Policy) Days(reason, account string) int {
	d, ok := s.Reason[reason]
	if !ok {
		d = s.Default
	}
	if a, ok := s.Account[account]; ok && a < d {
		d = a
	}
	return d
}

// Min is the shortest Policy of any break.
func (s Policy) Min() int {
	m := s.Default
	for _, d := range s.Reason {
		m = min(m, d)
	}
	for _, d := range s.Account {
		m = min(m, d)
	}
	return m
}
