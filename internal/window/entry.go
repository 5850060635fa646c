// Package window is a partition's window in the owning instance's memory:
// the pending records, the records already reported as breaks (so that a
// late counterpart still matches) and the markers of matched provisional
// entries, each an Entry (the record and its window state), with the
// indexes the matcher decides with (by reference key, by account, by close
// date). A Change is what one batch of input does to it; the Redis store
// (internal/redisstate) applies a Change durably before the window
// commits it, and stores each entry in the binary form of codec.go.
//
// The package is pure: no Redis, Kafka or clock.
package window

import (
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
)

// Entry is a record in the window with its window state. The engine
// decides on the record; the state is the window's.
type Entry struct {
	*engine.Rec
	// BreakID is set once the record was reported as a break; a late
	// counterpart matches it and the match clears the break.
	BreakID string
	// PendingSince is when the record entered the window (wall clock, as
	// the matcher passed it): a record becomes a break only after a
	// minimum time in the window.
	PendingSince time.Time
	// Marker: a matched provisional entry kept (under id "pv:<id>") so that
	// its booked entry, arriving later, is recognised and not matched again.
	Marker bool
	// Late: the record arrived after its window had closed; if it breaks
	// unmatched, its reason is late.
	Late bool
	// Hold is set while a person's decision holds the record (a proposed
	// match waiting, a manual or confirmed match that can still be undone,
	// a written-off or accepted break that can be reopened, a break from a
	// rejected or undone match): held records are never matched by the
	// rules, only by a person's resolution.
	Hold *Hold
}

// HoldKind says why a record is held.
type HoldKind byte

// Hold kinds.
const (
	HoldProposed   HoldKind = 'p' // member of proposed match ID, waiting for a person
	HoldMatched    HoldKind = 'm' // member of manual or confirmed match ID
	HoldWrittenOff HoldKind = 'w' // break written off by resolution ID
	HoldAccepted   HoldKind = 'a' // break accepted by resolution ID
	HoldOpen       HoldKind = 'x' // open break from rejected or undone match ID: a person matches or closes it
)

// Hold is a person's hold on a record: the kind, the match or resolution
// id, and for a match its rule and confidence (to emit it again when
// confirmed) or for a closed break its reason code.
type Hold struct {
	Kind       HoldKind
	ID         string
	Rule       string
	Confidence int
}

// Open reports whether the entry is open for a person's action: pending,
// broken, or an open break from a rejected or undone match.
func (e *Entry) Open() bool {
	return !e.Marker && (e.Hold == nil || e.Hold.Kind == HoldOpen)
}

// Broken reports whether the entry was already reported as a break.
func (e *Entry) Broken() bool { return e.BreakID != "" }

// Clock is a partition's event time per input side: the highest booking
// date seen on the bank side (and statement closing dates) and on the
// ledger side. Its watermark, the lower of the two, is how far both sides
// have come: a window closes when the watermark passes it.
type Clock struct {
	Bank, Ledger record.Date
}

// Watermark is the lower of the two sides' times.
func (c Clock) Watermark() record.Date { return min(c.Bank, c.Ledger) }

// Advance moves side's time to at least d.
func (c *Clock) Advance(side record.Side, d record.Date) {
	if side == record.Bank {
		c.Bank = max(c.Bank, d)
	} else {
		c.Ledger = max(c.Ledger, d)
	}
}

// Of is side's time.
func (c Clock) Of(side record.Side) record.Date {
	if side == record.Bank {
		return c.Bank
	}
	return c.Ledger
}

// Change is what one batch of input does to a partition.
type Change struct {
	// From and To per topic: the batch covers offsets [From, To).
	From, To map[string]int64
	// StreamTime is the furthest the partition's time has come (either
	// side, or the idle advancement): retention counts in it. Clock is
	// each side's time.
	StreamTime record.Date
	Clock      Clock
	// RuleVersion is the version of the rules the batch was decided with
	// (stored with the offsets; 0: unversioned).
	RuleVersion int64
	Put         []*Entry // new entries: pending until CloseAt, or already broken or markers (kept until ExpireAt)
	CloseAt     map[string]record.Date
	Matched     []*Entry // entries leaving the window (matched, or duplicates reported)
	Broken      []*Entry // pending entries now reported as breaks (BreakID set)
	Restated    []*Entry // stored entries whose hold changed (new copies; kept until ExpireAt)
	ExpireAt    map[string]record.Date
	Expired     []*Entry // broken entries and markers past retention
}

// NewChange returns an empty change.
func NewChange() *Change {
	return &Change{From: map[string]int64{}, To: map[string]int64{}, CloseAt: map[string]record.Date{}, ExpireAt: map[string]record.Date{}}
}

// Until is the date a put entry is kept until.
func (c *Change) Until(e *Entry) record.Date {
	if e.Broken() || e.Marker || e.Hold != nil {
		return c.ExpireAt[e.ID]
	}
	return c.CloseAt[e.ID]
}

// Empty reports whether the change writes nothing (offsets aside).
func (c *Change) Empty() bool {
	return len(c.Put)+len(c.Matched)+len(c.Broken)+len(c.Restated)+len(c.Expired) == 0
}
