// Package casestore is the console's case store (docs/design.md §9): the
// breaks and matches as the console works them, on PostgreSQL in
// production and SQLite in the all-in-one mode. The console's consumer
// applies what it reads from the topics with Apply: rows are upserted by
// their deterministic ids and the consumed offsets are stored in the same
// transaction, so a restart resumes exactly, a record read twice changes
// nothing, and the store can be rebuilt from the topics.
//
// Tables:
//
//	case_breaks         one row per break: the record, why, its status and who works it
//	case_matches        one row per match (rule, status; its members in case_match_recs)
//	case_break_clears   break -> the matches that name it in clears_break_ids
//	case_outcomes       one row per resolution the matcher decided (the first outcome read wins)
//	case_break_outcome  break -> the status the latest applied resolution gave it
//	case_match_outcome  match -> the status the latest applied resolution gave it
//	case_statements     one row per bank statement's balances
//	case_recs, case_match_recs, case_files, case_accounts   every record once, and which matches name it (recs.go)
//	case_record_days    the balance view's day totals (balances.go)
//	case_signoffs       period sign-offs (signoffs.go)
//	case_escalations    what was escalated, once per subject and level (escalations.go)
//	case_offsets        consumer, topic, partition -> next offset
//	case_migrations     applied schema versions
//
// A break's status is derived, so that it does not depend on the order in
// which the topics are read: matched while a match that is neither rejected
// nor undone clears it; otherwise the status its latest applied resolution
// gave it (written_off, accepted, open, matched); otherwise proposed while
// a proposed match clears it; otherwise open.
//
// Amounts are exact: the text of the decimal, and its value in millionths
// as a 64-bit integer for filtering and sorting (money is never a float).
//
// The files, by concern: casestore.go (the connection, transactions),
// migrations.go (the schema's steps, internal/migrate), feed.go (what the
// console feed applies), breaks.go (the queue's reads), queries.go
// (matches, proposals, the dashboard's summary), daily.go (the charts'
// figures), workflow.go (actions, requests, comments, sessions),
// signoffs.go, audit.go (the hash chain), balances.go and continuity.go
// (the balance view), escalations.go. The rules of who may do what are
// not here: internal/workflow decides, the store records.
package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver, pure Go

	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/sqlitefile"
)

// Break statuses.
const (
	StatusOpen       = record.BreakOpen
	StatusMatched    = record.BreakMatched // a match (late counterpart, manual, confirmed) cleared it
	StatusProposed   = "proposed"          // in a proposed match waiting for a person
	StatusWrittenOff = record.BreakWrittenOff
	StatusAccepted   = record.BreakAccepted
)

// ErrNotFound and ErrConflict are the store's answers: what a request
// names does not exist, or the state no longer allows it.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Store is a case store connection. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	pg     bool
	source string // for errors: the url without credentials
	refs   refs   // the keys of files and accounts (recs.go)
}

// Open connects to url: postgres://… or postgresql://… (PostgreSQL), or
// sqlite:PATH (SQLite, one file).
func Open(ctx context.Context, url string) (*Store, error) {
	var s *Store
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("case store: %w", err)
		}
		s = &Store{db: db, pg: true, source: redact(url)}
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		db, err := sql.Open("sqlite", sqlitefile.DSN(path, "foreign_keys(1)"))
		if err != nil {
			return nil, fmt.Errorf("case store: %w", err)
		}
		db.SetMaxOpenConns(1) // one writer; readers share it
		s = &Store{db: db, source: path}
	default:
		return nil, fmt.Errorf("case store: %q: want postgres://… or sqlite:PATH", redact(url))
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("case store %s: %w", s.source, err)
	}
	return s, nil
}

// redact drops the password from a URL for messages.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if i := strings.Index(url, "://"); i > 0 && i < at {
			return url[:i+3] + "…" + url[at:]
		}
	}
	return url
}

// Close closes the connection.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites ? placeholders to PostgreSQL's $N.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// tx runs f in a transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("case store %s: %w", s.source, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("case store %s: %w", s.source, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("case store %s: commit: %w", s.source, err)
	}
	return nil
}

type dateValue struct{ d record.Date }

func (v *dateValue) Scan(src any) error {
	switch t := src.(type) {
	case time.Time:
		v.d = record.Date(t.Unix() / 86400)
		return nil
	case string:
		d, err := record.ParseDate(t[:min(len(t), 10)])
		v.d = d
		return err
	case []byte:
		d, err := record.ParseDate(string(t[:min(len(t), 10)]))
		v.d = d
		return err
	}
	return fmt.Errorf("date: unexpected %T", src)
}

// batchTx is a transaction that prepares each statement text once: the
// feed's batches run the same few statements thousands of times, and
// parsing them again each time was most of SQLite's work.
type batchTx struct {
	*sql.Tx
	stmts map[string]*sql.Stmt
	// The keys of files and accounts this transaction read or created
	// (recs.go), for the store's cache once it commits.
	files map[string]int64
	accts map[acctKey]int64
	// recs are the records this transaction read or stored: a batch's
	// matches name the records read in the same batch.
	recs map[recKey]recState
	// atNormalise: the transaction is the normalise-records migration,
	// which runs before case_recs has the columns later steps add.
	atNormalise bool
}

func newBatchTx(tx *sql.Tx) *batchTx {
	return &batchTx{Tx: tx, stmts: map[string]*sql.Stmt{}, files: map[string]int64{}, accts: map[acctKey]int64{}, recs: map[recKey]recState{}}
}

func (t *batchTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

// ExecContext runs query as a prepared statement of the transaction.
func (t *batchTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query as a prepared statement of the transaction.
func (t *batchTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query as a prepared statement of the transaction;
// a failed prepare shows as the row's error.
func (t *batchTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return t.Tx.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// close releases the prepared statements.
func (t *batchTx) close() {
	for _, st := range t.stmts {
		st.Close()
	}
}
