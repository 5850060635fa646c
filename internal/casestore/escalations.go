package casestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/openrecon/recon/internal/record"
)

// Escalation (docs/design.md §9): the console's sweep finds open breaks
// past their SLA and requests waiting for an approver too long; each
// subject is escalated once per level (the escalation id is a hash of
// kind, subject and level, the table's key), and what was recorded is
// produced to recon.escalations until Kafka has taken it.

// RecordEscalations stores the escalations not recorded before and returns
// them (an escalation recorded already, by an earlier sweep, is left out).
func (s *Store) RecordEscalations(ctx context.Context, es []*record.Escalation) ([]*record.Escalation, error) {
	var fresh []*record.Escalation
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, e := range es {
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_escalations (escalation_id, kind, level, subject_id, recipient, account,
				currency, reason, amount, age, sla, detail, url, escalated_at, sent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
				ON CONFLICT (escalation_id) DO NOTHING`), e.EscalationID, string(e.Kind), e.Level, e.SubjectID, e.Recipient, e.Account,
				e.Currency, e.Reason, e.Amount, e.Age, e.SLA, e.Detail, e.URL, e.EscalatedAt.UTC())
			if err != nil {
				return fmt.Errorf("escalation %s: %w", e.EscalationID, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				fresh = append(fresh, e)
			}
		}
		return nil
	})
	return fresh, err
}

// UnsentEscalations returns recorded escalations not produced yet, oldest
// first, at most limit.
func (s *Store) UnsentEscalations(ctx context.Context, limit int) ([]*record.Escalation, error) {
	return s.escalationsOn(ctx, `WHERE sent = 0 ORDER BY escalated_at, escalation_id LIMIT ?`, limit)
}

// Escalations returns the escalations of a subject (a break or request id),
// by level.
func (s *Store) Escalations(ctx context.Context, subjectID string) ([]*record.Escalation, error) {
	return s.escalationsOn(ctx, `WHERE subject_id = ? ORDER BY level`, subjectID)
}

// MarkEscalationsSent records that Kafka has the escalations.
func (s *Store) MarkEscalationsSent(ctx context.Context, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_escalations SET sent = 1 WHERE escalation_id = ?`), id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) escalationsOn(ctx context.Context, where string, args ...any) ([]*record.Escalation, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT escalation_id, kind, level, subject_id, recipient, account, currency, reason, amount,
		age, sla, detail, url, escalated_at FROM case_escalations `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("case store %s: escalations: %w", s.source, err)
	}
	defer rows.Close()
	var out []*record.Escalation
	for rows.Next() {
		e := &record.Escalation{}
		var kind string
		var at tsValue
		if err := rows.Scan(&e.EscalationID, &kind, &e.Level, &e.SubjectID, &e.Recipient, &e.Account, &e.Currency, &e.Reason, &e.Amount,
			&e.Age, &e.SLA, &e.Detail, &e.URL, &at); err != nil {
			return nil, err
		}
		e.Kind, e.EscalatedAt = record.EscalationKind(kind), at.t
		out = append(out, e)
	}
	return out, rows.Err()
}
