package workflow

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// MaxBreaksPerAction bounds one action (bulk actions on more are split by
// the pages; the API refuses them).
const MaxBreaksPerAction = 5000

// Act checks and records a person's action: a comment or assignment takes
// effect in the case store; a resolution goes to the matcher at once, or,
// for a write-off, an adjustment, a manual match with a difference or an
// unmatch of a signed-off match, waits for a different user with the
// approver role.
func (w *Workflow) Act(ctx context.Context, u User, req ActionRequest) (*casestore.Action, error) {
	kind := Kind(req.Action)
	if !slices.Contains(Kinds, kind) {
		var names []string
		for _, k := range Kinds {
			names = append(names, string(k))
		}
		return nil, refuse(Invalid, "bad_action", "action %q: want one of %s", req.Action, strings.Join(names, ", "))
	}
	if kind == Withdraw {
		return w.Decide(ctx, u, req.ActionID, TakeBack, req.Comment)
	}
	need := Preparer
	if kind == Reopen {
		need = Admin
	}
	if !u.has(need, Admin) {
		return nil, refuse(Forbidden, "forbidden", "%s needs the %s role; you have %s", req.Action, need, strings.Join(u.Roles, ", "))
	}
	req.BreakIDs = Distinct(req.BreakIDs)
	if len(req.BreakIDs) > MaxBreaksPerAction {
		return nil, refuse(Invalid, "too_many", "%d breaks in one action: at most %d", len(req.BreakIDs), MaxBreaksPerAction)
	}
	a := &casestore.Action{Kind: req.Action, User: u.Name, BreakIDs: req.BreakIDs, RecordIDs: Distinct(req.RecordIDs), MatchID: req.MatchID,
		ReasonCode: req.ReasonCode, Comment: strings.TrimSpace(req.Comment), Attachment: req.Attachment, Assignee: req.Assignee}
	var breaks []*casestore.Break
	var match *casestore.Match
	onMatch := kind == Confirm || kind == Reject || kind == Unmatch
	if !onMatch {
		if len(req.BreakIDs) == 0 && !(kind == ManualMatch && len(req.RecordIDs) > 0) {
			return nil, refuse(Invalid, "no_breaks", "%s names no break (break_ids)", req.Action)
		}
		for _, id := range req.BreakIDs {
			b, err := w.Store.GetBreak(ctx, id)
			if errors.Is(err, casestore.ErrNotFound) {
				return nil, refuse(NotFound, "not_found", "break %s not found", id)
			}
			if err != nil {
				return nil, err
			}
			breaks = append(breaks, b)
		}
	}
	toMatcher := true
	switch {
	case kind == Comment:
		if a.Comment == "" {
			return nil, refuse(Invalid, "no_comment", "a comment needs text")
		}
		a.Status, toMatcher = casestore.ActionDone, false
	case kind == Assign:
		a.Status, toMatcher = casestore.ActionDone, false
	case kind == Adjust:
		toMatcher = false
		if err := w.checkBreaks(ctx, a, breaks); err != nil {
			return nil, err
		}
	case onMatch:
		var err error
		if match, err = w.checkMatch(ctx, a); err != nil {
			return nil, err
		}
	default:
		if err := w.checkBreaks(ctx, a, breaks); err != nil {
			return nil, err
		}
	}
	if toMatcher || kind == Adjust {
		days, err := w.actionDays(ctx, a, breaks, match)
		if err != nil {
			return nil, err
		}
		if err := w.checkLocked(ctx, a.Account, a.Currency, days); err != nil {
			return nil, err
		}
		if kind == Unmatch {
			if err := w.unmatchNeedsApproval(ctx, a, match, days); err != nil {
				return nil, err
			}
		}
	}
	if toMatcher && a.Status == "" {
		a.Status = casestore.ActionSent
	}
	if err := w.Store.Act(ctx, a, toMatcher); err != nil {
		return nil, err
	}
	w.count(a.Kind, a.Status)
	w.Log.Info("action", "action_id", a.ActionID, "action", a.Kind, "status", a.Status, "user", a.User, "breaks", len(a.BreakIDs))
	if a.Status == casestore.ActionSent {
		if err := w.Send(ctx, a); err != nil {
			// Recorded: the sender retries until Kafka takes it.
			w.Log.Warn("resolution not sent yet; retrying in the background", "action_id", a.ActionID, "err", err)
		}
	}
	return a, nil
}

// checkBreaks checks an action on breaks: one account and currency (the
// matcher's partition), the statuses the action needs, no request already
// waiting on them; and sets what the action's kind implies.
func (w *Workflow) checkBreaks(ctx context.Context, a *casestore.Action, breaks []*casestore.Break) error {
	for _, b := range breaks {
		if a.Account == "" {
			a.Account, a.Currency = b.Account, b.Currency
		}
		if b.Account != a.Account || b.Currency != a.Currency {
			return refuse(Invalid, "mixed_accounts", "breaks of %s %s and %s %s: one action per account and currency",
				a.Account, a.Currency, b.Account, b.Currency)
		}
		want := []string{casestore.StatusOpen}
		if Kind(a.Kind) == Reopen {
			want = []string{casestore.StatusWrittenOff, casestore.StatusAccepted}
		}
		if !slices.Contains(want, b.Status) {
			return refuse(Conflict, "not_open", "break %s is %s, not %s", b.BreakID, b.Status, strings.Join(want, " or "))
		}
	}
	if pend, err := w.Store.PendingFor(ctx, a.BreakIDs); err != nil {
		return err
	} else if len(pend) > 0 {
		return refuse(Conflict, "pending_request", "%s already waits for approval on break %s", pend[0].ActionID, firstShared(pend[0].BreakIDs, a.BreakIDs))
	}
	switch Kind(a.Kind) {
	case Adjust:
		// An adjusting entry always needs a second person: it changes the books.
		if !slices.Contains(w.policy.ReasonCodes, a.ReasonCode) {
			return refuse(Invalid, "reason_code", "an adjustment needs a reason code, one of %s", strings.Join(w.policy.ReasonCodes, ", "))
		}
		if strings.TrimSpace(a.Attachment) == "" {
			return refuse(Invalid, "no_reference", "an adjustment needs the adjusting entry's journal reference (attachment)")
		}
		if done, err := w.Store.Adjusted(ctx, a.BreakIDs); err != nil {
			return err
		} else if done != nil {
			return refuse(Conflict, "adjusted", "break %s already has an approved adjustment (%s, %s)", firstShared(done.BreakIDs, a.BreakIDs),
				done.ActionID, done.Attachment)
		}
		a.Status = casestore.ActionPending
	case WriteOff, Accept:
		if !slices.Contains(w.policy.ReasonCodes, a.ReasonCode) {
			return refuse(Invalid, "reason_code", "%s needs a reason code, one of %s", a.Kind, strings.Join(w.policy.ReasonCodes, ", "))
		}
		if Kind(a.Kind) == WriteOff {
			a.Status = casestore.ActionPending // maker-checker: a different approver makes it effective
			if limit, ok := w.policy.WriteOffLimits[a.Currency]; ok {
				var total money.Decimal
				for _, b := range breaks {
					abs, _ := b.Amount.Abs()
					total, _ = total.Add(abs)
				}
				if total.Cmp(limit) <= 0 {
					a.Status = "" // under the currency's limit: no second person needed
				}
			}
		}
	case ManualMatch:
		var sum money.Decimal
		sides := map[string]int{}
		for _, b := range breaks {
			sides[b.Side]++
			var err error
			if b.Side == string(record.Bank) {
				sum, err = sum.Add(b.Amount)
			} else {
				sum, err = sum.Sub(b.Amount)
			}
			if err != nil {
				return refuse(Invalid, "amount", "amounts: %v", err)
			}
		}
		if len(a.RecordIDs) == 0 && (sides["bank"] == 0 || sides["ledger"] == 0) {
			return refuse(Invalid, "one_side", "a manual match needs a bank and a ledger item (got %d bank, %d ledger)", sides["bank"], sides["ledger"])
		}
		if len(breaks) == 0 {
			return refuse(Invalid, "no_breaks", "a manual match names breaks")
		}
		a.Difference = money.Format(sum, a.Currency)
		// A match with a difference, or with records the console cannot
		// sum, is a request with a reason code.
		if !sum.IsZero() || len(a.RecordIDs) > 0 {
			if !slices.Contains(w.policy.ReasonCodes, a.ReasonCode) {
				return refuse(Invalid, "reason_code", "a manual match with a difference of %s needs a reason code, one of %s",
					a.Difference, strings.Join(w.policy.ReasonCodes, ", "))
			}
			a.Status = casestore.ActionPending
		}
	}
	return nil
}

// checkMatch checks a confirm, reject or unmatch of a match and returns
// the match.
func (w *Workflow) checkMatch(ctx context.Context, a *casestore.Action) (*casestore.Match, error) {
	if a.MatchID == "" {
		return nil, refuse(Invalid, "no_match", "%s names no match (match_id)", a.Kind)
	}
	m, err := w.Store.GetMatch(ctx, a.MatchID)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, refuse(NotFound, "not_found", "match %s not found", a.MatchID)
	}
	if err != nil {
		return nil, err
	}
	a.Account, a.Currency = m.Account, m.Currency
	switch Kind(a.Kind) {
	case Confirm, Reject:
		if m.Status != string(record.Proposed) {
			return nil, refuse(Conflict, "not_proposed", "match %s is %s, not proposed", m.MatchID, m.Status)
		}
	case Unmatch:
		if m.Status != string(record.Confirmed) {
			return nil, refuse(Conflict, "not_undoable", "match %s is %s: only a manual or confirmed match can be undone", m.MatchID, m.Status)
		}
		if a.Comment == "" && a.ReasonCode == "" {
			return nil, refuse(Invalid, "no_reason", "an unmatch needs a reason (comment or reason_code)")
		}
	}
	return m, nil
}

// unmatchNeedsApproval makes an unmatch a request when the match was
// signed off: approved by a second person when it was made, or on a day
// whose sign-off an admin reopened. Undoing what a checker (or a
// sign-off) certified needs a checker again.
func (w *Workflow) unmatchNeedsApproval(ctx context.Context, a *casestore.Action, m *casestore.Match, days []record.Date) error {
	by, err := w.Store.MatchApprovedBy(ctx, m.MatchID)
	if err != nil {
		return err
	}
	so, err := w.Store.Reopened(ctx, a.Account, a.Currency, days...)
	if err != nil {
		return err
	}
	if by != "" || so != nil {
		a.Status = casestore.ActionPending
	}
	return nil
}

// Decide approves or rejects a request (a different user with the
// approver role) or withdraws it (its requester). An approved resolution
// goes to the matcher; an approved sign-off or adjustment takes effect in
// the case store.
func (w *Workflow) Decide(ctx context.Context, u User, actionID string, decision Decision, comment string) (*casestore.Action, error) {
	a, err := w.Store.Action(ctx, actionID)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, refuse(NotFound, "not_found", "request %s not found", actionID)
	}
	if err != nil {
		return nil, err
	}
	var status string
	switch decision {
	case TakeBack:
		status = casestore.ActionWithdrawn
		if a.User != u.Name {
			return nil, refuse(Forbidden, "not_requester", "only %s, who requested %s, can withdraw it", a.User, actionID)
		}
	case Approve, Decline:
		status = casestore.ActionRejected
		if !u.has(Approver) {
			return nil, refuse(Forbidden, "forbidden", "deciding a request needs the approver role; you have %s", strings.Join(u.Roles, ", "))
		}
		if a.User == u.Name {
			return nil, refuse(Forbidden, "own_request", "you requested %s: a different approver must decide it", actionID)
		}
		if decision == Approve {
			status = casestore.ActionSent
			if k := Kind(a.Kind); k == Signoff || k == Adjust || k == RulesChange {
				status = casestore.ActionApplied // nothing for the matcher: the days are locked, the adjustment recorded
			}
			if a.Status == casestore.ActionPending {
				if Kind(a.Kind) == Signoff {
					if err := w.checkSignoffStill(ctx, a); err != nil {
						return nil, err
					}
				} else if err := w.checkLockedRequest(ctx, a); err != nil {
					return nil, err // the day was signed off while the request waited
				}
			}
		}
	default:
		return nil, refuse(Invalid, "bad_decision", "decision %q: want approve or reject", decision)
	}
	d, err := w.Store.Decide(ctx, actionID, u.Name, string(decision), status, strings.TrimSpace(comment))
	if errors.Is(err, casestore.ErrConflict) {
		return nil, refuse(Conflict, "not_pending", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	w.count(d.Kind, d.Status)
	w.Log.Info("request decided", "action_id", actionID, "decision", decision, "user", u.Name)
	if d.Status == casestore.ActionSent {
		if err := w.Send(ctx, d); err != nil {
			w.Log.Warn("resolution not sent yet; retrying in the background", "action_id", d.ActionID, "err", err)
		}
	}
	if Kind(d.Kind) == Signoff && d.Status == casestore.ActionApplied {
		w.Published(ctx)
	}
	if Kind(d.Kind) == RulesChange && d.Status == casestore.ActionApplied && w.Rules != nil {
		w.activate(ctx, d)
	}
	return d, nil
}

// actionDays are the booking dates an action touches: of its breaks, of
// its match's members and of the open records it names.
func (w *Workflow) actionDays(ctx context.Context, a *casestore.Action, breaks []*casestore.Break, m *casestore.Match) ([]record.Date, error) {
	days := lockDays(breaks, m)
	if len(a.RecordIDs) == 0 {
		return days, nil
	}
	rdays, err := w.Store.RecordDays(ctx, a.Account, a.Currency, a.RecordIDs)
	return append(days, rdays...), err
}

// lockDays are the booking dates of the breaks and of the match's members
// that an action touches.
func lockDays(breaks []*casestore.Break, m *casestore.Match) []record.Date {
	var days []record.Date
	for _, b := range breaks {
		days = append(days, b.BookingDate)
	}
	if m != nil {
		for _, it := range append(append([]casestore.MatchItem{}, m.Bank...), m.Ledger...) {
			if d, err := record.ParseDate(it.BookingDate); err == nil {
				days = append(days, d)
			}
		}
	}
	return days
}

// checkLockedRequest refuses to approve a request that touches an item of
// a day signed off since it was made.
func (w *Workflow) checkLockedRequest(ctx context.Context, a *casestore.Action) error {
	var breaks []*casestore.Break
	for _, id := range a.BreakIDs {
		b, err := w.Store.GetBreak(ctx, id)
		if err != nil {
			return err
		}
		breaks = append(breaks, b)
	}
	var m *casestore.Match
	if a.MatchID != "" {
		var err error
		if m, err = w.Store.GetMatch(ctx, a.MatchID); err != nil {
			return err
		}
	}
	days, err := w.actionDays(ctx, a, breaks, m)
	if err != nil {
		return err
	}
	return w.checkLocked(ctx, a.Account, a.Currency, days)
}

// Distinct returns ids trimmed, without blanks and repeats, in order.
func Distinct(ids []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func firstShared(a, b []string) string {
	for _, x := range a {
		if slices.Contains(b, x) {
			return x
		}
	}
	return ""
}
