package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// ActionRequest is the body of POST /api/v1/actions (and of the pages'
// forms).
type ActionRequest struct {
	Action     string   `json:"action"`
	BreakIDs   []string `json:"break_ids"`
	RecordIDs  []string `json:"record_ids"`
	MatchID    string   `json:"match_id"`
	ActionID   string   `json:"action_id"` // withdraw: the pending request
	ReasonCode string   `json:"reason_code"`
	Comment    string   `json:"comment"`
	Attachment string   `json:"attachment"`
	Assignee   string   `json:"assignee"`
}

// Kinds of action (docs/design.md §9).
var kinds = []string{"manual_match", "unmatch", "confirm", "reject", "write_off", "accept", casestore.KindAdjust, "comment", "assign", "reopen", "withdraw"}

// actionError is an action refused before anything was recorded, with its
// HTTP status and error code.
type actionError struct {
	status int
	code   string
	msg    string
}

func (e *actionError) Error() string { return e.msg }

func refuse(status int, code, format string, a ...any) error {
	return &actionError{status, code, fmt.Sprintf(format, a...)}
}

// maxBreaksPerAction bounds one action (bulk actions on more are split by
// the pages; the API refuses them).
const maxBreaksPerAction = 5000

// act checks and records a person's action: a comment or assignment takes
// effect in the case store; a resolution goes to the matcher at once, or,
// for a write-off, an adjustment, a manual match with a difference or an
// unmatch of a signed-off match, waits for a different user with the
// approver role.
func (s *Service) act(ctx context.Context, ss *casestore.Session, req ActionRequest) (*casestore.Action, error) {
	if !slices.Contains(kinds, req.Action) {
		return nil, refuse(http.StatusBadRequest, "bad_action", "action %q: want one of %s", req.Action, strings.Join(kinds, ", "))
	}
	if req.Action == "withdraw" {
		return s.decide(ctx, ss, req.ActionID, "withdraw", req.Comment)
	}
	need := RolePreparer
	if req.Action == "reopen" {
		need = RoleAdmin
	}
	if !has(ss, need, RoleAdmin) {
		return nil, refuse(http.StatusForbidden, "forbidden", "%s needs the %s role; you have %s", req.Action, need, strings.Join(ss.Roles, ", "))
	}
	req.BreakIDs = dedupe(req.BreakIDs)
	if len(req.BreakIDs) > maxBreaksPerAction {
		return nil, refuse(http.StatusBadRequest, "too_many", "%d breaks in one action: at most %d", len(req.BreakIDs), maxBreaksPerAction)
	}
	a := &casestore.Action{Kind: req.Action, User: ss.User, BreakIDs: req.BreakIDs, RecordIDs: dedupe(req.RecordIDs), MatchID: req.MatchID,
		ReasonCode: req.ReasonCode, Comment: strings.TrimSpace(req.Comment), Attachment: req.Attachment, Assignee: req.Assignee}
	var breaks []*casestore.Break
	var match *casestore.Match
	if req.Action != "confirm" && req.Action != "reject" && req.Action != "unmatch" {
		if len(req.BreakIDs) == 0 && !(req.Action == "manual_match" && len(req.RecordIDs) > 0) {
			return nil, refuse(http.StatusBadRequest, "no_breaks", "%s names no break (break_ids)", req.Action)
		}
		for _, id := range req.BreakIDs {
			b, err := s.store.GetBreak(ctx, id)
			if errors.Is(err, casestore.ErrNotFound) {
				return nil, refuse(http.StatusNotFound, "not_found", "break %s not found", id)
			}
			if err != nil {
				return nil, err
			}
			breaks = append(breaks, b)
		}
	}
	toMatcher := true
	switch req.Action {
	case "comment":
		if a.Comment == "" {
			return nil, refuse(http.StatusBadRequest, "no_comment", "a comment needs text")
		}
		a.Status, toMatcher = casestore.ActionDone, false
	case "assign":
		a.Status, toMatcher = casestore.ActionDone, false
	case casestore.KindAdjust:
		toMatcher = false
		if err := s.checkBreaks(ctx, a, breaks); err != nil {
			return nil, err
		}
	case "confirm", "reject", "unmatch":
		var err error
		if match, err = s.checkMatch(ctx, a); err != nil {
			return nil, err
		}
	default:
		if err := s.checkBreaks(ctx, a, breaks); err != nil {
			return nil, err
		}
	}
	if toMatcher || a.Kind == casestore.KindAdjust {
		days, err := s.actionDays(ctx, a, breaks, match)
		if err != nil {
			return nil, err
		}
		if err := s.checkLocked(ctx, a.Account, a.Currency, days); err != nil {
			return nil, err
		}
		if a.Kind == "unmatch" {
			if err := s.unmatchNeedsApproval(ctx, a, match, days); err != nil {
				return nil, err
			}
		}
	}
	if toMatcher && a.Status == "" {
		a.Status = casestore.ActionSent
	}
	if err := s.store.Act(ctx, a, toMatcher); err != nil {
		return nil, err
	}
	s.m.actions.WithLabelValues(a.Kind, a.Status).Inc()
	s.log.Info("action", "action_id", a.ActionID, "action", a.Kind, "status", a.Status, "user", a.User, "breaks", len(a.BreakIDs))
	if a.Status == casestore.ActionSent {
		if err := s.send(ctx, a); err != nil {
			// Recorded: the sender retries until Kafka takes it.
			s.log.Warn("resolution not sent yet; retrying in the background", "action_id", a.ActionID, "err", err)
		}
	}
	return a, nil
}

// checkBreaks checks an action on breaks: one account and currency (the
// matcher's partition), the statuses the action needs, no request already
// waiting on them; and sets what the action's kind implies.
func (s *Service) checkBreaks(ctx context.Context, a *casestore.Action, breaks []*casestore.Break) error {
	for _, b := range breaks {
		if a.Account == "" {
			a.Account, a.Currency = b.Account, b.Currency
		}
		if b.Account != a.Account || b.Currency != a.Currency {
			return refuse(http.StatusBadRequest, "mixed_accounts", "breaks of %s %s and %s %s: one action per account and currency",
				a.Account, a.Currency, b.Account, b.Currency)
		}
		want := []string{casestore.StatusOpen}
		if a.Kind == "reopen" {
			want = []string{casestore.StatusWrittenOff, casestore.StatusAccepted}
		}
		if !slices.Contains(want, b.Status) {
			return refuse(http.StatusConflict, "not_open", "break %s is %s, not %s", b.BreakID, b.Status, strings.Join(want, " or "))
		}
	}
	if pend, err := s.store.PendingFor(ctx, a.BreakIDs); err != nil {
		return err
	} else if len(pend) > 0 {
		return refuse(http.StatusConflict, "pending_request", "%s already waits for approval on break %s", pend[0].ActionID, firstShared(pend[0].BreakIDs, a.BreakIDs))
	}
	switch a.Kind {
	case casestore.KindAdjust:
		// An adjusting entry always needs a second person: it changes the books.
		if !slices.Contains(s.cfg.ReasonCodes, a.ReasonCode) {
			return refuse(http.StatusBadRequest, "reason_code", "an adjustment needs a reason code, one of %s", strings.Join(s.cfg.ReasonCodes, ", "))
		}
		if strings.TrimSpace(a.Attachment) == "" {
			return refuse(http.StatusBadRequest, "no_reference", "an adjustment needs the adjusting entry's journal reference (attachment)")
		}
		if done, err := s.store.Adjusted(ctx, a.BreakIDs); err != nil {
			return err
		} else if done != nil {
			return refuse(http.StatusConflict, "adjusted", "break %s already has an approved adjustment (%s, %s)", firstShared(done.BreakIDs, a.BreakIDs),
				done.ActionID, done.Attachment)
		}
		a.Status = casestore.ActionPending
	case "write_off", "accept":
		if !slices.Contains(s.cfg.ReasonCodes, a.ReasonCode) {
			return refuse(http.StatusBadRequest, "reason_code", "%s needs a reason code, one of %s", a.Kind, strings.Join(s.cfg.ReasonCodes, ", "))
		}
		if a.Kind == "write_off" {
			a.Status = casestore.ActionPending // maker-checker: a different approver makes it effective
			if limit, ok := s.limits[a.Currency]; ok {
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
	case "manual_match":
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
				return refuse(http.StatusBadRequest, "amount", "amounts: %v", err)
			}
		}
		if len(a.RecordIDs) == 0 && (sides["bank"] == 0 || sides["ledger"] == 0) {
			return refuse(http.StatusBadRequest, "one_side", "a manual match needs a bank and a ledger item (got %d bank, %d ledger)", sides["bank"], sides["ledger"])
		}
		if len(breaks) == 0 {
			return refuse(http.StatusBadRequest, "no_breaks", "a manual match names breaks")
		}
		a.Difference = money.Format(sum, a.Currency)
		// A match with a difference, or with records the console cannot
		// sum, is a request with a reason code.
		if !sum.IsZero() || len(a.RecordIDs) > 0 {
			if !slices.Contains(s.cfg.ReasonCodes, a.ReasonCode) {
				return refuse(http.StatusBadRequest, "reason_code", "a manual match with a difference of %s needs a reason code, one of %s",
					a.Difference, strings.Join(s.cfg.ReasonCodes, ", "))
			}
			a.Status = casestore.ActionPending
		}
	}
	return nil
}

// checkMatch checks a confirm, reject or unmatch of a match and returns
// the match.
func (s *Service) checkMatch(ctx context.Context, a *casestore.Action) (*casestore.Match, error) {
	if a.MatchID == "" {
		return nil, refuse(http.StatusBadRequest, "no_match", "%s names no match (match_id)", a.Kind)
	}
	m, err := s.store.GetMatch(ctx, a.MatchID)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, refuse(http.StatusNotFound, "not_found", "match %s not found", a.MatchID)
	}
	if err != nil {
		return nil, err
	}
	a.Account, a.Currency = m.Account, m.Currency
	switch a.Kind {
	case "confirm", "reject":
		if m.Status != string(record.Proposed) {
			return nil, refuse(http.StatusConflict, "not_proposed", "match %s is %s, not proposed", m.MatchID, m.Status)
		}
	case "unmatch":
		if m.Status != string(record.Confirmed) {
			return nil, refuse(http.StatusConflict, "not_undoable", "match %s is %s: only a manual or confirmed match can be undone", m.MatchID, m.Status)
		}
		if a.Comment == "" && a.ReasonCode == "" {
			return nil, refuse(http.StatusBadRequest, "no_reason", "an unmatch needs a reason (comment or reason_code)")
		}
	}
	return m, nil
}

// unmatchNeedsApproval makes an unmatch a request when the match was
// signed off: approved by a second person when it was made, or on a day
// whose sign-off an admin reopened. Undoing what a checker (or a
// sign-off) certified needs a checker again.
func (s *Service) unmatchNeedsApproval(ctx context.Context, a *casestore.Action, m *casestore.Match, days []record.Date) error {
	by, err := s.store.MatchApprovedBy(ctx, m.MatchID)
	if err != nil {
		return err
	}
	so, err := s.store.Reopened(ctx, a.Account, a.Currency, days...)
	if err != nil {
		return err
	}
	if by != "" || so != nil {
		a.Status = casestore.ActionPending
	}
	return nil
}

// decide approves or rejects a request (a different user with the
// approver role) or withdraws it (its requester).
func (s *Service) decide(ctx context.Context, ss *casestore.Session, actionID, decision, comment string) (*casestore.Action, error) {
	a, err := s.store.Action(ctx, actionID)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, refuse(http.StatusNotFound, "not_found", "request %s not found", actionID)
	}
	if err != nil {
		return nil, err
	}
	switch decision {
	case "withdraw":
		if a.User != ss.User {
			return nil, refuse(http.StatusForbidden, "not_requester", "only %s, who requested %s, can withdraw it", a.User, actionID)
		}
	case "approve", "reject":
		if !has(ss, RoleApprover) {
			return nil, refuse(http.StatusForbidden, "forbidden", "deciding a request needs the approver role; you have %s", strings.Join(ss.Roles, ", "))
		}
		if a.User == ss.User {
			return nil, refuse(http.StatusForbidden, "own_request", "you requested %s: a different approver must decide it", actionID)
		}
		if decision == "approve" && a.Status == casestore.ActionPending {
			if a.Kind == casestore.KindSignoff {
				if err := s.checkSignoffStill(ctx, a); err != nil {
					return nil, err
				}
			} else if err := s.checkLockedRequest(ctx, a); err != nil {
				return nil, err // the day was signed off while the request waited
			}
		}
	default:
		return nil, refuse(http.StatusBadRequest, "bad_decision", "decision %q: want approve or reject", decision)
	}
	d, err := s.store.Decide(ctx, actionID, ss.User, decision, strings.TrimSpace(comment))
	if errors.Is(err, casestore.ErrConflict) {
		return nil, refuse(http.StatusConflict, "not_pending", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	s.m.actions.WithLabelValues(d.Kind, d.Status).Inc()
	s.log.Info("request decided", "action_id", actionID, "decision", decision, "user", ss.User)
	if d.Status == casestore.ActionSent {
		if err := s.send(ctx, d); err != nil {
			s.log.Warn("resolution not sent yet; retrying in the background", "action_id", d.ActionID, "err", err)
		}
	}
	if d.Kind == casestore.KindSignoff && d.Status == casestore.ActionApplied {
		s.publishNow(ctx)
	}
	return d, nil
}

// actionDays are the booking dates an action touches: of its breaks, of
// its match's members and of the open records it names.
func (s *Service) actionDays(ctx context.Context, a *casestore.Action, breaks []*casestore.Break, m *casestore.Match) ([]record.Date, error) {
	days := lockDays(breaks, m)
	if len(a.RecordIDs) == 0 {
		return days, nil
	}
	rdays, err := s.store.RecordDays(ctx, a.Account, a.Currency, a.RecordIDs)
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
func (s *Service) checkLockedRequest(ctx context.Context, a *casestore.Action) error {
	var breaks []*casestore.Break
	for _, id := range a.BreakIDs {
		b, err := s.store.GetBreak(ctx, id)
		if err != nil {
			return err
		}
		breaks = append(breaks, b)
	}
	var m *casestore.Match
	if a.MatchID != "" {
		var err error
		if m, err = s.store.GetMatch(ctx, a.MatchID); err != nil {
			return err
		}
	}
	days, err := s.actionDays(ctx, a, breaks, m)
	if err != nil {
		return err
	}
	return s.checkLocked(ctx, a.Account, a.Currency, days)
}

func dedupe(ids []string) []string {
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
