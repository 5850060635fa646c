package warehouse

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type pgStore struct {
	pool    *pgxpool.Pool
	dialect Dialect
}

var _ Store = (*pgStore)(nil)

func openPG(ctx context.Context, url string, d Dialect) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	if d == Redshift {
		// Redshift does not support the extended-protocol statement cache well.
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("warehouse: connect: %w", err)
	}
	return &pgStore{pool: pool, dialect: d}, nil
}

func (s *pgStore) Close() { s.pool.Close() }

func (s *pgStore) Migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS recon_schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP)`); err != nil {
			return fmt.Errorf("warehouse: migrations table: %w", err)
		}
		// Serialise concurrent loaders starting together.
		if _, err := tx.Exec(ctx, `LOCK TABLE recon_schema_migrations`); err != nil {
			return fmt.Errorf("warehouse: lock migrations: %w", err)
		}
		done := map[int]bool{}
		rows, err := tx.Query(ctx, `SELECT version FROM recon_schema_migrations`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return err
			}
			done[v] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range migrations {
			if done[i+1] {
				continue
			}
			if _, err := tx.Exec(ctx, migrationSQL(s.dialect, i)); err != nil {
				return fmt.Errorf("warehouse: migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO recon_schema_migrations (version) VALUES ($1)`, i+1); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *pgStore) statements(consumer string, b *Batch) []stmt {
	var out []stmt
	for _, t := range tables(b) {
		if s.dialect == Redshift {
			out = append(out, redshiftStatements(t)...)
		} else {
			out = append(out, postgresStatements(t)...)
		}
	}
	return append(out, offsetStatements(consumer, b.Offsets)...)
}

func (s *pgStore) Write(ctx context.Context, consumer string, b *Batch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, st := range s.statements(consumer, b) {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("warehouse: %s: %w", firstWords(st.sql), err)
			}
		}
		return nil
	})
}

func firstWords(sql string) string {
	if len(sql) > 60 {
		return sql[:60] + "…"
	}
	return sql
}

func (s *pgStore) Offsets(ctx context.Context, consumer string) (map[string]map[int32]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT topic, partition_id, next_offset FROM recon_loader_offsets WHERE consumer = $1`, consumer)
	if err != nil {
		return nil, fmt.Errorf("warehouse: offsets: %w", err)
	}
	defer rows.Close()
	return scanOffsets(rows)
}

func (s *pgStore) Counts(ctx context.Context) (map[string]int64, error) {
	return counts(func(q string, n *int64) error { return s.pool.QueryRow(ctx, q).Scan(n) })
}
