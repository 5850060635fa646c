package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Statement continuity: a bank sends one booked statement per business
// day, numbered in sequence, each opening at the previous one's closing
// balance. What breaks that (a day without a statement, a gap in the
// numbers, an opening balance that is not the previous closing) leaves
// entries the system never received or a balance it cannot trust: the
// balance view lists it as a "missing or inconsistent statement" item,
// the day cannot be signed off while it stands, and the escalation sweep
// tells the account's team.

// Statement issue kinds.
const (
	IssueMissing        = "missing_statement" // an expected day without a booked statement
	IssueOpeningDiffers = "opening_differs"   // the opening balance is not the previous statement's closing
	IssueSequenceGap    = "sequence_gap"      // statement numbers skip
)

// StatementIssue is a missing or inconsistent statement of an account.
type StatementIssue struct {
	Kind   string      `json:"kind"`
	Date   record.Date `json:"date"` // the day it concerns
	Detail string      `json:"detail"`
}

// stmtRow is a booked statement's balances and number.
type stmtRow struct {
	id               string
	date             record.Date
	opening, closing *money.Decimal
	number           string
	sourceFile       string
}

// maxMissingListed bounds the missing days listed one by one.
const maxMissingListed = 31

// Continuity returns the statement issues that stand for account and
// currency on day: the statement(s) closing on day against the last one
// before it (its opening balance, its number), and every expected day
// from that one to day without a statement. expected says which days
// have a statement (the currency's business days); nil: none is
// expected, only balances and numbers are checked.
func (s *Store) Continuity(ctx context.Context, account, currency string, day record.Date, expected func(record.Date) bool) ([]StatementIssue, error) {
	fail := func(err error) ([]StatementIssue, error) {
		return nil, fmt.Errorf("case store %s: statement continuity: %w", s.source, err)
	}
	today, err := s.statementRows(ctx, `closing_date = ?`, account, currency, day.String())
	if err != nil {
		return fail(err)
	}
	prevDay := record.Date(0)
	var prev []stmtRow
	var last dateValue
	err = s.db.QueryRowContext(ctx, s.q(`SELECT closing_date FROM case_statements WHERE account = ? AND currency = ?
		AND provisional = 0 AND closing_balance IS NOT NULL AND closing_date < ? ORDER BY closing_date DESC LIMIT 1`), account, currency, day.String()).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fail(err)
	default:
		prevDay = last.d
		if prev, err = s.statementRows(ctx, `closing_date = ?`, account, currency, prevDay.String()); err != nil {
			return fail(err)
		}
	}
	var out []StatementIssue
	if len(prev) == 0 {
		// The first statement of the account: nothing to continue from.
		return out, nil
	}
	if expected != nil {
		var missing []record.Date
		for d := prevDay + 1; d < day; d++ {
			if expected(d) {
				missing = append(missing, d)
			}
		}
		if len(today) == 0 && expected(day) {
			missing = append(missing, day)
		}
		for i, d := range missing {
			if i == maxMissingListed {
				out = append(out, StatementIssue{Kind: IssueMissing, Date: d, Detail: fmt.Sprintf("and %d more business days without a statement up to %s", len(missing)-i, missing[len(missing)-1])})
				break
			}
			out = append(out, StatementIssue{Kind: IssueMissing, Date: d,
				Detail: fmt.Sprintf("no statement for %s, a business day in %s (the last one before it closed %s)", d, currency, prevDay)})
		}
	}
	if len(today) == 0 {
		return out, nil
	}
	p, t := prev[len(prev)-1], today[0] // the day before's last, the day's first
	if p.closing != nil && t.opening != nil && !p.closing.Equal(*t.opening) {
		d, _ := t.opening.Sub(*p.closing)
		out = append(out, StatementIssue{Kind: IssueOpeningDiffers, Date: day,
			Detail: fmt.Sprintf("the statement of %s (%s) opens at %s %s, the statement of %s (%s) closed at %s %s: %s %s apart",
				day, t.sourceFile, money.Format(*t.opening, currency), currency, prevDay, p.sourceFile, money.Format(*p.closing, currency), currency,
				money.Format(d, currency), currency)})
	}
	if gap := numberGap(p.number, t.number); gap != "" {
		out = append(out, StatementIssue{Kind: IssueSequenceGap, Date: day,
			Detail: fmt.Sprintf("statement no. %s of %s follows no. %s of %s: %s", t.number, day, p.number, prevDay, gap)})
	}
	return out, nil
}

// numberGap says which numbers are missing between statement numbers a
// and b ("" when they follow, or either is not a number, or b starts a
// new year's count at 1).
func numberGap(a, b string) string {
	base := func(s string) (int, bool) {
		n, _, _ := strings.Cut(s, "/")
		v, err := strconv.Atoi(n)
		return v, err == nil && s != ""
	}
	x, ok1 := base(a)
	y, ok2 := base(b)
	if !ok1 || !ok2 || y == x || y == x+1 || y == 1 {
		return ""
	}
	if y < x {
		return fmt.Sprintf("the number went back from %d to %d", x, y)
	}
	if y == x+2 {
		return fmt.Sprintf("no. %d is missing", x+1)
	}
	return fmt.Sprintf("nos. %d to %d are missing", x+1, y-1)
}

func (s *Store) statementRows(ctx context.Context, where, account, currency, arg string) ([]stmtRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT statement_id, closing_date, opening_balance, closing_balance, COALESCE(sequence, ''), source_file
		FROM case_statements WHERE account = ? AND currency = ? AND provisional = 0 AND closing_balance IS NOT NULL AND `+where+`
		ORDER BY statement_id`), account, currency, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []stmtRow
	for rows.Next() {
		var r stmtRow
		var d dateValue
		var ob, cb sql.NullString
		var seq string
		if err := rows.Scan(&r.id, &d, &ob, &cb, &seq, &r.sourceFile); err != nil {
			return nil, err
		}
		r.date, r.number = d.d, record.StatementNumber(seq)
		for _, x := range []struct {
			v   sql.NullString
			dst **money.Decimal
		}{{ob, &r.opening}, {cb, &r.closing}} {
			if x.v.Valid && x.v.String != "" {
				v, err := money.Parse(x.v.String)
				if err != nil {
					return nil, fmt.Errorf("statement %s: balance %q: %w", r.id, x.v.String, err)
				}
				*x.dst = &v
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// By number where they have one (pages), else as stored.
	slices.SortStableFunc(out, func(a, b stmtRow) int {
		switch {
		case numLess(a.number, b.number):
			return -1
		case numLess(b.number, a.number):
			return 1
		}
		return 0
	})
	return out, nil
}

func numLess(a, b string) bool {
	pa, pb := strings.SplitN(a, "/", 2), strings.SplitN(b, "/", 2)
	for i := 0; i < 2; i++ {
		x, y := 0, 0
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
