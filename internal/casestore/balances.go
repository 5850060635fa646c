package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// The balance view (docs/design.md §9): per account, currency and day, the
// statement's closing balance against the ledger balance, and the items
// that explain the difference. The feed stores every booked transaction of
// both sides (case_recs) with the day totals (case_record_days) and the
// members of every match (case_match_recs); a record is *settled* on the
// last booking date of the live final match (auto or confirmed, not undone)
// that contains it, so the items of a day are the records booked up to it
// that are not settled by it — an index range, not a scan of the history.
//
// Tables:
//
//	case_recs           one row per bank or ledger transaction, booked or named by a match (recs.go), with the day it is settled on
//	case_record_days    account, currency, side, day -> total and count of the day's booked records
//	case_match_recs     record -> the matches that name it, with its place among their items
//
// The identity a controller signs: for the records booked after the ledger
// opening date up to the day,
//
//	unexplained = statement balance − ledger balance − Σ item effects
//
// where a bank item's effect is its amount, a ledger item's its amount
// negated, and a match whose members are all booked by the day contributes
// its difference (bank − ledger). Every record is an item or in such a
// match, so the unexplained difference is what the records cannot explain:
// a bank entry the system never received, or an opening balance that does
// not agree with the bank's.

// notSettled is the settled date of a record no live final match contains.
const notSettled = "9999-12-31"

// Item kinds of the balance view, in the order the view lists them.
const (
	ItemOpenBreak   = "open_break"       // a break waiting for a person
	ItemAdjustment  = "adjustment"       // an open break with an approved adjusting entry, awaiting its posting
	ItemProposed    = "proposed"         // in a proposed match waiting for a person
	ItemPending     = "pending"          // within its matching window: no decision yet
	ItemInTransit   = "matched_later"    // matched to a counterpart booked after the day
	ItemClosed      = "closed_unmatched" // written off or accepted without a counterpart
	ItemMatchDiff   = "match_difference" // a match whose sides differ (tolerance, manual with a difference)
	maxBalanceItems = 100000
)

// ItemKinds are the kinds in display order.
var ItemKinds = []string{ItemOpenBreak, ItemAdjustment, ItemProposed, ItemPending, ItemInTransit, ItemClosed, ItemMatchDiff}

// Opening is the ledger balance at the end of Date: records booked after
// it count towards the view.
type Opening struct {
	Date    record.Date
	Balance money.Decimal
	Source  string // where it comes from: "setting", or the statement it was taken from
}

// BalanceItem is one reconciling item.
type BalanceItem struct {
	Kind           string
	Side           string // bank or ledger ("" for a match difference)
	RecordID       string
	Amount         money.Decimal // the record's signed amount (a match difference: bank − ledger)
	Effect         money.Decimal // what it explains: bank +amount, ledger −amount, difference as is
	BookingDate    record.Date
	Adjusted       bool // its break has an approved adjustment
	Reference      string
	Counterparty   string
	SourceFile     string
	SourcePosition int64
	BreakID        string
	BreakStatus    string
	MatchID        string
}

// StatementBalance is a statement closing on the day.
type StatementBalance struct {
	StatementID, Format, SourceFile string
	Balance                         money.Decimal
}

// SideTotal sums one side's records of the view.
type SideTotal struct {
	Before      money.Decimal // booked after the opening and before the day
	BeforeCount int
	Day         money.Decimal // booked on the day
	DayCount    int
}

// Balance is the balance view of one account, currency and day.
type Balance struct {
	Account, Currency string
	Date              record.Date
	// Statements closing on the day (non-provisional, with a closing
	// balance); more than one with different balances is a conflict.
	Statements       []StatementBalance
	StatementBalance *money.Decimal // nil: no statement closes on the day, or they disagree
	Opening          Opening
	HasOpening       bool // false: no setting and no statement with an opening balance
	Bank, Ledger     SideTotal
	LedgerBalance    money.Decimal // opening + the ledger records up to the day
	Items            []BalanceItem
	Totals           map[string]money.Decimal // effect per item kind
	Counts           map[string]int
	ItemsTotal       money.Decimal
	// Unexplained is statement − ledger − items; nil when there is no
	// single statement balance or no opening.
	Unexplained *money.Decimal
	Problem     string // why Unexplained is nil
	// Issues are the missing or inconsistent statements that stand for
	// the day (Continuity; the console fills them in).
	Issues []StatementIssue
}

// Reconciled says whether the day can be signed off: a statement, an
// opening, nothing unexplained and no missing or inconsistent statement.
func (b *Balance) Reconciled() bool {
	return b.Unexplained != nil && b.Unexplained.IsZero() && len(b.Issues) == 0
}

// records stores a batch's booked transactions and their day totals (a
// record read twice changes nothing). A record a match named first is
// marked booked and counted now.
func (s *Store) records(ctx context.Context, tx *batchTx, txs []*record.Transaction) error {
	type dayKey struct{ acct, cur, side, day string }
	type dayAdd struct {
		total money.Decimal
		n     int
	}
	add := map[dayKey]*dayAdd{}
	var order []dayKey
	for _, t := range txs {
		if t.Provisional {
			continue // intraday: superseded by the booked entry
		}
		r := recOfTransaction(t)
		rec, isNew, wasBooked, err := s.ensureRec(ctx, tx, r, true)
		if err != nil {
			return err
		}
		switch {
		case isNew:
		case wasBooked:
			continue
		default:
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_recs SET booked = 1 WHERE rec = ?`), rec); err != nil {
				return fmt.Errorf("record %s: %w", t.ID, err)
			}
			tx.booked(r, rec)
		}
		k := dayKey{t.Account, t.Currency, string(t.Side), t.BookingDate.String()}
		if add[k] == nil {
			add[k] = &dayAdd{}
			order = append(order, k)
		}
		if add[k].total, err = add[k].total.Add(t.Amount); err != nil {
			return fmt.Errorf("record %s: day total: %w", t.ID, err)
		}
		add[k].n++
	}
	for _, k := range order {
		var total string
		var n int
		err := tx.QueryRowContext(ctx, s.q(`SELECT total, n FROM case_record_days WHERE account = ? AND currency = ? AND side = ? AND booking_date = ?`),
			k.acct, k.cur, k.side, k.day).Scan(&total, &n)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("day total %s %s %s: %w", k.acct, k.cur, k.day, err)
		}
		sum := add[k].total
		if total != "" {
			have, err := money.Parse(total)
			if err != nil {
				return fmt.Errorf("day total %s %s %s: %w", k.acct, k.cur, k.day, err)
			}
			if sum, err = have.Add(sum); err != nil {
				return fmt.Errorf("day total %s %s %s: %w", k.acct, k.cur, k.day, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_record_days (account, currency, side, booking_date, total, n) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (account, currency, side, booking_date) DO UPDATE SET total = excluded.total, n = excluded.n`),
			k.acct, k.cur, k.side, k.day, sum.String(), n+add[k].n); err != nil {
			return fmt.Errorf("day total %s %s %s: %w", k.acct, k.cur, k.day, err)
		}
	}
	return nil
}

// matchSpan is the first and last booking date of a match's members and
// whether its sides differ.
func matchSpan(m *record.Match) (first, last record.Date, diffZero int) {
	first, last = record.Date(1<<31-1), record.Date(-1<<31)
	for _, its := range [][]record.Item{m.Bank, m.Ledger} {
		for _, it := range its {
			first, last = min(first, it.BookingDate), max(last, it.BookingDate)
		}
	}
	if m.Difference.IsZero() {
		diffZero = 1
	}
	return first, last, diffZero
}

// members stores the members of a batch's (stored) matches, a record a
// match names before it is read included, and marks them for resettling.
// mrows are the matches' row keys.
func (s *Store) members(ctx context.Context, tx *batchTx, ms []*record.Match, mrows map[string]int64, touched map[int64]bool) error {
	for _, m := range ms {
		mrow := mrows[m.MatchID]
		item := 0
		for i, its := range [][]record.Item{m.Bank, m.Ledger} {
			side := record.Bank
			if i == 1 {
				side = record.Ledger
			}
			for _, it := range its {
				rec, _, _, err := s.ensureRec(ctx, tx, recOfItem(it, side, m.Account, m.Currency), false)
				if err != nil {
					return fmt.Errorf("match %s: member %s: %w", m.MatchID, it.ID, err)
				}
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_match_recs (rec, mrow, item) VALUES (?, ?, ?) ON CONFLICT (rec, mrow) DO NOTHING`),
					rec, mrow, item); err != nil {
					return fmt.Errorf("match %s: member %s: %w", m.MatchID, it.ID, err)
				}
				item++
				touched[rec] = true
			}
		}
	}
	return nil
}

// touchMatch marks the members of a match whose status changed.
func (s *Store) touchMatch(ctx context.Context, tx *batchTx, matchID string, touched map[int64]bool) error {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT mr.rec FROM case_match_recs mr JOIN case_matches m ON m.mrow = mr.mrow WHERE m.match_id = ?`), matchID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rec int64
		if err := rows.Scan(&rec); err != nil {
			return err
		}
		touched[rec] = true
	}
	return rows.Err()
}

// liveFinal is the condition on m (case_matches) and mo
// (case_match_outcome) of a match that settles its members.
const liveFinal = `COALESCE(mo.status, m.status) IN ('auto', 'confirmed')`

// resettle recomputes the settled date of the touched records.
func (s *Store) resettle(ctx context.Context, tx *batchTx, touched map[int64]bool) error {
	recs := make([]int64, 0, len(touched))
	for k := range touched {
		recs = append(recs, k)
	}
	slices.Sort(recs)
	for _, rec := range recs {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_recs SET settled = COALESCE((SELECT MAX(m.last_date) FROM case_match_recs mr
			JOIN case_matches m ON m.mrow = mr.mrow LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
			WHERE mr.rec = ? AND `+liveFinal+`), ?) WHERE rec = ?`), rec, notSettled, rec); err != nil {
			return fmt.Errorf("settle record %d: %w", rec, err)
		}
	}
	return nil
}

// normaliseRecords moves the balance view's records (case_records) and
// the members that every match carried as copies (case_matches_v1) into
// case_recs and case_match_recs; the matches themselves are in the new
// case_matches already.
func (s *Store) normaliseRecords(ctx context.Context, sqlTx *sql.Tx) error {
	tx := newBatchTx(sqlTx)
	tx.atNormalise = true
	defer tx.close()
	rows, err := tx.QueryContext(ctx, `SELECT record_id, source_file, source_position, side, account, currency, amount, booking_date,
		reference, counterparty, settled FROM case_records ORDER BY booking_date, record_id, source_file, source_position`)
	if err != nil {
		return err
	}
	type old struct {
		r       recRow
		settled string
	}
	var recs []old
	for rows.Next() {
		var o old
		var bd, settled dateValue
		if err := rows.Scan(&o.r.id, &o.r.file, &o.r.pos, &o.r.side, &o.r.account, &o.r.currency, &o.r.amount, &bd,
			&o.r.reference, &o.r.counterparty, &settled); err != nil {
			rows.Close()
			return err
		}
		o.r.booking, o.settled = bd.d, settled.d.String()
		recs = append(recs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	booked := make(map[int64]bool, len(recs)) // settled dates carried over
	for _, o := range recs {
		rec, _, _, err := s.ensureRec(ctx, tx, o.r, true)
		if err != nil {
			return err
		}
		booked[rec] = true
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_recs SET settled = ? WHERE rec = ?`), o.settled, rec); err != nil {
			return err
		}
	}
	rows, err = tx.QueryContext(ctx, `SELECT match_id, account, currency, difference, bank, ledger FROM case_matches_v1`)
	if err != nil {
		return err
	}
	var ms []*record.Match
	for rows.Next() {
		var id, acct, cur, diff, bank, ledger string
		if err := rows.Scan(&id, &acct, &cur, &diff, &bank, &ledger); err != nil {
			rows.Close()
			return err
		}
		m := &record.Match{MatchID: id, Account: acct, Currency: cur}
		m.Difference, _ = money.Parse(diff)
		for _, side := range []struct {
			raw string
			to  *[]record.Item
		}{{bank, &m.Bank}, {ledger, &m.Ledger}} {
			its, err := parseItems([]byte(side.raw))
			if err != nil {
				rows.Close()
				return fmt.Errorf("match %s: %w", id, err)
			}
			for _, it := range its {
				d, _ := record.ParseDate(it.BookingDate)
				amt, err := money.Parse(it.Amount)
				if err != nil {
					rows.Close()
					return fmt.Errorf("match %s: item %s: amount %q: %w", id, it.ID, it.Amount, err)
				}
				*side.to = append(*side.to, record.Item{ID: it.ID, Amount: amt, BookingDate: d, Reference: it.Reference,
					Counterparty: it.Counterparty, Description: it.Description, SourceFile: it.SourceFile, SourcePosition: it.SourcePosition})
			}
		}
		ms = append(ms, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// The span of each match's members, which the old rows lack, and
	// its row key.
	mrows := make(map[string]int64, len(ms))
	for _, m := range ms {
		first, last, diffZero := matchSpan(m)
		var mrow int64
		if err := tx.QueryRowContext(ctx, s.q(`UPDATE case_matches SET first_date = ?, last_date = ?, diff_zero = ? WHERE match_id = ? RETURNING mrow`),
			first.String(), last.String(), diffZero, m.MatchID).Scan(&mrow); err != nil {
			return fmt.Errorf("match %s: %w", m.MatchID, err)
		}
		mrows[m.MatchID] = mrow
	}
	touched := map[int64]bool{}
	if err := s.members(ctx, tx, ms, mrows, touched); err != nil {
		return err
	}
	// Records only a match named have no settled date yet.
	for rec := range booked {
		delete(touched, rec)
	}
	return s.resettle(ctx, tx, touched)
}

// FirstOpening is the opening balance of the account's first statement
// (by opening date) as the ledger opening, for a store without a setting:
// the books are taken to agree with the bank when reconciliation starts.
func (s *Store) FirstOpening(ctx context.Context, account, currency string) (Opening, bool, error) {
	var id, bal string
	var od dateValue
	err := s.db.QueryRowContext(ctx, s.q(`SELECT statement_id, opening_date, opening_balance FROM case_statements
		WHERE account = ? AND currency = ? AND provisional = 0 AND opening_date IS NOT NULL AND opening_balance IS NOT NULL
		ORDER BY opening_date, statement_id LIMIT 1`), account, currency).Scan(&id, &od, &bal)
	if errors.Is(err, sql.ErrNoRows) {
		return Opening{}, false, nil
	}
	if err != nil {
		return Opening{}, false, fmt.Errorf("case store %s: opening: %w", s.source, err)
	}
	d, err := money.Parse(bal)
	if err != nil {
		return Opening{}, false, fmt.Errorf("statement %s: opening balance %q: %w", id, bal, err)
	}
	return Opening{Date: od.d - 1, Balance: d, Source: "opening balance of statement " + id}, true, nil
}

// Balance computes the balance view of one account, currency and day;
// opening nil takes the first statement's opening balance (FirstOpening).
func (s *Store) Balance(ctx context.Context, account, currency string, day record.Date, opening *Opening) (*Balance, error) {
	b := &Balance{Account: account, Currency: currency, Date: day, Totals: map[string]money.Decimal{}, Counts: map[string]int{}}
	if opening != nil {
		b.Opening, b.HasOpening = *opening, true
	} else {
		var err error
		if b.Opening, b.HasOpening, err = s.FirstOpening(ctx, account, currency); err != nil {
			return nil, err
		}
	}
	if err := s.dayStatements(ctx, b); err != nil {
		return nil, err
	}
	if err := s.sideTotals(ctx, b); err != nil {
		return nil, err
	}
	var err error
	if b.LedgerBalance, err = b.Opening.Balance.Add(b.Ledger.Before); err == nil {
		b.LedgerBalance, err = b.LedgerBalance.Add(b.Ledger.Day)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger balance: %w", err)
	}
	if err := s.openItems(ctx, b); err != nil {
		return nil, err
	}
	if err := s.matchDifferences(ctx, b); err != nil {
		return nil, err
	}
	for _, it := range b.Items {
		if b.Totals[it.Kind], err = b.Totals[it.Kind].Add(it.Effect); err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		b.Counts[it.Kind]++
		if b.ItemsTotal, err = b.ItemsTotal.Add(it.Effect); err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
	}
	switch {
	case !b.HasOpening:
		b.Problem = "no ledger opening balance: set ledger-opening-balances, or ingest a statement with an opening balance"
	case b.StatementBalance == nil && len(b.Statements) == 0:
		b.Problem = "no statement closes on " + day.String()
	case b.StatementBalance == nil:
		b.Problem = fmt.Sprintf("%d statements close on %s with different balances", len(b.Statements), day)
	default:
		u, err := b.StatementBalance.Sub(b.LedgerBalance)
		if err == nil {
			u, err = u.Sub(b.ItemsTotal)
		}
		if err != nil {
			return nil, fmt.Errorf("unexplained difference: %w", err)
		}
		b.Unexplained = &u
	}
	return b, nil
}

func (s *Store) dayStatements(ctx context.Context, b *Balance) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT statement_id, format, source_file, closing_balance FROM case_statements
		WHERE account = ? AND currency = ? AND closing_date = ? AND provisional = 0 AND closing_balance IS NOT NULL ORDER BY statement_id`),
		b.Account, b.Currency, b.Date.String())
	if err != nil {
		return fmt.Errorf("case store %s: statements: %w", s.source, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st StatementBalance
		var bal string
		if err := rows.Scan(&st.StatementID, &st.Format, &st.SourceFile, &bal); err != nil {
			return err
		}
		if st.Balance, err = money.Parse(bal); err != nil {
			return fmt.Errorf("statement %s: closing balance %q: %w", st.StatementID, bal, err)
		}
		b.Statements = append(b.Statements, st)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(b.Statements) > 0 {
		v := b.Statements[0].Balance
		for _, st := range b.Statements[1:] {
			if !st.Balance.Equal(v) {
				return nil
			}
		}
		b.StatementBalance = &v
	}
	return nil
}

func (s *Store) sideTotals(ctx context.Context, b *Balance) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT side, booking_date, total, n FROM case_record_days
		WHERE account = ? AND currency = ? AND booking_date > ? AND booking_date <= ?`),
		b.Account, b.Currency, b.Opening.Date.String(), b.Date.String())
	if err != nil {
		return fmt.Errorf("case store %s: day totals: %w", s.source, err)
	}
	defer rows.Close()
	for rows.Next() {
		var side, total string
		var d dateValue
		var n int
		if err := rows.Scan(&side, &d, &total, &n); err != nil {
			return err
		}
		v, err := money.Parse(total)
		if err != nil {
			return fmt.Errorf("day total %s: %w", total, err)
		}
		t := &b.Bank
		if side == string(record.Ledger) {
			t = &b.Ledger
		}
		if d.d == b.Date {
			t.Day, err = t.Day.Add(v)
			t.DayCount += n
		} else {
			t.Before, err = t.Before.Add(v)
			t.BeforeCount += n
		}
		if err != nil {
			return fmt.Errorf("day totals: %w", err)
		}
	}
	return rows.Err()
}

// breakRank orders a record's breaks: the one the view names.
var breakRank = map[string]int{StatusOpen: 0, StatusProposed: 1, StatusWrittenOff: 2, StatusAccepted: 2, StatusMatched: 3}

// openItems lists the records booked up to the day that no match settled
// by the day.
func (s *Store) openItems(ctx context.Context, b *Balance) error {
	acct, ok, err := s.lookupAcct(ctx, b.Account, b.Currency)
	if err != nil || !ok {
		return err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.rec, r.record_id, f.name, r.source_position, r.side, r.amount, r.booking_date,
		r.reference, r.counterparty, r.settled, COALESCE(k.break_id, ''), COALESCE(k.status, ''),
		(SELECT COALESCE(MAX(m.match_id), '') FROM case_match_recs mr JOIN case_matches m ON m.mrow = mr.mrow
			LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
			WHERE mr.rec = r.rec AND COALESCE(mo.status, m.status) IN ('proposed', 'auto', 'confirmed')),
		(SELECT COUNT(*) FROM case_action_breaks ab JOIN case_actions a ON a.action_id = ab.action_id
			WHERE ab.break_id = k.break_id AND a.kind = ? AND a.status = ?)
		FROM case_recs r JOIN case_files f ON f.file_id = r.file_id LEFT JOIN case_breaks k
			ON k.record_id = r.record_id AND k.source_file = f.name AND k.source_position = r.source_position
		WHERE r.acct_id = ? AND r.settled > ? AND r.booking_date > ? AND r.booking_date <= ? AND r.booked = 1
		ORDER BY r.booking_date, r.side, r.record_id, f.name, r.source_position`),
		KindAdjust, ActionApplied, acct, b.Date.String(), b.Opening.Date.String(), b.Date.String())
	if err != nil {
		return fmt.Errorf("case store %s: balance items: %w", s.source, err)
	}
	defer rows.Close()
	idx := map[int64]int{}
	for rows.Next() {
		var it BalanceItem
		var rec int64
		var amt, breakID, breakStatus, matchID string
		var bd, settled dateValue
		var adjusted int
		if err := rows.Scan(&rec, &it.RecordID, &it.SourceFile, &it.SourcePosition, &it.Side, &amt, &bd, &it.Reference, &it.Counterparty,
			&settled, &breakID, &breakStatus, &matchID, &adjusted); err != nil {
			return err
		}
		if i, ok := idx[rec]; ok {
			// A record with more than one break: the view names the one
			// that most needs a person.
			if breakRank[breakStatus] < breakRank[b.Items[i].BreakStatus] {
				b.Items[i].BreakID, b.Items[i].BreakStatus, b.Items[i].Adjusted = breakID, breakStatus, adjusted > 0
				b.Items[i].Kind = itemKind(b.Items[i], settled.d)
			}
			continue
		}
		if it.Amount, err = money.Parse(amt); err != nil {
			return fmt.Errorf("record %s: amount %q: %w", it.RecordID, amt, err)
		}
		it.Effect = it.Amount
		if it.Side == string(record.Ledger) {
			if it.Effect, err = it.Amount.Neg(); err != nil {
				return err
			}
		}
		it.BookingDate, it.BreakID, it.BreakStatus, it.MatchID, it.Adjusted = bd.d, breakID, breakStatus, matchID, adjusted > 0
		it.Kind = itemKind(it, settled.d)
		if len(b.Items) >= maxBalanceItems {
			return fmt.Errorf("more than %d reconciling items on %s %s %s: the view does not list them all", maxBalanceItems, b.Account, b.Currency, b.Date)
		}
		idx[rec] = len(b.Items)
		b.Items = append(b.Items, it)
	}
	return rows.Err()
}

var farDate, _ = record.ParseDate(notSettled)

// itemKind classifies an unsettled record.
func itemKind(it BalanceItem, settled record.Date) string {
	switch {
	case settled != farDate:
		return ItemInTransit
	case it.BreakStatus == StatusOpen && it.Adjusted:
		return ItemAdjustment
	case it.BreakStatus == StatusOpen:
		return ItemOpenBreak
	case it.BreakStatus == StatusWrittenOff, it.BreakStatus == StatusAccepted:
		return ItemClosed
	case it.BreakStatus == StatusProposed, it.MatchID != "":
		return ItemProposed
	}
	return ItemPending
}

// matchDifferences adds, for each live final match settled by the day
// whose sides differ within the view (or that straddles the opening), the
// difference of its members booked after the opening.
func (s *Store) matchDifferences(ctx context.Context, b *Balance) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT m.match_id, m.rule, r.side, r.amount, r.booking_date FROM case_matches m
		LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
		JOIN case_match_recs mr ON mr.mrow = m.mrow JOIN case_recs r ON r.rec = mr.rec
		WHERE m.account = ? AND m.currency = ? AND m.last_date > ? AND m.last_date <= ? AND (m.diff_zero = 0 OR m.first_date <= ?)
		AND `+liveFinal+` ORDER BY m.last_date, m.match_id, mr.item`),
		b.Account, b.Currency, b.Opening.Date.String(), b.Date.String(), b.Opening.Date.String())
	if err != nil {
		return fmt.Errorf("case store %s: match differences: %w", s.source, err)
	}
	defer rows.Close()
	var it *BalanceItem
	flush := func() {
		if it != nil && !it.Effect.IsZero() {
			it.Amount = it.Effect
			b.Items = append(b.Items, *it)
		}
	}
	for rows.Next() {
		var id, rule, side, amt string
		var bd dateValue
		if err := rows.Scan(&id, &rule, &side, &amt, &bd); err != nil {
			return err
		}
		if it == nil || it.MatchID != id {
			flush()
			it = &BalanceItem{Kind: ItemMatchDiff, MatchID: id, Reference: rule}
		}
		if bd.d <= b.Opening.Date {
			continue
		}
		v, err := money.Parse(amt)
		if err != nil {
			return fmt.Errorf("match %s: amount %q: %w", id, amt, err)
		}
		if side == string(record.Bank) {
			it.Effect, err = it.Effect.Add(v)
		} else {
			it.Effect, err = it.Effect.Sub(v)
		}
		if err != nil {
			return err
		}
		it.BookingDate = max(it.BookingDate, bd.d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	flush()
	return nil
}

// AccountDay is an account, currency and day with a statement closing on it.
type AccountDay struct {
	Account, Currency string
	Date              record.Date
}

// StatementDays returns the latest days (at most perAccount per account
// and currency) on which a statement closes, by account then newest first.
func (s *Store) StatementDays(ctx context.Context, perAccount int) ([]AccountDay, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT account, currency, closing_date FROM case_statements
		WHERE provisional = 0 AND closing_date IS NOT NULL AND closing_balance IS NOT NULL ORDER BY account, currency, closing_date DESC`)
	if err != nil {
		return nil, fmt.Errorf("case store %s: statement days: %w", s.source, err)
	}
	defer rows.Close()
	var out []AccountDay
	n := 0
	for rows.Next() {
		var ad AccountDay
		var d dateValue
		if err := rows.Scan(&ad.Account, &ad.Currency, &d); err != nil {
			return nil, err
		}
		ad.Date = d.d
		if len(out) > 0 && out[len(out)-1].Account == ad.Account && out[len(out)-1].Currency == ad.Currency {
			n++
		} else {
			n = 1
		}
		if n <= perAccount {
			out = append(out, ad)
		}
	}
	return out, rows.Err()
}

// Posting is a stored record, for the drill-down from a balance's totals.
type Posting struct {
	RecordID, Side, Reference, Counterparty, SourceFile string
	SourcePosition                                      int64
	Amount                                              money.Decimal
	BookingDate                                         record.Date
	Settled                                             bool
}

// Postings returns one side's records of an account booked on day (at
// most limit, and whether there are more).
func (s *Store) Postings(ctx context.Context, account, currency, side string, day record.Date, limit int) ([]Posting, bool, error) {
	acct, ok, err := s.lookupAcct(ctx, account, currency)
	if err != nil || !ok {
		return nil, false, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.record_id, r.side, r.reference, r.counterparty, f.name, r.source_position, r.amount,
		r.booking_date, r.settled FROM case_recs r JOIN case_files f ON f.file_id = r.file_id
		WHERE r.acct_id = ? AND r.side = ? AND r.booking_date = ? AND r.booked = 1 ORDER BY f.name, r.source_position LIMIT ?`),
		acct, side, day.String(), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("case store %s: postings: %w", s.source, err)
	}
	defer rows.Close()
	var out []Posting
	for rows.Next() {
		var p Posting
		var amt string
		var bd, settled dateValue
		if err := rows.Scan(&p.RecordID, &p.Side, &p.Reference, &p.Counterparty, &p.SourceFile, &p.SourcePosition, &amt, &bd, &settled); err != nil {
			return nil, false, err
		}
		if p.Amount, err = money.Parse(amt); err != nil {
			return nil, false, fmt.Errorf("record %s: amount %q: %w", p.RecordID, amt, err)
		}
		p.BookingDate, p.Settled = bd.d, settled.d != farDate
		out = append(out, p)
	}
	if len(out) > limit {
		return out[:limit], true, rows.Err()
	}
	return out, false, rows.Err()
}

// RecordDays returns the booking dates of the account's stored records
// with the ids (records still open in the matcher, named by a manual
// match); ids the store has not read yet are left out.
func (s *Store) RecordDays(ctx context.Context, account, currency string, ids []string) ([]record.Date, error) {
	acct, ok, err := s.lookupAcct(ctx, account, currency)
	if err != nil || !ok {
		return nil, err
	}
	var days []record.Date
	for _, id := range ids {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT booking_date FROM case_recs WHERE record_id = ? AND acct_id = ? AND booked = 1`),
			id, acct)
		if err != nil {
			return nil, fmt.Errorf("case store %s: record %s: %w", s.source, id, err)
		}
		for rows.Next() {
			var d dateValue
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, err
			}
			days = append(days, d.d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return days, nil
}

// MatchApprovedBy returns who approved the request that made or confirmed
// the match ("" when no second person did).
func (s *Store) MatchApprovedBy(ctx context.Context, matchID string) (string, error) {
	var by string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT approved_by FROM case_outcomes WHERE match_id = ? AND applied = 1 AND approved_by <> ''
		AND action IN (?, ?) ORDER BY seq DESC LIMIT 1`), matchID, string(record.ActManualMatch), string(record.ActConfirm)).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("case store %s: match %s: %w", s.source, matchID, err)
	}
	return by, nil
}
