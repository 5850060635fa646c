package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openrecon/recon/internal/record"
)

// Period sign-off (docs/design.md §9): a preparer certifies an account's
// days with a comment; the request waits for a different approver like any
// other (case_actions, kind "signoff"); once approved the days are locked
// until an admin reopens them with a reason. Each state is in the audit
// chain; Version counts the states a sign-off had after its request, so the
// warehouse keeps every one (1 signed off, 2 reopened).
//
// Table:
//
//	case_signoffs  one row per sign-off request, its state and the figures it certified

// Sign-off statuses.
const (
	SignoffPending   = ActionPending
	SignoffSigned    = "signed_off"
	SignoffRejected  = ActionRejected
	SignoffWithdrawn = ActionWithdrawn
	SignoffReopened  = "reopened"
)

// KindSignoff is the action kind of a sign-off request.
const KindSignoff = "signoff"

// KindAdjust is the action kind of an adjustment: a preparer records the
// adjusting entry (its journal reference) that will book a break's amount
// in the other side's books. Approved by a different approver it takes
// effect in the case store (the matcher has nothing to do: the break stays
// open until the entry's posting arrives and matches it); the balance
// view lists the break as an adjustment awaiting its posting.
const KindAdjust = "adjust"

// KindComment and KindAssign are the actions that change only the case
// store: a comment on breaks, and who works them.
const (
	KindComment = "comment"
	KindAssign  = "assign"
)

// Signoff is a sign-off of an account's days.
type Signoff struct {
	SignoffID       string          `json:"signoff_id"` // the id of its request
	Account         string          `json:"account"`
	Currency        string          `json:"currency"`
	From            record.Date     `json:"date_from"`
	To              record.Date     `json:"date_to"`
	Status          string          `json:"status"`
	RequestedBy     string          `json:"requested_by"`
	RequestedAt     time.Time       `json:"requested_at"`
	Comment         string          `json:"comment"`
	Figures         json.RawMessage `json:"figures"` // what was certified (the balance of To)
	ApprovedBy      string          `json:"approved_by,omitempty"`
	ApprovedAt      time.Time       `json:"approved_at,omitzero"`
	DecisionComment string          `json:"decision_comment,omitempty"`
	ReopenedBy      string          `json:"reopened_by,omitempty"`
	ReopenedAt      time.Time       `json:"reopened_at,omitzero"`
	ReopenReason    string          `json:"reopen_reason,omitempty"`
	Version         int             `json:"-"` // 0 requested, 1 signed off, 2 reopened
	SentVersion     int             `json:"-"` // the last version produced for the warehouse
}

// RequestSignoff records a preparer's sign-off request (a, kind signoff)
// for the days from..to with the figures certified. A day already signed
// off, or in a request still waiting, is a conflict.
func (s *Store) RequestSignoff(ctx context.Context, a *Action, from, to record.Date, figures json.RawMessage) (*Signoff, error) {
	a.Kind, a.Status = KindSignoff, ActionPending
	var out *Signoff
	err := s.act(ctx, a, false, func(tx *sql.Tx) error {
		if other, err := s.overlapping(ctx, tx, a.Account, a.Currency, from, to); err != nil {
			return err
		} else if other != nil {
			return fmt.Errorf("%w: %s %s %s..%s is %s already (%s, requested by %s)", ErrConflict, a.Account, a.Currency, other.From, other.To,
				other.Status, other.SignoffID, other.RequestedBy)
		}
		out = &Signoff{SignoffID: a.ActionID, Account: a.Account, Currency: a.Currency, From: from, To: to, Status: SignoffPending,
			RequestedBy: a.User, RequestedAt: a.RequestedAt, Comment: a.Comment, Figures: figures}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_signoffs (signoff_id, account, currency, date_from, date_to, status, requested_by,
			requested_at, comment, figures, approved_by, decision_comment, reopened_by, reopen_reason, version, sent_version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '', 0, 0)`),
			out.SignoffID, out.Account, out.Currency, from.String(), to.String(), out.Status, out.RequestedBy, out.RequestedAt, out.Comment, string(figures))
		return err
	})
	return out, err
}

// overlapping is a sign-off signed off or waiting that shares a day with from..to.
func (s *Store) overlapping(ctx context.Context, q querier, account, currency string, from, to record.Date) (*Signoff, error) {
	so, err := s.signoffsOn(ctx, q, `WHERE account = ? AND currency = ? AND status IN (?, ?) AND date_from <= ? AND date_to >= ?
		ORDER BY date_from LIMIT 1`, account, currency, SignoffSigned, SignoffPending, to.String(), from.String())
	if err != nil || len(so) == 0 {
		return nil, err
	}
	return so[0], nil
}

// Locked returns the sign-off that locks any of the days of the account
// (nil: none does).
func (s *Store) Locked(ctx context.Context, account, currency string, days ...record.Date) (*Signoff, error) {
	return s.signoffIn(ctx, SignoffSigned, account, currency, days)
}

// Reopened returns a reopened sign-off that covered any of the days of the
// account (nil: none did): their items were signed off once, so undoing
// one of their matches needs a second person.
func (s *Store) Reopened(ctx context.Context, account, currency string, days ...record.Date) (*Signoff, error) {
	return s.signoffIn(ctx, SignoffReopened, account, currency, days)
}

func (s *Store) signoffIn(ctx context.Context, status, account, currency string, days []record.Date) (*Signoff, error) {
	for _, d := range days {
		so, err := s.signoffsOn(ctx, s.db, `WHERE account = ? AND currency = ? AND status = ? AND date_from <= ? AND date_to >= ? LIMIT 1`,
			account, currency, status, d.String(), d.String())
		if err != nil {
			return nil, err
		}
		if len(so) > 0 {
			return so[0], nil
		}
	}
	return nil, nil
}

// decideSignoff applies a decision on a sign-off request (its request's
// new status) inside Decide's transaction.
func (s *Store) decideSignoff(ctx context.Context, tx *sql.Tx, a *Action) error {
	status, version := SignoffRejected, 0
	switch a.Status {
	case ActionApplied:
		status, version = SignoffSigned, 1
	case ActionWithdrawn:
		status = SignoffWithdrawn
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE case_signoffs SET status = ?, approved_by = ?, approved_at = ?, decision_comment = ?, version = ?
		WHERE signoff_id = ? AND status = ?`), status, a.DecidedBy, a.DecidedAt, a.DecisionComment, version, a.ActionID, SignoffPending)
	return err
}

// ReopenSignoff unlocks signed-off days (an admin, with a reason): audited;
// the days must be signed off again.
func (s *Store) ReopenSignoff(ctx context.Context, id, user, reason string) (*Signoff, error) {
	var out *Signoff
	err := s.tx(ctx, func(tx *sql.Tx) error {
		so, err := s.signoffsOn(ctx, tx, `WHERE signoff_id = ?`, id)
		if err != nil {
			return err
		}
		if len(so) == 0 {
			return fmt.Errorf("%w: sign-off %s", ErrNotFound, id)
		}
		o := so[0]
		if o.Status != SignoffSigned {
			return fmt.Errorf("%w: sign-off %s is %s, not signed off", ErrConflict, id, o.Status)
		}
		before := signoffState(o)
		o.Status, o.ReopenedBy, o.ReopenedAt, o.ReopenReason, o.Version = SignoffReopened, user, time.Now().UTC().Truncate(time.Millisecond), reason, 2
		if _, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(o.ReopenedAt), User: user, Event: "reopen_signoff", ActionID: id,
			Before: before, After: signoffState(o)}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_signoffs SET status = ?, reopened_by = ?, reopened_at = ?, reopen_reason = ?, version = ?
			WHERE signoff_id = ? AND status = ?`), o.Status, user, o.ReopenedAt, reason, o.Version, id, SignoffSigned); err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// signoffState is what the audit chain records of a sign-off.
func signoffState(o *Signoff) json.RawMessage {
	b, _ := json.Marshal(struct {
		Status   string          `json:"status"`
		Account  string          `json:"account"`
		Currency string          `json:"currency"`
		From     record.Date     `json:"date_from"`
		To       record.Date     `json:"date_to"`
		Figures  json.RawMessage `json:"figures,omitempty"`
		Approved string          `json:"approved_by,omitempty"`
		Reopened string          `json:"reopened_by,omitempty"`
		Reason   string          `json:"reopen_reason,omitempty"`
	}{o.Status, o.Account, o.Currency, o.From, o.To, o.Figures, o.ApprovedBy, o.ReopenedBy, o.ReopenReason})
	return b
}

// Signoff returns one sign-off.
func (s *Store) Signoff(ctx context.Context, id string) (*Signoff, error) {
	so, err := s.signoffsOn(ctx, s.db, `WHERE signoff_id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(so) == 0 {
		return nil, fmt.Errorf("%w: sign-off %s", ErrNotFound, id)
	}
	return so[0], nil
}

// Signoffs returns the sign-offs of an account ("" all), newest first.
func (s *Store) Signoffs(ctx context.Context, account, currency string, limit int) ([]*Signoff, error) {
	if account == "" {
		return s.signoffsOn(ctx, s.db, `ORDER BY requested_at DESC, signoff_id LIMIT ?`, limit)
	}
	return s.signoffsOn(ctx, s.db, `WHERE account = ? AND currency = ? ORDER BY requested_at DESC, signoff_id LIMIT ?`, account, currency, limit)
}

// SignoffsCovering returns the sign-offs of an account whose days include
// day, newest first (the trail of a day).
func (s *Store) SignoffsCovering(ctx context.Context, account, currency string, day record.Date) ([]*Signoff, error) {
	return s.signoffsOn(ctx, s.db, `WHERE account = ? AND currency = ? AND date_from <= ? AND date_to >= ? ORDER BY requested_at DESC, signoff_id`,
		account, currency, day.String(), day.String())
}

const signoffColumns = `signoff_id, account, currency, date_from, date_to, status, requested_by, requested_at, comment, figures,
	approved_by, approved_at, decision_comment, reopened_by, reopened_at, reopen_reason, version, sent_version`

func (s *Store) signoffsOn(ctx context.Context, q querier, where string, args ...any) ([]*Signoff, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+signoffColumns+` FROM case_signoffs `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("case store %s: sign-offs: %w", s.source, err)
	}
	defer rows.Close()
	var out []*Signoff
	for rows.Next() {
		o := &Signoff{}
		var from, to dateValue
		var req, appr, reop tsValue
		var figures string
		if err := rows.Scan(&o.SignoffID, &o.Account, &o.Currency, &from, &to, &o.Status, &o.RequestedBy, &req, &o.Comment, &figures,
			&o.ApprovedBy, &appr, &o.DecisionComment, &o.ReopenedBy, &reop, &o.ReopenReason, &o.Version, &o.SentVersion); err != nil {
			return nil, err
		}
		o.From, o.To, o.RequestedAt, o.ApprovedAt, o.ReopenedAt, o.Figures = from.d, to.d, req.t, appr.t, reop.t, json.RawMessage(figures)
		out = append(out, o)
	}
	return out, rows.Err()
}

// UnsentSignoffs returns the sign-offs with a state (version) not produced
// to recon.signoffs yet, oldest first.
func (s *Store) UnsentSignoffs(ctx context.Context, limit int) ([]*Signoff, error) {
	return s.signoffsOn(ctx, s.db, `WHERE version > sent_version ORDER BY requested_at, signoff_id LIMIT ?`, limit)
}

// MarkSignoffSent records that versions up to version of a sign-off are
// produced.
func (s *Store) MarkSignoffSent(ctx context.Context, id string, version int) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE case_signoffs SET sent_version = ? WHERE signoff_id = ? AND sent_version < ?`), version, id, version)
	return err
}
