package casestore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Workflow data lives only in the case store (docs/design.md §9): people's
// actions and requests (case_actions, with the breaks each names in
// case_action_breaks), comments, the audit chain and sign-in sessions.
//
// Tables:
//
//	case_actions        one row per action or request, with its status
//	case_action_breaks  break -> the actions that named it (its history)
//	case_comments       comments on breaks
//	case_audit          the audit chain: seq, canonical JSON entry, previous hash, hash
//	case_sessions       console sessions by the hash of their cookie

// Action statuses.
const (
	ActionPending   = "pending_approval" // a request waiting for a different approver
	ActionSent      = "sent"             // a resolution on its way to the matcher
	ActionApplied   = "applied"          // the matcher applied it
	ActionRefused   = "refused"          // the matcher refused it (OutcomeDetail says why)
	ActionRejected  = "rejected"         // an approver rejected the request
	ActionWithdrawn = "withdrawn"        // its requester withdrew the request
	ActionDone      = "done"             // a comment or assignment: the case store is all it changes
)

// Action is a person's action or request.
type Action struct {
	ActionID        string    `json:"action_id"`
	Kind            string    `json:"action"`
	Status          string    `json:"status"`
	User            string    `json:"user"`
	Account         string    `json:"account,omitempty"`
	Currency        string    `json:"currency,omitempty"`
	BreakIDs        []string  `json:"break_ids"`
	RecordIDs       []string  `json:"record_ids,omitempty"`
	MatchID         string    `json:"match_id,omitempty"`
	ReasonCode      string    `json:"reason_code,omitempty"`
	Comment         string    `json:"comment,omitempty"`
	Attachment      string    `json:"attachment,omitempty"`
	Assignee        string    `json:"assignee,omitempty"`
	Difference      string    `json:"difference,omitempty"` // for a manual match: bank minus ledger
	RequestedAt     time.Time `json:"requested_at"`
	DecidedBy       string    `json:"decided_by,omitempty"`
	DecisionComment string    `json:"decision_comment,omitempty"`
	DecidedAt       time.Time `json:"-"`
	ResolutionID    string    `json:"resolution_id,omitempty"` // the resolution sent to the matcher ("" for comment, assign)
	Sent            bool      `json:"-"`                       // produced to recon.resolutions
	OutcomeDetail   string    `json:"outcome,omitempty"`
}

// MarshalJSON writes the action as the API and the audit chain show it
// (its break ids a list, never null).
func (a Action) MarshalJSON() ([]byte, error) {
	type plain Action
	p := plain(a)
	if p.BreakIDs == nil {
		p.BreakIDs = []string{}
	}
	return json.Marshal(p)
}

// actionState is what the audit chain records of an action: its JSON
// form (the API's).
func actionState(a *Action) json.RawMessage {
	b, _ := json.Marshal(a)
	return b
}

// Act records a new action or request: its id (derived from its place in
// the audit chain, so deterministic), its audit entry and what it changes
// in the case store by itself (a comment, an assignment), in one
// transaction. A resolution for the matcher gets its id here too.
func (s *Store) Act(ctx context.Context, a *Action, toMatcher bool) error {
	return s.act(ctx, a, toMatcher, nil)
}

// act is Act with more to write in the same transaction (also, when not
// nil, once the action has its id).
func (s *Store) act(ctx context.Context, a *Action, toMatcher bool, also func(*sql.Tx) error) error {
	a.RequestedAt = time.Now().UTC().Truncate(time.Millisecond)
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The id names the chain entry that creates the action.
		if _, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(a.RequestedAt), User: a.User, Event: a.Kind}, func(e *AuditEntry) {
			a.ActionID = "a-" + shortID(fmt.Sprint(e.Seq, "\x00", a.Kind, "\x00", a.User))
			if toMatcher {
				a.ResolutionID = "rs-" + strings.TrimPrefix(a.ActionID, "a-")
			}
			e.ActionID, e.After = a.ActionID, actionState(a)
		}); err != nil {
			return err
		}
		if err := s.insertAction(ctx, tx, a); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		switch a.Kind {
		case KindComment:
			for _, id := range a.BreakIDs {
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_comments (comment_id, break_id, user_name, body, at) VALUES (?, ?, ?, ?, ?)`),
					a.ActionID+":"+id, id, a.User, a.Comment, a.RequestedAt); err != nil {
					return err
				}
			}
		case KindAssign:
			for _, id := range a.BreakIDs {
				var who any
				if a.Assignee != "" {
					who = a.Assignee
				}
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_breaks SET assignee = ?, updated_at = ? WHERE break_id = ?`), who, a.RequestedAt, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func shortID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}

func (s *Store) insertAction(ctx context.Context, tx *sql.Tx, a *Action) error {
	breaks, _ := json.Marshal(append([]string{}, a.BreakIDs...))
	recs, _ := json.Marshal(append([]string{}, a.RecordIDs...))
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_actions (action_id, kind, status, user_name, account, currency, break_ids, record_ids,
		match_id, reason_code, comment, attachment, assignee, difference, requested_at, decided_by, decided_at, decision_comment,
		resolution_id, sent, outcome_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', NULL, '', ?, 0, '')`),
		a.ActionID, a.Kind, a.Status, a.User, a.Account, a.Currency, string(breaks), string(recs), a.MatchID, a.ReasonCode,
		a.Comment, a.Attachment, a.Assignee, a.Difference, a.RequestedAt, a.ResolutionID); err != nil {
		return fmt.Errorf("action: %w", err)
	}
	for _, id := range a.BreakIDs {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_action_breaks (break_id, action_id) VALUES (?, ?) ON CONFLICT (break_id, action_id) DO NOTHING`),
			id, a.ActionID); err != nil {
			return err
		}
	}
	return nil
}

// Decide records a decision on a pending request: its new status (which
// the workflow decides: sent to the matcher, applied, rejected,
// withdrawn; a sign-off's days lock when it is applied), the decider and
// the audit entry (event: approve, reject or withdraw). The request must
// still be pending (ErrConflict).
func (s *Store) Decide(ctx context.Context, actionID, user, event, status, comment string) (*Action, error) {
	var out *Action
	err := s.tx(ctx, func(tx *sql.Tx) error {
		a, err := s.action(ctx, tx, actionID)
		if err != nil {
			return err
		}
		if a.Status != ActionPending {
			return fmt.Errorf("%w: request %s is %s, not pending approval", ErrConflict, actionID, a.Status)
		}
		before := actionState(a)
		a.Status = status
		a.DecidedBy, a.DecisionComment, a.DecidedAt = user, comment, time.Now().UTC().Truncate(time.Millisecond)
		if _, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(a.DecidedAt), User: user, Event: event, ActionID: actionID,
			Before: before, After: actionState(a)}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_actions SET status = ?, decided_by = ?, decided_at = ?, decision_comment = ?
			WHERE action_id = ? AND status = ?`), a.Status, user, a.DecidedAt, comment, actionID, ActionPending); err != nil {
			return err
		}
		if a.Kind == KindSignoff {
			if err := s.decideSignoff(ctx, tx, a); err != nil {
				return err
			}
		}
		if a.Kind == KindRulesChange {
			if err := s.decideProposal(ctx, tx, a); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// Adjusted returns an approved adjustment of any of the breaks (nil: none).
func (s *Store) Adjusted(ctx context.Context, breakIDs []string) (*Action, error) {
	for _, id := range breakIDs {
		as, err := s.actions(ctx, `WHERE action_id IN (SELECT action_id FROM case_action_breaks WHERE break_id = ?) AND kind = ? AND status = ?
			ORDER BY requested_at LIMIT 1`, id, KindAdjust, ActionApplied)
		if err != nil {
			return nil, err
		}
		if len(as) > 0 {
			return as[0], nil
		}
	}
	return nil, nil
}

// MarkSent records that an action's resolution was produced.
func (s *Store) MarkSent(ctx context.Context, actionID string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE case_actions SET sent = 1 WHERE action_id = ?`), actionID)
	return err
}

// Unsent returns the actions whose resolution is still to be produced
// (a console that stopped between recording and producing), oldest first.
func (s *Store) Unsent(ctx context.Context) ([]*Action, error) {
	return s.actions(ctx, `WHERE status = ? AND sent = 0 ORDER BY requested_at, action_id`, ActionSent)
}

// Action returns one action.
func (s *Store) Action(ctx context.Context, id string) (*Action, error) {
	return s.action(ctx, s.db, id)
}

// Pending returns the requests waiting for approval, oldest first.
func (s *Store) Pending(ctx context.Context) ([]*Action, error) {
	return s.actions(ctx, `WHERE status = ? ORDER BY requested_at, action_id`, ActionPending)
}

// BreakActions returns the actions that named a break, oldest first.
func (s *Store) BreakActions(ctx context.Context, breakID string) ([]*Action, error) {
	return s.actions(ctx, `WHERE action_id IN (SELECT action_id FROM case_action_breaks WHERE break_id = ?) ORDER BY requested_at, action_id`, breakID)
}

// PendingFor returns the pending requests that name any of the breaks (a
// second request on a break already waiting is a conflict).
func (s *Store) PendingFor(ctx context.Context, breakIDs []string) ([]*Action, error) {
	if len(breakIDs) == 0 {
		return nil, nil
	}
	args := []any{ActionPending}
	for _, id := range breakIDs {
		args = append(args, id)
	}
	return s.actions(ctx, `WHERE status = ? AND action_id IN (SELECT action_id FROM case_action_breaks WHERE break_id IN (?`+
		strings.Repeat(", ?", len(breakIDs)-1)+`)) ORDER BY requested_at`, args...)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const actionColumns = `action_id, kind, status, user_name, account, currency, break_ids, record_ids, match_id, reason_code, comment,
	attachment, assignee, difference, requested_at, decided_by, decided_at, decision_comment, resolution_id, sent, outcome_detail`

func (s *Store) action(ctx context.Context, q querier, id string) (*Action, error) {
	as, err := s.actionsOn(ctx, q, `WHERE action_id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("%w: action %s", ErrNotFound, id)
	}
	return as[0], nil
}

func (s *Store) actions(ctx context.Context, where string, args ...any) ([]*Action, error) {
	return s.actionsOn(ctx, s.db, where, args...)
}

func (s *Store) actionsOn(ctx context.Context, q querier, where string, args ...any) ([]*Action, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+actionColumns+` FROM case_actions `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("case store %s: actions: %w", s.source, err)
	}
	defer rows.Close()
	var out []*Action
	for rows.Next() {
		a := &Action{}
		var breaks, recs string
		var requested tsValue
		var decided tsValue
		var sent int
		if err := rows.Scan(&a.ActionID, &a.Kind, &a.Status, &a.User, &a.Account, &a.Currency, &breaks, &recs, &a.MatchID, &a.ReasonCode,
			&a.Comment, &a.Attachment, &a.Assignee, &a.Difference, &requested, &a.DecidedBy, &decided, &a.DecisionComment,
			&a.ResolutionID, &sent, &a.OutcomeDetail); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(breaks), &a.BreakIDs)
		_ = json.Unmarshal([]byte(recs), &a.RecordIDs)
		a.RequestedAt, a.DecidedAt, a.Sent = requested.t, decided.t, sent == 1
		out = append(out, a)
	}
	return out, rows.Err()
}

// tsValue scans a timestamp column: a time from PostgreSQL, text from SQLite, or NULL.
type tsValue struct{ t time.Time }

func (v *tsValue) Scan(src any) error {
	switch t := src.(type) {
	case nil:
		v.t = time.Time{}
	case time.Time:
		v.t = t.UTC()
	case string:
		return v.parse(t)
	case []byte:
		return v.parse(string(t))
	default:
		return fmt.Errorf("timestamp: unexpected %T", src)
	}
	return nil
}

func (v *tsValue) parse(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			v.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("timestamp %q", s)
}

// Comment is a comment on a break.
type Comment struct {
	User, Body string
	At         time.Time
}

// Comments returns a break's comments, oldest first.
func (s *Store) Comments(ctx context.Context, breakID string) ([]Comment, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT user_name, body, at FROM case_comments WHERE break_id = ? ORDER BY at, comment_id`), breakID)
	if err != nil {
		return nil, fmt.Errorf("case store %s: comments: %w", s.source, err)
	}
	defer rows.Close()
	var out []Comment
	for rows.Next() {
		var c Comment
		var at tsValue
		if err := rows.Scan(&c.User, &c.Body, &at); err != nil {
			return nil, err
		}
		c.At = at.t
		out = append(out, c)
	}
	return out, rows.Err()
}

// Session is a signed-in console user.
type Session struct {
	User, Name string
	Roles      []string
	CSRF       string
	Expires    time.Time
}

// CreateSession stores a session under the hash of its cookie value.
func (s *Store) CreateSession(ctx context.Context, idHash string, ss Session) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO case_sessions (id_hash, user_name, display_name, roles, csrf, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
		idHash, ss.User, ss.Name, strings.Join(ss.Roles, ","), ss.CSRF, ss.Expires.UTC())
	if err != nil {
		return fmt.Errorf("case store %s: session: %w", s.source, err)
	}
	// Forget expired sessions now and then.
	_, _ = s.db.ExecContext(ctx, s.q(`DELETE FROM case_sessions WHERE expires_at < ?`), time.Now().UTC())
	return nil
}

// SessionByHash returns a session that has not expired (ErrNotFound otherwise).
func (s *Store) SessionByHash(ctx context.Context, idHash string) (*Session, error) {
	var ss Session
	var roles string
	var exp tsValue
	err := s.db.QueryRowContext(ctx, s.q(`SELECT user_name, display_name, roles, csrf, expires_at FROM case_sessions WHERE id_hash = ?`), idHash).
		Scan(&ss.User, &ss.Name, &roles, &ss.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("case store %s: session: %w", s.source, err)
	}
	ss.Expires = exp.t
	if !time.Now().Before(ss.Expires) {
		return nil, ErrNotFound
	}
	if roles != "" {
		ss.Roles = strings.Split(roles, ",")
	}
	return &ss, nil
}

// DeleteSession ends a session (sign-out).
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM case_sessions WHERE id_hash = ?`), idHash)
	return err
}
