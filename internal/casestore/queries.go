package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow/sla"
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
	RuleVersion                              int64 // the rule set's version that decided it (0: before versions)
}

// MatchItem is a member record of a match, as stored.
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
	m.explanation, m.decided_at, m.mrow, m.clears, COALESCE(m.rule_version, 0)`

// scanMatch reads a match's row; its items are read with withItems.
func scanMatch(rows interface{ Scan(...any) error }) (*Match, int64, error) {
	m := &Match{}
	var diff string
	var decided dateValue
	var mrow int64
	var clears []byte
	if err := rows.Scan(&m.MatchID, &m.Rule, &m.Status, &m.Account, &m.Currency, &m.Confidence, &diff, &m.Explanation, &decided,
		&mrow, &clears, &m.RuleVersion); err != nil {
		return nil, 0, err
	}
	var err error
	if m.Difference, err = money.Parse(diff); err != nil {
		return nil, 0, fmt.Errorf("match %s: difference %q: %w", m.MatchID, diff, err)
	}
	m.DecidedAt = decided.d
	_ = json.Unmarshal(clears, &m.Clears)
	return m, mrow, nil
}

// withItems fills in the items of matches read with scanMatch.
func (s *Store) withItems(ctx context.Context, ms []*Match, mrows []int64) error {
	items, err := s.matchItems(ctx, s.db, mrows)
	if err != nil {
		return err
	}
	for i, m := range ms {
		if sides := items[mrows[i]]; sides != nil {
			m.Bank, m.Ledger = sides[0], sides[1]
		}
	}
	return nil
}

// GetMatch returns one match (ErrNotFound if there is none).
func (s *Store) GetMatch(ctx context.Context, id string) (*Match, error) {
	row := s.db.QueryRowContext(ctx, s.q(`SELECT `+matchColumns+` FROM case_matches m
		LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id WHERE m.match_id = ?`), id)
	m, mrow, err := scanMatch(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: match %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("case store %s: match %s: %w", s.source, id, err)
	}
	if err := s.withItems(ctx, []*Match{m}, []int64{mrow}); err != nil {
		return nil, err
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
	var mrows []int64
	for rows.Next() {
		m, mrow, err := scanMatch(rows)
		if err != nil {
			return nil, err
		}
		out, mrows = append(out, m), append(mrows, mrow)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.withItems(ctx, out, mrows)
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
	// TimeToBreak: of the breaks booked in the last 30 days, how many
	// days after booking their windows closed (they reached the queue):
	// the median and the longest.
	TimeToBreak TimeToBreak `json:"time_to_break_days"`
}

// TimeToBreak is the days from booking to break of a period's breaks.
type TimeToBreak struct {
	Breaks  int64 `json:"breaks"`
	Median  int   `json:"median"`
	Longest int   `json:"longest"`
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
// open breaks past their SLA. Two
// grouped reads of the breaks (every status by day; the open ones by
// reason, side, account and day) give every figure, so the dashboard
// stays fast with many breaks.
func (s *Store) Summary(ctx context.Context, today record.Date, policy sla.Policy) (*Summary, error) {
	out := &Summary{ByStatus: map[string]int64{}, ByReason: map[string]int64{}, BySide: map[string]int64{}, ByAccount: map[string]int64{},
		ByAge: map[string]int64{}, OpenAmount: map[string]string{}, OpenGross: map[string]string{}, MatchRate: map[string]MatchRate{}, SLABreach: map[string]int64{}}
	for _, b := range AgeBuckets {
		out.ByAge[b.Name] = 0
	}
	fail := func(err error) (*Summary, error) { return nil, fmt.Errorf("case store %s: summary: %w", s.source, err) }
	periods := map[string]record.Date{"today": today, "30d": today - 29}
	broken := map[string]int64{}
	rows, err := s.db.QueryContext(ctx, `SELECT status, booking_date, COUNT(*) FROM case_breaks GROUP BY status, booking_date`)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var st string
		var d dateValue
		var n int64
		if err := rows.Scan(&st, &d, &n); err != nil {
			rows.Close()
			return fail(err)
		}
		out.ByStatus[st] += n
		for name, from := range periods {
			if st != StatusMatched && d.d >= from && d.d <= today {
				broken[name] += n
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	net, gross := map[string]int64{}, map[string]int64{}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT reason, side, account, currency, booking_date, COUNT(*), COALESCE(SUM(amount_e6), 0),
		COALESCE(SUM(ABS(amount_e6)), 0) FROM case_breaks WHERE status = ? GROUP BY reason, side, account, currency, booking_date`), StatusOpen)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var reason, side, account, currency string
		var d dateValue
		var n, sum, abs int64
		if err := rows.Scan(&reason, &side, &account, &currency, &d, &n, &sum, &abs); err != nil {
			rows.Close()
			return fail(err)
		}
		out.ByReason[reason] += n
		out.BySide[side] += n
		out.ByAccount[account+" "+currency] += n
		net[currency] += sum
		gross[currency] += abs
		age := int(today - d.d)
		for _, b := range AgeBuckets {
			if age >= b.Min && (b.Max < 0 || age <= b.Max) {
				out.ByAge[b.Name] += n
			}
		}
		if policy.Age(currency, d.d, today) > policy.Days(reason, account) {
			out.SLABreach[reason] += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for c, n := range net {
		out.OpenAmount[c] = money.Format(money.New(n, 6), c)
		out.OpenGross[c] = money.Format(money.New(gross[c], 6), c)
	}
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_matches m LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
		WHERE m.status = 'proposed' AND mo.match_id IS NULL`)).Scan(&out.Proposals); err != nil {
		return fail(err)
	}
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_actions WHERE status = ?`), ActionPending).Scan(&out.Requests); err != nil {
		return fail(err)
	}
	// Time to break, from booking date to window close, per day pair.
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT booking_date, window_closed_at, COUNT(*) FROM case_breaks WHERE booking_date >= ?
		GROUP BY booking_date, window_closed_at`), (today - 29).String())
	if err != nil {
		return fail(err)
	}
	days := map[int]int64{}
	for rows.Next() {
		var b, c dateValue
		var n int64
		if err := rows.Scan(&b, &c, &n); err != nil {
			rows.Close()
			return fail(err)
		}
		d := max(int(c.d-b.d), 0)
		days[d] += n
		out.TimeToBreak.Breaks += n
		out.TimeToBreak.Longest = max(out.TimeToBreak.Longest, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	var seen int64
	for d := 0; d <= out.TimeToBreak.Longest && out.TimeToBreak.Breaks > 0; d++ {
		if seen += days[d]; 2*seen >= out.TimeToBreak.Breaks {
			out.TimeToBreak.Median = d
			break
		}
	}
	for name, from := range periods {
		mr := MatchRate{Broken: broken[name]}
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(m.members), 0) FROM case_matches m
			LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
			WHERE m.decided_at >= ? AND m.decided_at <= ? AND COALESCE(mo.status, m.status) IN ('auto', 'confirmed')`),
			from.String(), today.String()).Scan(&mr.Matched); err != nil {
			return fail(err)
		}
		if total := mr.Matched + mr.Broken; total > 0 {
			mr.Rate = money.New(mr.Matched*10000/total, 4).String()
		}
		out.MatchRate[name] = mr
	}
	return out, nil
}
