package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openrecon/recon/internal/record"
)

// What the console learns from people (DESIGN.md §10): the matches people
// made or confirmed are the evidence, read from the outcomes the matcher
// sent back; the decisions on the suggestions drawn from them are kept.
//
//	case_suggestions  an accepted or rejected suggestion, by its deterministic id

// Evidence is a match a person made (manual_match) or confirmed.
type Evidence struct {
	MatchID, Action, User string
	Account, Currency     string
	Bank, Ledger          []MatchItem
	At                    time.Time
}

// Evidence returns the matches people made or confirmed since the time
// given, oldest first (unmatched since or not).
func (s *Store) Evidence(ctx context.Context, since time.Time) ([]Evidence, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT o.match_id, o.action, o.user_name, o.account, o.currency, m.mrow, o.decided_at
		FROM case_outcomes o JOIN case_matches m ON m.match_id = o.match_id
		WHERE o.applied = 1 AND o.action IN (?, ?) AND o.decided_at >= ? ORDER BY o.decided_at, o.match_id`),
		string(record.ActManualMatch), string(record.ActConfirm), since.UTC())
	if err != nil {
		return nil, fmt.Errorf("case store %s: evidence: %w", s.source, err)
	}
	defer rows.Close()
	var out []Evidence
	var mrows []int64
	for rows.Next() {
		var e Evidence
		var mrow int64
		var at tsValue
		if err := rows.Scan(&e.MatchID, &e.Action, &e.User, &e.Account, &e.Currency, &mrow, &at); err != nil {
			return nil, err
		}
		e.At = at.t
		out, mrows = append(out, e), append(mrows, mrow)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	items, err := s.matchItems(ctx, s.db, mrows)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if sides := items[mrows[i]]; sides != nil {
			out[i].Bank, out[i].Ledger = sides[0], sides[1]
		}
	}
	return out, nil
}

// Suggestion decisions.
const (
	SuggestionAccepted = "accepted"
	SuggestionRejected = "rejected"
)

// SuggestionDecision is what was decided about a suggestion.
type SuggestionDecision struct {
	SuggestionID, Kind, Status string
	DecidedBy, Comment         string
	DecidedAt                  time.Time
	Detail                     json.RawMessage // the suggestion as decided
}

// SuggestionDecisions returns every decision by suggestion id.
func (s *Store) SuggestionDecisions(ctx context.Context) (map[string]SuggestionDecision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT suggestion_id, kind, status, decided_by, decided_at, comment, detail FROM case_suggestions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]SuggestionDecision{}
	for rows.Next() {
		var d SuggestionDecision
		var at tsValue
		var detail string
		if err := rows.Scan(&d.SuggestionID, &d.Kind, &d.Status, &d.DecidedBy, &at, &d.Comment, &detail); err != nil {
			return nil, err
		}
		d.DecidedAt, d.Detail = at.t, json.RawMessage(detail)
		out[d.SuggestionID] = d
	}
	return out, rows.Err()
}

// DecideSuggestion records a decision (once: a suggestion decided already
// is ErrConflict) and its audit entry.
func (s *Store) DecideSuggestion(ctx context.Context, d SuggestionDecision) error {
	d.DecidedAt = time.Now().UTC().Truncate(time.Millisecond)
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_suggestions WHERE suggestion_id = ?`), d.SuggestionID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: suggestion %s was decided already", ErrConflict, d.SuggestionID)
		}
		after, _ := json.Marshal(map[string]any{"suggestion_id": d.SuggestionID, "kind": d.Kind, "status": d.Status,
			"comment": d.Comment, "suggestion": d.Detail})
		if _, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(d.DecidedAt), User: d.DecidedBy, Event: "suggestion_" + d.Status,
			ActionID: d.SuggestionID, After: after}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_suggestions (suggestion_id, kind, status, decided_by, decided_at, comment, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), d.SuggestionID, d.Kind, d.Status, d.DecidedBy, d.DecidedAt, d.Comment, string(d.Detail))
		return err
	})
}
