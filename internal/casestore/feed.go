package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/sqlitefile"
)

// The feed's writes: what the console feed reads from the topics, applied
// with its offsets in one transaction.

// Offset is a consumed position stored with a batch.
type Offset struct {
	Topic     string
	Partition int32
	Next      int64
}

// Batch is what one transaction applies.
type Batch struct {
	Breaks     []*record.Break
	Matches    []*record.Match
	Outcomes   []Outcome
	Statements []*record.Statement
	Records    []*record.Transaction // booked bank and ledger transactions (the balance view)
	Offsets    []Offset
}

// Outcome is a resolution's outcome with its position in the outcomes
// topic: the outcomes of one account and currency share a partition, so
// Seq orders the resolutions of a break.
type Outcome struct {
	*record.Outcome
	Seq int64
}

// e6 is d in millionths, for filtering and sorting.
func e6(d money.Decimal) (int64, error) {
	v, err := d.Rescale(6)
	if err != nil {
		return 0, err
	}
	return v.Units(), nil
}

// Apply writes a batch and its offsets in one transaction. A break or
// match already stored is left as it is (ids are deterministic: the same
// id is the same content); a match clears the breaks it names, also ones
// that arrive after it.
func (s *Store) Apply(ctx context.Context, consumer string, b *Batch) error {
	now := time.Now().UTC()
	var learned *batchTx
	err := s.tx(ctx, func(sqlTx *sql.Tx) error {
		tx := newBatchTx(sqlTx)
		defer tx.close()
		learned = tx
		for _, br := range b.Breaks {
			amt, err := e6(br.Record.Amount)
			if err != nil {
				return fmt.Errorf("break %s: amount %s: %w", br.BreakID, br.Record.Amount, err)
			}
			cands, err := json.Marshal(candidatesJSON(br.Candidates))
			if err != nil {
				return err
			}
			r := br.Record
			search := strings.ToLower(strings.Join([]string{r.Reference, r.BankReference, r.Counterparty, r.Description, r.ID}, " "))
			var ingested any
			if !r.IngestedAt.IsZero() {
				ingested = r.IngestedAt.UTC()
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_breaks (break_id, side, reason, status, account, currency, amount, amount_e6,
				booking_date, record_id, reference, counterparty, description, source_file, source_position, window_closed_at,
				candidates, ingested_at, search, updated_at, note, rule_version)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (break_id) DO NOTHING`),
				br.BreakID, string(br.Side), string(br.Reason), StatusOpen, br.Account, br.Currency, r.Amount.String(), amt,
				r.BookingDate.String(), r.ID, r.Reference, r.Counterparty, r.Description, r.SourceFile, r.SourcePosition,
				br.WindowClosedAt.String(), string(cands), ingested, search, now, br.Note, br.RuleVersion); err != nil {
				return fmt.Errorf("break %s: %w", br.BreakID, err)
			}
		}
		mrows := make(map[string]int64, len(b.Matches))
		for _, m := range b.Matches {
			clears, _ := json.Marshal(append([]string{}, m.ClearsBreakIDs...))
			first, last, diffZero := matchSpan(m)
			// A proposed match confirmed takes the confirmation's status
			// and explanation; the first ones stay beside them for the
			// warehouse's views (warehouse.go), which show a match as it
			// was first decided, as the loader keeps it.
			// The span of its members' dates is the match's own: the same
			// for the same id, so a stored match keeps it.
			var mrow int64
			err := tx.QueryRowContext(ctx, s.q(`INSERT INTO case_matches (match_id, rule, status, confidence, account, currency, difference,
				explanation, decided_at, clears, members, rule_version, decided_ms, loaded_s, bank_n, first_date, last_date, diff_zero)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (match_id) DO UPDATE SET status = excluded.status, explanation = excluded.explanation, clears = excluded.clears,
				emitted_status = COALESCE(case_matches.emitted_status, case_matches.status),
				emitted_explanation = COALESCE(case_matches.emitted_explanation, case_matches.explanation)
				WHERE excluded.status = 'confirmed' AND case_matches.status <> 'confirmed' RETURNING mrow`),
				m.MatchID, m.Rule, string(m.Status), int(m.Confidence), m.Account, m.Currency, m.Difference.String(), m.Explanation,
				m.DecidedAt.UTC().Format("2006-01-02"), string(clears), len(m.Bank)+len(m.Ledger), m.RuleVersion,
				m.DecidedAt.UnixMilli(), now.Unix(), len(m.Bank), first.String(), last.String(), diffZero).Scan(&mrow)
			if errors.Is(err, sql.ErrNoRows) { // stored already, unchanged
				err = tx.QueryRowContext(ctx, s.q(`SELECT mrow FROM case_matches WHERE match_id = ?`), m.MatchID).Scan(&mrow)
			}
			if err != nil {
				return fmt.Errorf("match %s: %w", m.MatchID, err)
			}
			mrows[m.MatchID] = mrow
		}
		if err := s.statements(ctx, tx, b.Statements); err != nil {
			return err
		}
		// The records before the matches that name them: a match names
		// a record read in the same batch by its key.
		if err := s.records(ctx, tx, b.Records); err != nil {
			return err
		}
		settle := map[int64]bool{}
		if err := s.members(ctx, tx, b.Matches, mrows, settle); err != nil {
			return err
		}
		touched, err := s.outcomes(ctx, tx, b, settle)
		if err != nil {
			return err
		}
		// Statuses after every insert: a break that arrives in the same
		// batch as (or after) what decides it gets its status too; so do
		// the records' settled dates.
		if err := s.restatus(ctx, tx, touched, now); err != nil {
			return err
		}
		if err := s.resettle(ctx, tx, settle); err != nil {
			return err
		}
		for _, o := range b.Offsets {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_offsets (consumer, topic, part, next_offset) VALUES (?, ?, ?, ?)
				ON CONFLICT (consumer, topic, part) DO UPDATE SET next_offset = excluded.next_offset`),
				consumer, o.Topic, o.Partition, o.Next); err != nil {
				return fmt.Errorf("offset %s/%d: %w", o.Topic, o.Partition, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.refs.merge(learned.files, learned.accts)
	if !s.pg && len(b.Records)+len(b.Matches)+len(b.Breaks) >= sqlitefile.BigBatch {
		return sqlitefile.TruncateWAL(ctx, s.db)
	}
	return nil
}

// outcomes stores a batch's clears and resolution outcomes and returns
// every break whose status may have changed.
func (s *Store) outcomes(ctx context.Context, tx *batchTx, b *Batch, settle map[int64]bool) ([]string, error) {
	seen := map[string]bool{}
	var touched []string
	touch := func(id string) {
		if !seen[id] {
			seen[id] = true
			touched = append(touched, id)
		}
	}
	for _, m := range b.Matches {
		for _, id := range m.ClearsBreakIDs {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_break_clears (break_id, match_id) VALUES (?, ?) ON CONFLICT (break_id, match_id) DO NOTHING`),
				id, m.MatchID); err != nil {
				return nil, fmt.Errorf("clear break %s: %w", id, err)
			}
			touch(id)
		}
	}
	for _, o := range b.Outcomes {
		breaks, _ := json.Marshal(append([]record.BreakState{}, o.Breaks...))
		applied := 0
		if o.Applied {
			applied = 1
		}
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_outcomes (resolution_id, action, account, currency, applied, detail, match_id,
			match_status, breaks, user_name, approved_by, reason_code, comment, decided_at, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resolution_id) DO NOTHING`),
			o.ResolutionID, string(o.Action), o.Account, o.Currency, applied, o.Detail, o.MatchID, o.MatchStatus, string(breaks),
			o.User, o.ApprovedBy, o.ReasonCode, o.Comment, o.DecidedAt.UTC(), o.Seq)
		if err != nil {
			return nil, fmt.Errorf("outcome of %s: %w", o.ResolutionID, err)
		}
		// Only the first outcome of a resolution counts (one sent twice
		// is refused the second time, and that refusal changes nothing).
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		status := ActionApplied
		if !o.Applied {
			status = ActionRefused
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_actions SET status = ?, outcome_detail = ? WHERE resolution_id = ? AND status = ?`),
			status, o.Detail, o.ResolutionID, ActionSent); err != nil {
			return nil, fmt.Errorf("outcome of %s: action: %w", o.ResolutionID, err)
		}
		if !o.Applied {
			continue
		}
		for _, st := range o.Breaks {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_break_outcome (break_id, status, resolution_id, match_id, seq) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (break_id) DO UPDATE SET status = excluded.status, resolution_id = excluded.resolution_id,
				match_id = excluded.match_id, seq = excluded.seq WHERE excluded.seq > case_break_outcome.seq`),
				st.BreakID, st.Status, o.ResolutionID, o.MatchID, o.Seq); err != nil {
				return nil, fmt.Errorf("outcome of %s: break %s: %w", o.ResolutionID, st.BreakID, err)
			}
			touch(st.BreakID)
		}
		if o.MatchID != "" && o.MatchStatus != "" {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_match_outcome (match_id, status, resolution_id, seq) VALUES (?, ?, ?, ?)
				ON CONFLICT (match_id) DO UPDATE SET status = excluded.status, resolution_id = excluded.resolution_id, seq = excluded.seq
				WHERE excluded.seq > case_match_outcome.seq`), o.MatchID, o.MatchStatus, o.ResolutionID, o.Seq); err != nil {
				return nil, fmt.Errorf("outcome of %s: match %s: %w", o.ResolutionID, o.MatchID, err)
			}
			if err := s.touchMatch(ctx, tx, o.MatchID, settle); err != nil {
				return nil, fmt.Errorf("outcome of %s: match %s: %w", o.ResolutionID, o.MatchID, err)
			}
			// The breaks its match clears change with the match.
			rows, err := tx.QueryContext(ctx, s.q(`SELECT break_id FROM case_break_clears WHERE match_id = ?`), o.MatchID)
			if err != nil {
				return nil, err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return nil, err
				}
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				touch(id)
			}
		}
	}
	for _, br := range b.Breaks {
		touch(br.BreakID)
	}
	return touched, nil
}

// restatus derives the status of each break (see the package comment).
func (s *Store) restatus(ctx context.Context, tx *batchTx, ids []string, now time.Time) error {
	for _, id := range ids {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT c.match_id, COALESCE(mo.status, m.status, '') FROM case_break_clears c
			LEFT JOIN case_matches m ON m.match_id = c.match_id LEFT JOIN case_match_outcome mo ON mo.match_id = c.match_id
			WHERE c.break_id = ? ORDER BY c.match_id`), id)
		if err != nil {
			return fmt.Errorf("status of break %s: %w", id, err)
		}
		var live, proposed string
		for rows.Next() {
			var mid, st string
			if err := rows.Scan(&mid, &st); err != nil {
				rows.Close()
				return err
			}
			switch st {
			case string(record.Auto), string(record.Confirmed):
				if live == "" {
					live = mid
				}
			case string(record.Proposed):
				if proposed == "" {
					proposed = mid
				}
			}
		}
		rows.Close()
		status, by := StatusOpen, ""
		var ost, omid string
		err = tx.QueryRowContext(ctx, s.q(`SELECT status, match_id FROM case_break_outcome WHERE break_id = ?`), id).Scan(&ost, &omid)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("status of break %s: %w", id, err)
		}
		switch {
		case live != "":
			status, by = StatusMatched, live
		case ost != "":
			status = ost
			if ost == StatusMatched {
				by = omid
			}
		case proposed != "":
			status, by = StatusProposed, proposed
		}
		var byArg any
		if by != "" {
			byArg = by
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_breaks SET status = ?, matched_by = ?, updated_at = ?
			WHERE break_id = ? AND (status <> ? OR COALESCE(matched_by, '') <> ?)`), status, byArg, now, id, status, by); err != nil {
			return fmt.Errorf("status of break %s: %w", id, err)
		}
	}
	return nil
}

// statements stores statement balances (the same statement again changes nothing).
func (s *Store) statements(ctx context.Context, tx *batchTx, sts []*record.Statement) error {
	opt := func(d *money.Decimal) any {
		if d == nil {
			return nil
		}
		return d.String()
	}
	date := func(d *record.Date) any {
		if d == nil {
			return nil
		}
		return d.String()
	}
	for _, st := range sts {
		prov := 0
		if st.Provisional {
			prov = 1
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_statements (statement_id, account, currency, closing_date, closing_balance,
			opening_date, opening_balance, entries, entries_total, provisional, format, source_file, sequence)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (statement_id) DO NOTHING`),
			st.ID, st.Account, st.Currency, date(st.ClosingDate), opt(st.ClosingBalance), date(st.OpeningDate), opt(st.OpeningBalance),
			st.Entries, st.EntriesTotal.String(), prov, st.Format, st.SourceFile, st.Sequence); err != nil {
			return fmt.Errorf("statement %s: %w", st.ID, err)
		}
	}
	return nil
}

// Offsets returns the stored next offsets of consumer: topic -> partition -> offset.
func (s *Store) Offsets(ctx context.Context, consumer string) (map[string]map[int32]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT topic, part, next_offset FROM case_offsets WHERE consumer = ?`), consumer)
	if err != nil {
		return nil, fmt.Errorf("case store %s: offsets: %w", s.source, err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var t string
		var p int32
		var n int64
		if err := rows.Scan(&t, &p, &n); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = n
	}
	return out, rows.Err()
}

func candidatesJSON(cs []record.Candidate) []Candidate {
	out := make([]Candidate, 0, len(cs))
	for _, c := range cs {
		out = append(out, Candidate{ID: c.ID, Amount: c.Amount.String(), BookingDate: c.BookingDate.String(),
			Reference: c.Reference, Score: c.Score, Note: c.Note})
	}
	return out
}
