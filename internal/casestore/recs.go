package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/openrecon/recon/internal/record"
)

// Every record is stored once (case_recs), whichever names it first: the
// transaction topics (a booked record: booked = 1, counted in the day
// totals) or a match's items (booked = 0 until the record itself is read,
// which a provisional intraday record never is). A match names its
// members by their integer keys (case_match_recs, with the item's place
// in the match), and a record names its file and its account and
// currency by theirs (case_files, case_accounts): the bytes of a key
// are stored once, not in every row and index that refers to it.

// acctKey is an account and currency.
type acctKey struct{ account, currency string }

// refs caches the integer keys of files and accounts. Only keys read or
// written by committed transactions enter it, so a rolled-back batch
// cannot leave a key behind that the database does not hold.
type refs struct {
	mu    sync.Mutex
	files map[string]int64
	accts map[acctKey]int64
}

func (r *refs) file(name string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.files[name]
	return id, ok
}

func (r *refs) acct(k acctKey) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.accts[k]
	return id, ok
}

// merge adds what a committed transaction learned.
func (r *refs) merge(files map[string]int64, accts map[acctKey]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.files == nil {
		r.files, r.accts = map[string]int64{}, map[acctKey]int64{}
	}
	for k, v := range files {
		r.files[k] = v
	}
	for k, v := range accts {
		r.accts[k] = v
	}
}

// fileID is the key of the file named name, created if new.
func (s *Store) fileID(ctx context.Context, tx *batchTx, name string) (int64, error) {
	if id, ok := tx.files[name]; ok {
		return id, nil
	}
	if id, ok := s.refs.file(name); ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_files (name) VALUES (?) ON CONFLICT (name) DO NOTHING`), name); err != nil {
		return 0, fmt.Errorf("file %s: %w", name, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT file_id FROM case_files WHERE name = ?`), name).Scan(&id); err != nil {
		return 0, fmt.Errorf("file %s: %w", name, err)
	}
	tx.files[name] = id
	return id, nil
}

// acctID is the key of an account and currency, created if new.
func (s *Store) acctID(ctx context.Context, tx *batchTx, account, currency string) (int64, error) {
	k := acctKey{account, currency}
	if id, ok := tx.accts[k]; ok {
		return id, nil
	}
	if id, ok := s.refs.acct(k); ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_accounts (account, currency) VALUES (?, ?) ON CONFLICT (account, currency) DO NOTHING`),
		account, currency); err != nil {
		return 0, fmt.Errorf("account %s %s: %w", account, currency, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT acct_id FROM case_accounts WHERE account = ? AND currency = ?`), account, currency).Scan(&id); err != nil {
		return 0, fmt.Errorf("account %s %s: %w", account, currency, err)
	}
	tx.accts[k] = id
	return id, nil
}

// lookupAcct is the key of an account and currency for a read; false
// when the store holds no record of it.
func (s *Store) lookupAcct(ctx context.Context, account, currency string) (int64, bool, error) {
	k := acctKey{account, currency}
	if id, ok := s.refs.acct(k); ok {
		return id, true, nil
	}
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT acct_id FROM case_accounts WHERE account = ? AND currency = ?`), account, currency).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("case store %s: account %s %s: %w", s.source, account, currency, err)
	}
	s.refs.merge(nil, map[acctKey]int64{k: id})
	return id, true, nil
}

// recRow is a record as case_recs stores it.
type recRow struct {
	id, file                       string
	pos                            int64
	side, account, currency        string
	amount                         string
	booking                        record.Date
	reference, counterparty, descr string
	bankRef                        string
	ingested                       int64 // Unix milliseconds (the zero time's too: the warehouse's views show it as the loader did)
}

func recOfTransaction(t *record.Transaction) recRow {
	return recRow{t.ID, t.SourceFile, t.SourcePosition, string(t.Side), t.Account, t.Currency, t.Amount.String(), t.BookingDate,
		t.Reference, t.Counterparty, t.Description, t.BankReference, t.IngestedAt.UnixMilli()}
}

func recOfItem(it record.Item, side record.Side, account, currency string) recRow {
	return recRow{it.ID, it.SourceFile, it.SourcePosition, string(side), account, currency, it.Amount.String(), it.BookingDate,
		it.Reference, it.Counterparty, it.Description, it.BankReference, it.IngestedAt.UnixMilli()}
}

// recKey is a record's identity in case_recs; recState its row key and
// whether it is booked.
type recKey struct {
	id, file string
	pos      int64
}

type recState struct {
	rec    int64
	booked bool
}

// booked notes that the transaction marked r (row rec) booked.
func (t *batchTx) booked(r recRow, rec int64) {
	t.recs[recKey{r.id, r.file, r.pos}] = recState{rec, true}
}

// ensureRec returns the key of r, stored with booked if it is new; isNew
// says it was inserted, wasBooked what a stored row said.
func (s *Store) ensureRec(ctx context.Context, tx *batchTx, r recRow, booked bool) (rec int64, isNew, wasBooked bool, err error) {
	k := recKey{r.id, r.file, r.pos}
	if st, ok := tx.recs[k]; ok {
		return st.rec, false, st.booked, nil
	}
	rec, isNew, wasBooked, err = s.storeRec(ctx, tx, r, booked)
	if err == nil {
		tx.recs[k] = recState{rec, wasBooked || isNew && booked}
	}
	return rec, isNew, wasBooked, err
}

// storeRec is ensureRec for a record the transaction has not seen.
func (s *Store) storeRec(ctx context.Context, tx *batchTx, r recRow, booked bool) (rec int64, isNew, wasBooked bool, err error) {
	fid, err := s.fileID(ctx, tx, r.file)
	if err != nil {
		return 0, false, false, err
	}
	aid, err := s.acctID(ctx, tx, r.account, r.currency)
	if err != nil {
		return 0, false, false, err
	}
	bk := 0
	if booked {
		bk = 1
	}
	var b int
	lookup := func() error {
		return tx.QueryRowContext(ctx, s.q(`SELECT rec, booked FROM case_recs WHERE record_id = ? AND file_id = ? AND source_position = ?`),
			r.id, fid, r.pos).Scan(&rec, &b)
	}
	if !booked {
		// A match's member: usually read already.
		if err := lookup(); err == nil {
			return rec, false, b == 1, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, false, fmt.Errorf("record %s: %w", r.id, err)
		}
	}
	// One statement for a new record (a record read is usually new), a
	// second to read a stored one.
	cols, vals, args := "", "", []any{r.id, fid, r.pos, r.side, aid, bk, r.amount, r.booking.String(), r.reference, r.counterparty, r.descr, notSettled}
	if !tx.atNormalise {
		cols, vals, args = ", bank_reference, ingested_ms", ", ?, ?", append(args, r.bankRef, r.ingested)
	}
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO case_recs (record_id, file_id, source_position, side, acct_id, booked, amount,
		booking_date, reference, counterparty, description, settled`+cols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`+vals+`)
		ON CONFLICT (record_id, file_id, source_position) DO NOTHING RETURNING rec`), args...).Scan(&rec)
	if err == nil {
		return rec, true, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, false, fmt.Errorf("record %s: %w", r.id, err)
	}
	if err := lookup(); err != nil {
		return 0, false, false, fmt.Errorf("record %s: %w", r.id, err)
	}
	return rec, false, b == 1, nil
}

// matchItems reads the members of the matches with the row keys mrows:
// mrow -> bank items, ledger items, in the order the match names them.
func (s *Store) matchItems(ctx context.Context, q querier, mrows []int64) (map[int64]*[2][]MatchItem, error) {
	out := make(map[int64]*[2][]MatchItem, len(mrows))
	for len(mrows) > 0 {
		n := min(len(mrows), 500)
		chunk := mrows[:n]
		mrows = mrows[n:]
		args := make([]any, len(chunk))
		for i, m := range chunk {
			args[i] = m
		}
		rows, err := q.QueryContext(ctx, s.q(`SELECT mr.mrow, r.side, r.record_id, r.amount, r.booking_date, r.reference, r.counterparty,
			r.description, f.name, r.source_position FROM case_match_recs mr JOIN case_recs r ON r.rec = mr.rec
			JOIN case_files f ON f.file_id = r.file_id
			WHERE mr.mrow IN (?`+strings.Repeat(", ?", len(chunk)-1)+`) ORDER BY mr.mrow, mr.item`), args...)
		if err != nil {
			return nil, fmt.Errorf("case store %s: match items: %w", s.source, err)
		}
		for rows.Next() {
			var mrow int64
			var side string
			var it MatchItem
			var bd dateValue
			if err := rows.Scan(&mrow, &side, &it.ID, &it.Amount, &bd, &it.Reference, &it.Counterparty, &it.Description,
				&it.SourceFile, &it.SourcePosition); err != nil {
				rows.Close()
				return nil, err
			}
			it.BookingDate = bd.d.String()
			sides := out[mrow]
			if sides == nil {
				sides = &[2][]MatchItem{}
				out[mrow] = sides
			}
			i := 0
			if side == string(record.Ledger) {
				i = 1
			}
			sides[i] = append(sides[i], it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
