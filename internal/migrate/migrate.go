// Package migrate applies a schema's numbered steps to a database, each
// once and in order, inside the caller's transaction, and records them in
// a versions table: the one way the case store and the warehouse change
// their tables.
//
// A step is SQL, optionally headed by one line that limits it:
//
//	-- sqlite              only on that dialect (postgres, sqlite, redshift)
//	-- postgres optional   tried, and skipped when refused (an extension
//	                       the database may not grant)
//	-- go                  no SQL: Schema.Go runs (data SQL cannot derive);
//	                       the rest of the step is its description
//
// A dialect's step is recorded as applied everywhere, so version numbers
// mean the same on every database.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Tx is the transaction the steps run in.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) error
	// Ints runs a query returning one integer column.
	Ints(ctx context.Context, query string) ([]int, error)
}

// Schema is a set of tables' history.
type Schema struct {
	Name    string   // in errors: "case store", "warehouse"
	Table   string   // the versions table
	Create  string   // its CREATE TABLE IF NOT EXISTS statement
	Dialect string   // postgres, sqlite or redshift
	Steps   []string // step i is version i+1
	// Expand turns a step's placeholders into the dialect's types (nil:
	// none).
	Expand func(string) string
	// Go runs a "-- go" step.
	Go func(ctx context.Context, tx Tx, step string) error
	// Lock serialises two processes migrating at once (LOCK TABLE on
	// the versions table: PostgreSQL, Redshift; SQLite locks the file).
	Lock bool
	// Arg is the dialect's first placeholder ("?" or "$1").
	Arg string
}

// Apply applies the steps tx's database has not applied yet.
func (s Schema) Apply(ctx context.Context, tx Tx) error {
	if err := tx.Exec(ctx, s.Create); err != nil {
		return fmt.Errorf("%s: migrations table: %w", s.Name, err)
	}
	if s.Lock {
		if err := tx.Exec(ctx, "LOCK TABLE "+s.Table); err != nil {
			return fmt.Errorf("%s: lock migrations: %w", s.Name, err)
		}
	}
	have, err := tx.Ints(ctx, "SELECT version FROM "+s.Table)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", s.Name, err)
	}
	done := map[int]bool{}
	for _, v := range have {
		if v > len(s.Steps) {
			return fmt.Errorf("%s: schema version %d is newer than this version knows (%d): upgrade recon", s.Name, v, len(s.Steps))
		}
		done[v] = true
	}
	for i, step := range s.Steps {
		v := i + 1
		if done[v] {
			continue
		}
		if err := s.apply(ctx, tx, step); err != nil {
			return fmt.Errorf("%s: migration %d: %w", s.Name, v, err)
		}
		if err := tx.Exec(ctx, "INSERT INTO "+s.Table+" (version) VALUES ("+s.Arg+")", v); err != nil {
			return fmt.Errorf("%s: migration %d: %w", s.Name, v, err)
		}
	}
	return nil
}

func (s Schema) apply(ctx context.Context, tx Tx, step string) error {
	only, optional := "", false
	if head, rest, ok := strings.Cut(step, "\n"); ok && strings.HasPrefix(head, "-- ") {
		f := strings.Fields(head)
		only, optional, step = f[1], len(f) > 2 && f[2] == "optional", rest
	}
	expand := s.Expand
	if expand == nil {
		expand = func(q string) string { return q }
	}
	switch {
	case only == "go":
		return s.Go(ctx, tx, step)
	case only != "" && only != s.Dialect:
		return nil // another dialect's step
	case optional:
		if err := tx.Exec(ctx, "SAVEPOINT optional_step"); err != nil {
			return err
		}
		if err := tx.Exec(ctx, expand(step)); err != nil {
			return tx.Exec(ctx, "ROLLBACK TO SAVEPOINT optional_step")
		}
		return nil
	}
	return tx.Exec(ctx, expand(step))
}

// SQL is a database/sql transaction as a Tx.
func SQL(tx *sql.Tx) Tx { return sqlTx{tx} }

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

func (t sqlTx) Ints(ctx context.Context, q string) ([]int, error) {
	rows, err := t.tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// PGX is a pgx transaction as a Tx.
func PGX(tx pgx.Tx) Tx { return pgxTx{tx} }

type pgxTx struct{ tx pgx.Tx }

func (t pgxTx) Exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, q, args...)
	return err
}

func (t pgxTx) Ints(ctx context.Context, q string) ([]int, error) {
	rows, err := t.tx.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}
