package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Match is a match as the console shows it, with its status now (a
// person's resolution overrides what the matcher first said).
type Match struct {
	MatchID, Rule, Status, Account, Currency string
	Confidence                               int
	Difference                               money.Decimal
	Explanation                              string
	DecidedAt                                record.Date
	Bank, Ledger                             []MatchItem
	Clears                                   []string
}

// MatchItem is a member record of a match.
type MatchItem struct {
	ID             string `json:"id"`
	Amount         string `json:"amount"`
	BookingDate    string `json:"booking_date"`
	Reference      string `json:"reference"`
	Counterparty   string `json:"counterparty"`
	Description    string `json:"description"`
	SourceFile     string `json:"source_file"`
	SourcePosition int64  `json:"source_position"`
}

const matchColumns = `m.match_id, m.rule, COALESCE(mo.status, m.status), m.account, m.currency, m.confidence, m.difference,
	m.explanation, m.decided_at, m.bank, m.ledger, m.clears`

func scanMatch(rows interface{ Scan(...any) error }) (*Match, error) {
	m := &Match{}
	var diff string
	var decided dateValue
	var bank, ledger, clears []byte
	if err := rows.Scan(&m.MatchID, &m.Rule, &m.Status, &m.Account, &m.Currency, &m.Confidence, &diff, &m.Explanation, &decided,
		&bank, &ledger, &clears); err != nil {
		return nil, err
	}
	var err error
	if m.Difference, err = money.Parse(diff); err != nil {
		return nil, fmt.Errorf("match %s: difference %q: %w", m.MatchID, diff, err)
	}
	m.DecidedAt = decided.d
	_ = json.Unmarshal(bank, &m.Bank)
	_ = json.Unmarshal(ledger, &m.Ledger)
	_ = json.Unmarshal(clears, &m.Clears)
	return m, nil
}

// GetMatch returns one match (ErrNotFound if there is none).
func (s *Store) GetMatch(ctx context.Context, id string) (*Match, error) {
	row := s.db.QueryRowContext(ctx, s.q(`SELECT `+matchColumns+` FROM case_matches m
		LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id WHERE m.match_id = ?`), id)
	m, err := scanMatch(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: match %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("case store %s: match %s: %w", s.source, id, err)
	}
	return m, nil
}

// Proposals returns the proposed matches waiting for a person, oldest
// first, at most limit.
func (s *Store) Proposals(ctx context.Context, limit int) ([]*Match, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+matchColumns+` FROM case_matches m
		LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
		WHERE m.status = 'proposed' AND mo.match_id IS NULL
		AND NOT EXISTS (SELECT 1 FROM case_actions a WHERE a.match_id = m.match_id AND a.status IN (?, ?))
		ORDER BY m.decided_at, m.match_id LIMIT ?`), ActionPending, ActionSent, limit)
	if err != nil {
		return nil, fmt.Errorf("case store %s: proposals: %w", s.source, err)
	}
	defer rows.Close()
	var out []*Match
	for rows.Next() {
		m, err := scanMatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Summary is the dashboard's figures.
type Summary struct {
	ByStatus   map[string]int64     `json:"by_status"`
	ByReason   map[string]int64     `json:"by_reason"` // open breaks
	BySide     map[string]int64     `json:"by_side"`   // open breaks
	ByAccount  map[string]int64     `json:"by_account"`
	ByAge      map[string]int64     `json:"by_age"`            // open breaks by age bucket (AgeBuckets)
	OpenAmount map[string]string    `json:"open_amount"`       // net: the signed sum
	OpenGross  map[string]string    `json:"open_amount_gross"` // the sum of absolute amounts
	Proposals  int64                `json:"proposals_waiting"`
	Requests   int64                `json:"requests_waiting"`
	MatchRate  map[string]MatchRate `json:"match_rate"` // "today", "30d"
	SLABreach  map[string]int64     `json:"sla_breaches"`
}

// MatchRate is matched records against all records decided in a period.
type MatchRate struct {
	Matched int64  `json:"matched_records"`
	Broken  int64  `json:"break_records"`
	Rate    string `json:"rate"` // matched / (matched + broken), 4 decimals; "" without records
}

// AgeBuckets are the dashboard's age buckets of open breaks, in days
// (inclusive bounds; the last has no upper bound).
var AgeBuckets = []struct {
	Name     string
	Min, Max int
}{{"0-1", 0, 1}, {"2-3", 2, 3}, {"4-7", 4, 7}, {"8-30", 8, 30}, {">30", 31, -1}}

// Summary counts breaks by status, open breaks by reason, side, account and
// age, open amounts per currency, match rates today and over 30 days, and
// open breaks past their SLA (days per reason; def for the others).
func (s *Store) Summary(ctx context.Context, today record.Date, sla map[string]int, def int) (*Summary, error) {
	out := &Summary{ByStatus: map[string]int64{}, ByReason: map[string]int64{}, BySide: map[string]int64{}, ByAccount: map[string]int64{},
		ByAge: map[string]int64{}, OpenAmount: map[string]string{}, OpenGross: map[string]string{}, MatchRate: map[string]MatchRate{}, SLABreach: map[string]int64{}}
	group := func(query string, args []any, f func(k string, n int64)) error {
		rows, err := s.db.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return fmt.Errorf("case store %s: summary: %w", s.source, err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			f(k, n)
		}
		return rows.Err()
	}
	set := func(m map[string]int64) func(string, int64) { return func(k string, n int64) { m[k] = n } }
	open := []any{StatusOpen}
	steps := []struct {
		q    string
		args []any
		f    func(string, int64)
	}{
		{`SELECT status, COUNT(*) FROM case_breaks GROUP BY status`, nil, set(out.ByStatus)},
		{`SELECT reason, COUNT(*) FROM case_breaks WHERE status = ? GROUP BY reason`, open, set(out.ByReason)},
		{`SELECT side, COUNT(*) FROM case_breaks WHERE status = ? GROUP BY side`, open, set(out.BySide)},
		{`SELECT account || ' ' || currency, COUNT(*) FROM case_breaks WHERE status = ? GROUP BY account, currency`, open, set(out.ByAccount)},
	}
	for _, b := range AgeBuckets {
		q := `SELECT ?, COUNT(*) FROM case_breaks WHERE status = ? AND booking_date <= ?`
		args := []any{b.Name, StatusOpen, (today - record.Date(b.Min)).String()}
		if b.Max >= 0 {
			q += ` AND booking_date >= ?`
			args = append(args, (today - record.Date(b.Max)).String())
		}
		steps = append(steps, struct {
			q    string
			args []any
			f    func(string, int64)
		}{q, args, set(out.ByAge)})
	}
	for _, st := range steps {
		if err := group(st.q, st.args, st.f); err != nil {
			return nil, err
		}
	}
	// Amounts: sums of millionths per currency, exact.
	sums := map[string]int64{}
	if err := group(`SELECT currency, COALESCE(SUM(amount_e6), 0) FROM case_breaks WHERE status = ? GROUP BY currency`, open,
		func(k string, n int64) { sums[k] = n }); err != nil {
		return nil, err
	}
	for c, n := range sums {
		out.OpenAmount[c] = money.Format(money.New(n, 6), c)
	}
	if err := group(`SELECT currency, COALESCE(SUM(ABS(amount_e6)), 0) FROM case_breaks WHERE status = ? GROUP BY currency`, open,
		func(k string, n int64) { out.OpenGross[k] = money.Format(money.New(n, 6), k) }); err != nil {
		return nil, err
	}
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_matches m LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
		WHERE m.status = 'proposed' AND mo.match_id IS NULL`)).Scan(&out.Proposals); err != nil {
		return nil, fmt.Errorf("case store %s: summary: %w", s.source, err)
	}
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_actions WHERE status = ?`), ActionPending).Scan(&out.Requests); err != nil {
		return nil, fmt.Errorf("case store %s: summary: %w", s.source, err)
	}
	for name, days := range map[string]int{"today": 0, "30d": 29} {
		from, to := (today - record.Date(days)).String(), today.String()
		var mr MatchRate
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(m.members), 0) FROM case_matches m
			LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
			WHERE m.decided_at >= ? AND m.decided_at <= ? AND COALESCE(mo.status, m.status) IN ('auto', 'confirmed')`), from, to).Scan(&mr.Matched); err != nil {
			return nil, fmt.Errorf("case store %s: match rate: %w", s.source, err)
		}
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_breaks WHERE booking_date >= ? AND booking_date <= ? AND status <> ?`),
			from, to, StatusMatched).Scan(&mr.Broken); err != nil {
			return nil, fmt.Errorf("case store %s: match rate: %w", s.source, err)
		}
		if total := mr.Matched + mr.Broken; total > 0 {
			mr.Rate = money.New(mr.Matched*10000/total, 4).String()
		}
		out.MatchRate[name] = mr
	}
	// SLA: open breaks older than their reason's days.
	reasons := make([]string, 0, len(out.ByReason))
	for r := range out.ByReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		days, ok := sla[r]
		if !ok {
			days = def
		}
		var n int64
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_breaks WHERE status = ? AND reason = ? AND booking_date < ?`),
			StatusOpen, r, (today - record.Date(days)).String()).Scan(&n); err != nil {
			return nil, fmt.Errorf("case store %s: sla: %w", s.source, err)
		}
		if n > 0 {
			out.SLABreach[r] = n
		}
	}
	return out, nil
}
