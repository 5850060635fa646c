package decide

import (
	"fmt"
	"slices"
	"strings"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

// ManualRule is the rule name of a match a person made.
const ManualRule = "manual"

// ManualMax is the most records one manual match may join.
const ManualMax = 500

// hold keeps e in the window under a person's hold instead of letting it
// leave: a stored entry is restated, one of this batch is put held.
func (b *batch) hold(e *window.Entry, h *window.Hold) {
	if b.removed[e.ID] && b.restated[e.ID] != e {
		return
	}
	c := *e
	c.Hold = h
	if b.local[e.ID] != nil {
		b.removed[e.ID] = true
		b.ch.ExpireAt[c.ID] = b.holdUntil(&c)
		b.heldLocal = append(b.heldLocal, &c)
		return
	}
	b.restate(e, &c)
}

// holdUntil is how long a held or broken entry is kept: a proposal until a
// person decides; everything else for the retention, counted from now in
// stream time (so it can still be undone or reopened).
func (b *batch) holdUntil(e *window.Entry) record.Date {
	if e.Hold != nil && e.Hold.Kind == window.HoldProposed {
		return EndOfTime - 1
	}
	return max(b.eng.CloseDate(e.Rec), b.streamTime) + record.Date(b.cfg.RetentionDays)
}

// restate replaces stored entry e by c (a changed copy) in the window. A
// later resolution of the same batch sees the copy (lookup, held).
func (b *batch) restate(e, c *window.Entry) {
	b.removed[e.ID] = true
	b.ch.ExpireAt[c.ID] = b.holdUntil(c)
	b.ch.Restated = append(b.ch.Restated, c)
	if b.restated == nil {
		b.restated, b.restatedBreak, b.restatedHold = map[string]*window.Entry{}, map[string]*window.Entry{}, map[string][]*window.Entry{}
	}
	b.restated[c.ID] = c
	if c.BreakID != "" {
		b.restatedBreak[c.BreakID] = c
	}
	if c.Hold != nil {
		b.restatedHold[c.Hold.ID] = append(b.restatedHold[c.Hold.ID], c)
	}
}

// lookup is the entry of a record or break id as this batch's resolutions
// left it: the restated copy if there is one, nil if it left the window.
func (b *batch) lookup(id string, isBreak bool) *window.Entry {
	if isBreak {
		if c := b.restatedBreak[id]; c != nil && b.restated[c.ID] == c {
			return c
		}
		e := b.w.ByBreak(id)
		if e == nil {
			return nil
		}
		if c := b.restated[e.ID]; c != nil {
			if c.BreakID == id {
				return c
			}
			return nil
		}
		if b.removed[e.ID] {
			return nil
		}
		return e
	}
	if c := b.restated[id]; c != nil {
		return c
	}
	if e := b.w.Get(id); e != nil && !b.removed[e.ID] {
		return e
	}
	return nil
}

// held is the entries held under a match id, as this batch left them.
func (b *batch) held(id string) []*window.Entry {
	var out []*window.Entry
	for _, e := range b.w.Held(id) {
		if b.restated[e.ID] == nil && !b.removed[e.ID] {
			out = append(out, e)
		}
	}
	for _, c := range b.restatedHold[id] {
		if b.restated[c.ID] == c && c.Hold.ID == id {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y *window.Entry) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// resolve applies a person's resolution, all of it or (with the reason)
// none of it, and outputs its outcome after what it caused.
func (b *batch) resolve(r *record.Resolution) {
	o := record.OutcomeOf(r)
	o.MatchID = r.MatchID
	detail, ok := b.tryResolve(r, o)
	o.Applied, o.Detail = ok, detail
	if !ok {
		o.MatchStatus, o.Breaks = "", nil
	}
	b.res.Counts.Resolutions[Resolved{r.Action, ok}]++
	b.res.Outputs = append(b.res.Outputs, Output{Outcome: o})
}

// tryResolve checks every target of r first and changes nothing when one
// is refused.
func (b *batch) tryResolve(r *record.Resolution, o *record.Outcome) (string, bool) {
	switch r.Action {
	case record.ActManualMatch:
		return b.manualMatch(r, o)
	case record.ActConfirm, record.ActReject, record.ActUnmatch:
		return b.decideMatch(r, o)
	case record.ActWriteOff, record.ActAccept, record.ActReopen:
		return b.closeBreaks(r, o)
	}
	return fmt.Sprintf("unknown action %q", r.Action), false
}

// open finds an entry open for a person's action by record id or break id,
// or says why it is not.
func (b *batch) open(r *record.Resolution, id string, isBreak bool) (*window.Entry, string) {
	what, e := "record "+id, b.lookup(id, isBreak)
	if isBreak {
		what = "break " + id
	}
	if e == nil || e.Marker {
		return nil, fmt.Sprintf("%s is not open in the matcher (already matched, closed, past its %d-day retention, or unknown)",
			what, b.cfg.RetentionDays)
	}
	if e.Account != r.Account || e.Currency != r.Currency {
		return nil, fmt.Sprintf("%s belongs to %s %s, not %s %s", what, e.Account, e.Currency, r.Account, r.Currency)
	}
	if e.Open() {
		return e, ""
	}
	switch e.Hold.Kind {
	case window.HoldProposed:
		return nil, fmt.Sprintf("%s is in proposed match %s: confirm or reject that first", what, e.Hold.ID)
	case window.HoldMatched:
		return nil, fmt.Sprintf("%s is already matched (%s)", what, e.Hold.ID)
	case window.HoldWrittenOff:
		return nil, fmt.Sprintf("%s is written off (%s)", what, e.Hold.ID)
	case window.HoldAccepted:
		return nil, fmt.Sprintf("%s is accepted (%s)", what, e.Hold.ID)
	}
	return nil, what + " is held"
}

// manualMatch matches the named breaks and open records together.
func (b *batch) manualMatch(r *record.Resolution, o *record.Outcome) (string, bool) {
	var es []*window.Entry
	seen := map[string]bool{}
	take := func(id string, isBreak bool) string {
		e, why := b.open(r, id, isBreak)
		if why != "" {
			return why
		}
		if !seen[e.ID] {
			seen[e.ID] = true
			es = append(es, e)
		}
		return ""
	}
	for _, id := range r.BreakIDs {
		if why := take(id, true); why != "" {
			return why, false
		}
	}
	for _, id := range r.RecordIDs {
		if why := take(id, false); why != "" {
			return why, false
		}
	}
	if len(es) > ManualMax {
		return fmt.Sprintf("a manual match joins at most %d records, not %d", ManualMax, len(es)), false
	}
	g, err := groupOf(es, ManualRule, 10000)
	if err != nil {
		return "amounts: " + err.Error(), false
	}
	if len(g.Bank) == 0 || len(g.Ledger) == 0 {
		return fmt.Sprintf("a manual match needs a bank and a ledger record (got %d bank, %d ledger)", len(g.Bank), len(g.Ledger)), false
	}
	g.Explanation = explain("matched by", r)
	m := b.applyHeld(g, &window.Hold{Kind: window.HoldMatched, Rule: ManualRule, Confidence: 10000})
	o.MatchID, o.MatchStatus = m.MatchID, string(record.Confirmed)
	for _, e := range es {
		if e.BreakID != "" {
			o.Breaks = append(o.Breaks, record.BreakState{BreakID: e.BreakID, RecordID: e.ID, Status: record.BreakMatched})
		}
	}
	return fmt.Sprintf("matched %d bank and %d ledger records as %s, difference %s",
		len(g.Bank), len(g.Ledger), m.MatchID, money.Format(g.Difference, r.Currency)), true
}

// decideMatch confirms or rejects a proposed match, or undoes a manual or
// confirmed one.
func (b *batch) decideMatch(r *record.Resolution, o *record.Outcome) (string, bool) {
	es := b.held(r.MatchID)
	want := window.HoldProposed
	if r.Action == record.ActUnmatch {
		want = window.HoldMatched
	}
	if len(es) == 0 {
		if r.Action == record.ActUnmatch {
			return fmt.Sprintf("match %s is not held by the matcher: only a manual or confirmed match can be undone, within %d days",
				r.MatchID, b.cfg.RetentionDays), false
		}
		return fmt.Sprintf("match %s is not waiting for a decision (already decided, or unknown)", r.MatchID), false
	}
	if es[0].Account != r.Account || es[0].Currency != r.Currency {
		return fmt.Sprintf("match %s belongs to %s %s, not %s %s", r.MatchID, es[0].Account, es[0].Currency, r.Account, r.Currency), false
	}
	if k := es[0].Hold.Kind; k != want {
		switch k {
		case window.HoldOpen:
			return fmt.Sprintf("match %s is not waiting for a decision (already rejected or undone)", r.MatchID), false
		case window.HoldProposed:
			return fmt.Sprintf("match %s is only proposed: reject it instead", r.MatchID), false
		}
		return fmt.Sprintf("match %s is not waiting for a decision (it is confirmed)", r.MatchID), false
	}
	if r.Action == record.ActConfirm {
		return b.confirm(r, o, es)
	}
	// Reject or unmatch: the members become breaks again (their own break
	// id if they had one), open for a person; the rules never pair them
	// by themselves again.
	status := record.MatchRejected
	if r.Action == record.ActUnmatch {
		status = record.MatchUnmatched
	}
	o.MatchStatus = status
	for _, e := range es {
		c := *e
		c.Hold = &window.Hold{Kind: window.HoldOpen, ID: r.MatchID}
		if c.BreakID == "" {
			c.BreakID = record.BreakID(c.Item, record.Unmatched)
			var cands []record.Candidate
			for _, x := range es {
				if x.Side != e.Side {
					cands = append(cands, record.Candidate{ID: x.ID, Currency: x.Currency, Amount: x.Amount, BookingDate: x.BookingDate,
						Reference: x.Reference, Score: e.Hold.Confidence, Note: fmt.Sprintf("%s match %s (rule %s) %s by %s",
							map[bool]string{true: "proposed", false: "confirmed"}[e.Hold.Kind == window.HoldProposed],
							r.MatchID, e.Hold.Rule, status, r.User)})
				}
			}
			b.emitBreak(&record.Break{BreakID: c.BreakID, Side: c.Side, Reason: record.Unmatched, Account: c.Account,
				Currency: c.Currency, Record: c.Item, Candidates: cands, WindowClosedAt: b.eng.CloseDate(c.Rec)})
		}
		b.restate(e, &c)
		o.Breaks = append(o.Breaks, record.BreakState{BreakID: c.BreakID, RecordID: c.ID, Status: record.BreakOpen})
	}
	return fmt.Sprintf("match %s %s: %d records open again as breaks", r.MatchID, status, len(es)), true
}

// confirm makes a proposed match final and outputs it again as confirmed
// (the same members, so the same match id).
func (b *batch) confirm(r *record.Resolution, o *record.Outcome, es []*window.Entry) (string, bool) {
	h := es[0].Hold
	g, err := groupOf(es, h.Rule, record.Confidence(h.Confidence))
	if err != nil {
		return "amounts: " + err.Error(), false // cannot happen for a match the rules made
	}
	g.Explanation = explain("confirmed by", r)
	for _, e := range es {
		if e.BreakID != "" {
			o.Breaks = append(o.Breaks, record.BreakState{BreakID: e.BreakID, RecordID: e.ID, Status: record.BreakMatched})
		}
	}
	m := b.applyHeld(g, &window.Hold{Kind: window.HoldMatched, Rule: h.Rule, Confidence: h.Confidence})
	o.MatchStatus = string(record.Confirmed)
	return fmt.Sprintf("match %s confirmed", m.MatchID), true
}

// groupOf is a person's match of entries: bank and ledger members by id,
// confirmed, with the difference of their sums.
func groupOf(es []*window.Entry, rule string, conf record.Confidence) (*engine.Group, error) {
	g := &engine.Group{Rule: rule, Confidence: conf, Status: record.Confirmed}
	for _, e := range es {
		if e.Side == record.Bank {
			g.Bank = append(g.Bank, e.Rec)
		} else {
			g.Ledger = append(g.Ledger, e.Rec)
		}
	}
	byID := func(x, y *engine.Rec) int { return strings.Compare(x.ID, y.ID) }
	slices.SortFunc(g.Bank, byID)
	slices.SortFunc(g.Ledger, byID)
	var err error
	g.Difference, err = difference(g.Bank, g.Ledger)
	return g, err
}

// closeBreaks writes off, accepts or reopens breaks. A break whose record
// the window no longer holds (a duplicate, or past retention) can still be
// closed and reopened: nothing in the window can match it any more.
func (b *batch) closeBreaks(r *record.Resolution, o *record.Outcome) (string, bool) {
	if len(r.BreakIDs) == 0 {
		return "no break named", false
	}
	kind, status := window.HoldWrittenOff, record.BreakWrittenOff
	switch r.Action {
	case record.ActAccept:
		kind, status = window.HoldAccepted, record.BreakAccepted
	case record.ActReopen:
		status = record.BreakOpen
	}
	type target struct {
		id string
		e  *window.Entry // nil: not in the window
	}
	var ts []target
	named := map[string]bool{}
	for _, id := range r.BreakIDs {
		if named[id] {
			return fmt.Sprintf("break %s is named twice", id), false
		}
		named[id] = true
		e := b.lookup(id, true)
		if e == nil && b.w.ByBreak(id) != nil {
			return fmt.Sprintf("break %s was matched by an earlier resolution of this batch", id), false
		}
		switch {
		case e == nil:
		case e.Account != r.Account || e.Currency != r.Currency:
			return fmt.Sprintf("break %s belongs to %s %s, not %s %s", id, e.Account, e.Currency, r.Account, r.Currency), false
		case r.Action == record.ActReopen:
			if e.Hold == nil || (e.Hold.Kind != window.HoldWrittenOff && e.Hold.Kind != window.HoldAccepted) {
				return fmt.Sprintf("break %s is not written off or accepted", id), false
			}
		default:
			if _, why := b.open(r, e.ID, false); why != "" {
				return strings.Replace(why, "record "+e.ID, "break "+id, 1), false
			}
		}
		ts = append(ts, target{id, e})
	}
	outside := 0
	for _, t := range ts {
		rid := ""
		if t.e == nil {
			outside++
		} else {
			rid = t.e.ID
			c := *t.e
			c.Hold = nil
			if r.Action != record.ActReopen {
				c.Hold = &window.Hold{Kind: kind, ID: r.ResolutionID, Rule: r.ReasonCode}
			}
			b.restate(t.e, &c)
		}
		o.Breaks = append(o.Breaks, record.BreakState{BreakID: t.id, RecordID: rid, Status: status})
	}
	d := fmt.Sprintf("%d breaks %s", len(ts), strings.ReplaceAll(status, "_", " "))
	if r.Action == record.ActReopen {
		d = fmt.Sprintf("%d breaks reopened", len(ts))
	}
	if outside > 0 {
		d += fmt.Sprintf(" (%d no longer in the matcher's window: a duplicate, or past retention)", outside)
	}
	return d, true
}

// difference is the bank sum minus the ledger sum.
func difference(bank, ledger []*engine.Rec) (money.Decimal, error) {
	var sum money.Decimal
	var err error
	for _, x := range bank {
		if sum, err = sum.Add(x.Amount); err != nil {
			return sum, err
		}
	}
	for _, x := range ledger {
		if sum, err = sum.Sub(x.Amount); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// explain is a person's match explanation: who, and why.
func explain(verb string, r *record.Resolution) string {
	s := verb + " " + r.User
	if r.ApprovedBy != "" {
		s += ", approved by " + r.ApprovedBy
	}
	if r.ReasonCode != "" {
		s += "; reason " + r.ReasonCode
	}
	if r.Comment != "" {
		s += ": " + r.Comment
	}
	return s
}
