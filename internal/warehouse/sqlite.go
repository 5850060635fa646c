package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // SQLite driver, pure Go

	"github.com/openrecon/recon/internal/migrate"
	"github.com/openrecon/recon/internal/sqlitefile"
)

type sqliteStore struct {
	db *sql.DB
	// views are the tables the file has as views over the console's case
	// store (recon up: casestore.ServeWarehouse); the loader leaves them
	// to the console's feed. Read at the first write.
	views map[string]bool
}

var _ Store = (*sqliteStore)(nil)

func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	db, err := sql.Open("sqlite", sqlitefile.DSN(path))
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("warehouse: open %s: %w", path, err)
	}
	return &sqliteStore{db: db}, nil
}

func (s *sqliteStore) Close() { s.db.Close() }

func (s *sqliteStore) Migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("warehouse: %w", err)
	}
	defer tx.Rollback()
	if err := schema(SQLite).Apply(ctx, migrate.SQL(tx)); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *sqliteStore) Write(ctx context.Context, consumer string, b *Batch) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.views == nil {
		if s.views, err = viewsOf(ctx, tx); err != nil {
			return fmt.Errorf("warehouse: %w", err)
		}
	}
	rows := 0
	for _, t := range tables(b) {
		if len(t.rows) == 0 || s.views[t.name] {
			continue
		}
		rows += len(t.rows)
		q := fmt.Sprintf("INSERT OR IGNORE INTO %s (%s) VALUES (%s)", t.name, strings.Join(t.cols, ", "),
			strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", "))
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("warehouse: %w", err)
		}
		for _, row := range t.rows {
			if _, err := st.ExecContext(ctx, sqliteArgs(row)...); err != nil {
				st.Close()
				return fmt.Errorf("warehouse: insert %s: %w", t.name, err)
			}
		}
		st.Close()
	}
	for _, o := range b.Offsets {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO recon_loader_offsets (consumer, topic, partition_id, next_offset) VALUES (?, ?, ?, ?)`,
			consumer, o.Topic, o.Partition, o.Next); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if rows >= sqlitefile.BigBatch {
		return sqlitefile.TruncateWAL(ctx, s.db)
	}
	return nil
}

// viewsOf names the warehouse's tables that are views in the file.
func viewsOf(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'view' AND name IN ('recon_matches', 'recon_match_items')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	views := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		views[name] = true
	}
	return views, rows.Err()
}

// sqliteArgs formats timestamps as RFC 3339 text.
func sqliteArgs(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if t, ok := v.(interface{ Format(string) string }); ok {
			out[i] = t.Format("2006-01-02T15:04:05.000Z07:00")
			continue
		}
		out[i] = v
	}
	return out
}

func (s *sqliteStore) Offsets(ctx context.Context, consumer string) (map[string]map[int32]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT topic, partition_id, next_offset FROM recon_loader_offsets WHERE consumer = ?`, consumer)
	if err != nil {
		return nil, fmt.Errorf("warehouse: offsets: %w", err)
	}
	defer rows.Close()
	return scanOffsets(rows)
}

func (s *sqliteStore) Counts(ctx context.Context) (map[string]int64, error) {
	return counts(func(q string, n *int64) error { return s.db.QueryRowContext(ctx, q).Scan(n) })
}
