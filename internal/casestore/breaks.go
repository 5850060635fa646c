package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Breaks as the queue reads them: filters, sorts, keyset pages, counts.

// Candidate is a break's candidate counterpart as stored (Break.Candidates).
type Candidate struct {
	ID          string `json:"id"`
	Amount      string `json:"amount"`
	BookingDate string `json:"booking_date"`
	Reference   string `json:"reference"`
	Score       int    `json:"score"`
	Note        string `json:"note"`
}

// Break is a break as the console shows it.
type Break struct {
	BreakID, Side, Reason, Status string
	Account, Currency             string
	Amount                        money.Decimal
	BookingDate, WindowClosedAt   record.Date
	RecordID, Reference           string
	Counterparty, Description     string
	SourceFile                    string
	SourcePosition                int64
	Candidates                    json.RawMessage
	MatchedBy, Assignee           string
	Note                          string // what the matcher could not search (a group search bound it hit)
	RuleVersion                   int64  // the rule set's version in force when its window closed
}

// Filter selects and orders breaks. The zero Filter is the open breaks,
// oldest first, 50 at a time.
type Filter struct {
	Status                 string // open (default), proposed, matched, written_off, accepted, resolved, all
	Account, Currency      string
	Side, Reason, Assignee string
	Today                  record.Date // age is Today - booking date
	MinAgeDays, MaxAgeDays int         // 0: no bound
	MinAmount, MaxAmount   *money.Decimal
	Text                   string // in reference, bank reference, counterparty, description or record id
	Sort                   string // age (oldest first, default), -age, amount, -amount
	Limit                  int    // default 50, at most 1000
	Cursor                 string // from the previous page
}

// Sorts are the orders ListBreaks knows.
var sorts = map[string]struct {
	col  string
	desc bool
}{"age": {"booking_date", false}, "-age": {"booking_date", true}, "amount": {"amount_e6", false}, "-amount": {"amount_e6", true}}

// ErrBadFilter: a filter value the store cannot use.
var ErrBadFilter = errors.New("bad filter")

// where builds the filter's conditions and arguments.
func (f Filter) where(pg bool, text textMatch) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	switch f.Status {
	case "", StatusOpen:
		add("status = ?", StatusOpen)
	case StatusMatched, StatusProposed, StatusWrittenOff, StatusAccepted:
		add("status = ?", f.Status)
	case "resolved":
		add("status IN (?, ?, ?)", StatusMatched, StatusWrittenOff, StatusAccepted)
	case "all":
	default:
		return "", nil, fmt.Errorf("%w: status %q: want open, proposed, matched, written_off, accepted, resolved or all", ErrBadFilter, f.Status)
	}
	for _, eq := range []struct{ col, v string }{{"account", f.Account}, {"currency", f.Currency}, {"side", f.Side}, {"reason", f.Reason}, {"assignee", f.Assignee}} {
		if eq.v != "" {
			add(eq.col+" = ?", eq.v)
		}
	}
	if f.MinAgeDays > 0 {
		add("booking_date <= ?", (f.Today - record.Date(f.MinAgeDays)).String())
	}
	if f.MaxAgeDays > 0 {
		add("booking_date >= ?", (f.Today - record.Date(f.MaxAgeDays)).String())
	}
	for _, b := range []struct {
		v  *money.Decimal
		op string
	}{{f.MinAmount, ">="}, {f.MaxAmount, "<="}} {
		if b.v == nil {
			continue
		}
		n, err := e6(*b.v)
		if err != nil {
			return "", nil, fmt.Errorf("%w: amount %s: %v", ErrBadFilter, b.v, err)
		}
		add("amount_e6 "+b.op+" ?", n)
	}
	if t := strings.TrimSpace(strings.ToLower(f.Text)); t != "" {
		if text.ids != nil {
			add(`rowid IN (SELECT value FROM json_each(?))`, text.ids)
		} else {
			t = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(t)
			add(`search LIKE ? ESCAPE '\'`, "%"+t+"%")
		}
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// textMatch is how a filter's text is looked up: on SQLite, a text of
// three or more characters is first looked up in the trigram index; when
// it matches few breaks, their row ids (a JSON array) select them; when it
// matches many, a plain LIKE along the sort's index finds a page sooner.
type textMatch struct {
	ids any // JSON array of row ids, or nil for LIKE
}

// textMatchMax is where "few" ends.
const textMatchMax = 5000

func (s *Store) textMatch(ctx context.Context, f Filter) (textMatch, error) {
	t := strings.TrimSpace(strings.ToLower(f.Text))
	if s.pg || utf8.RuneCountInString(t) < 3 || strings.ContainsAny(t, `%_\`) {
		return textMatch{}, nil
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT rowid FROM case_breaks_fts WHERE search LIKE ? LIMIT %d`, textMatchMax+1), "%"+t+"%")
	if err != nil {
		return textMatch{}, fmt.Errorf("case store %s: text: %w", s.source, err)
	}
	defer rows.Close()
	ids := make([]int64, 0, 64)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return textMatch{}, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) > textMatchMax {
		return textMatch{}, err
	}
	b, _ := json.Marshal(ids)
	return textMatch{ids: string(b)}, nil
}

// where is the filter's WHERE clause on this store.
func (s *Store) where(ctx context.Context, f Filter) (string, []any, error) {
	tm, err := s.textMatch(ctx, f)
	if err != nil {
		return "", nil, err
	}
	return f.where(s.pg, tm)
}

const breakColumns = `break_id, side, reason, status, account, currency, amount, booking_date, window_closed_at, record_id,
	reference, counterparty, description, source_file, source_position, candidates, COALESCE(matched_by, ''), COALESCE(assignee, ''),
	COALESCE(note, ''), COALESCE(rule_version, 0)`

// ListBreaks returns a page of the breaks f selects, in f's order, and the
// cursor of the next page ("" after the last).
func (s *Store) ListBreaks(ctx context.Context, f Filter) ([]Break, string, error) {
	if f.Sort == "" {
		f.Sort = "age"
	}
	srt, ok := sorts[f.Sort]
	if !ok {
		return nil, "", fmt.Errorf("%w: sort %q: want age, -age, amount or -amount", ErrBadFilter, f.Sort)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	where, args, err := s.where(ctx, f)
	if err != nil {
		return nil, "", err
	}
	// Keyset paging: the page starts after the cursor's (sort key, id).
	if f.Cursor != "" {
		key, id, ok := strings.Cut(f.Cursor, "~")
		if !ok || id == "" {
			return nil, "", fmt.Errorf("%w: cursor %q", ErrBadFilter, f.Cursor)
		}
		var k any = key
		if srt.col == "amount_e6" {
			n, err := strconv.ParseInt(key, 10, 64)
			if err != nil {
				return nil, "", fmt.Errorf("%w: cursor %q", ErrBadFilter, f.Cursor)
			}
			k = n
		}
		op := ">"
		if srt.desc {
			op = "<"
		}
		// A row value: both databases walk the sort's index from it.
		cond := fmt.Sprintf("(%s, break_id) %s (?, ?)", srt.col, op)
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		args = append(args, k, id)
	}
	dir := "ASC"
	if srt.desc {
		dir = "DESC"
	}
	query := "SELECT " + breakColumns + ", amount_e6 FROM case_breaks" + where +
		fmt.Sprintf(" ORDER BY %s %s, break_id %s LIMIT %d", srt.col, dir, dir, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, "", fmt.Errorf("case store %s: list breaks: %w", s.source, err)
	}
	defer rows.Close()
	var out []Break
	var keys []string
	for rows.Next() {
		b, e6v, err := scanBreak(rows)
		if err != nil {
			return nil, "", err
		}
		key := b.BookingDate.String()
		if srt.col == "amount_e6" {
			key = strconv.FormatInt(e6v, 10)
		}
		out = append(out, b)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = keys[f.Limit-1] + "~" + out[f.Limit-1].BreakID
	}
	return out, next, nil
}

// scanBreak reads one row of breakColumns and amount_e6.
func scanBreak(rows interface{ Scan(...any) error }) (Break, int64, error) {
	var b Break
	var amount string
	var bd, wc dateValue
	var cands []byte
	var e6v int64
	if err := rows.Scan(&b.BreakID, &b.Side, &b.Reason, &b.Status, &b.Account, &b.Currency, &amount, &bd, &wc, &b.RecordID,
		&b.Reference, &b.Counterparty, &b.Description, &b.SourceFile, &b.SourcePosition, &cands, &b.MatchedBy, &b.Assignee, &b.Note, &b.RuleVersion, &e6v); err != nil {
		return b, 0, err
	}
	var err error
	if b.Amount, err = money.Parse(amount); err != nil {
		return b, 0, fmt.Errorf("break %s: stored amount %q: %w", b.BreakID, amount, err)
	}
	b.BookingDate, b.WindowClosedAt, b.Candidates = bd.d, wc.d, json.RawMessage(cands)
	return b, e6v, nil
}

// GetBreak returns one break (ErrNotFound if there is none).
func (s *Store) GetBreak(ctx context.Context, id string) (*Break, error) {
	row := s.db.QueryRowContext(ctx, s.q("SELECT "+breakColumns+", amount_e6 FROM case_breaks WHERE break_id = ?"), id)
	b, _, err := scanBreak(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: break %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("case store %s: break %s: %w", s.source, id, err)
	}
	return &b, nil
}

// BreakIDs returns the ids of the breaks f selects (paging aside), at
// most max of them, and whether there were more.
func (s *Store) BreakIDs(ctx context.Context, f Filter, max int) ([]string, bool, error) {
	f.Cursor = ""
	where, args, err := s.where(ctx, f)
	if err != nil {
		return nil, false, err
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT break_id FROM case_breaks"+where+fmt.Sprintf(" ORDER BY break_id LIMIT %d", max+1)), args...)
	if err != nil {
		return nil, false, fmt.Errorf("case store %s: break ids: %w", s.source, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		out = append(out, id)
	}
	if len(out) > max {
		return out[:max], true, rows.Err()
	}
	return out, false, rows.Err()
}

// CountBreaksUpTo counts the breaks f selects, stopping at max (so a
// broad filter over many breaks answers fast): the count, and whether
// there are more.
func (s *Store) CountBreaksUpTo(ctx context.Context, f Filter, max int64) (int64, bool, error) {
	f.Cursor = ""
	where, args, err := s.where(ctx, f)
	if err != nil {
		return 0, false, err
	}
	var n int64
	q := fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM case_breaks%s LIMIT %d) t", where, max+1)
	if err := s.db.QueryRowContext(ctx, s.q(q), args...).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("case store %s: count breaks: %w", s.source, err)
	}
	if n > max {
		return max, true, nil
	}
	return n, false, nil
}

// CountBreaks is the number of breaks f selects (paging aside).
func (s *Store) CountBreaks(ctx context.Context, f Filter) (int64, error) {
	f.Cursor = ""
	where, args, err := s.where(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM case_breaks"+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("case store %s: count breaks: %w", s.source, err)
	}
	return n, nil
}

// dateValue scans a DATE column: a time from PostgreSQL, text from SQLite.
