package warehouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openrecon/recon/internal/migrate"
)

type pgStore struct {
	pool    *pgxpool.Pool
	dialect Dialect
	staging *Staging // Redshift's bulk path (COPY from S3), when set

	typesMu sync.Mutex
	types   map[string]map[string]string // table -> column -> SQL type, for the COPY path
}

func (s *pgStore) concurrentWrites() bool { return s.dialect == Postgres }

// copyRows is the batch size from which a PostgreSQL table's rows go by
// COPY into a staging table and one INSERT … SELECT … ON CONFLICT DO
// NOTHING, instead of multi-row VALUES statements (parsed and planned per
// statement, parameters bound one by one).
const copyRows = 200

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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return schema(s.dialect).Apply(ctx, migrate.PGX(tx)) })
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
	if s.dialect != Redshift {
		return s.writeCopy(ctx, consumer, b)
	}
	if s.staging != nil {
		return s.writeBulk(ctx, consumer, b)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, st := range s.statements(consumer, b) {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("warehouse: %s: %w", firstWords(st.sql), err)
			}
		}
		return nil
	})
}

// writeCopy is PostgreSQL's write: a table with many rows is copied into
// a temporary staging table of text columns (binary COPY, one round trip)
// and merged with one INSERT … SELECT CAST(…) … ON CONFLICT DO NOTHING; a
// few rows go as VALUES. The batch and its offsets commit together.
func (s *pgStore) writeCopy(ctx context.Context, consumer string, b *Batch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var stmts []stmt
		for _, t := range tables(b) {
			if len(t.rows) < copyRows {
				stmts = append(stmts, postgresStatements(t)...)
				continue
			}
			if err := s.copyTable(ctx, tx, t); err != nil {
				return err
			}
		}
		for _, st := range append(stmts, offsetStatements(consumer, b.Offsets)...) {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("warehouse: %s: %w", firstWords(st.sql), err)
			}
		}
		return nil
	})
}

func (s *pgStore) copyTable(ctx context.Context, tx pgx.Tx, t *table) error {
	types, err := s.columnTypes(ctx, tx, t.name)
	if err != nil {
		return err
	}
	stage := "stage_" + t.name
	defs := make([]string, len(t.cols))
	casts := make([]string, len(t.cols))
	for i, c := range t.cols {
		defs[i] = c + " TEXT"
		typ, ok := types[c]
		if !ok {
			return fmt.Errorf("warehouse: %s has no column %s", t.name, c)
		}
		casts[i] = fmt.Sprintf("CAST(%s AS %s)", c, typ)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (%s) ON COMMIT DROP", stage, strings.Join(defs, ", "))); err != nil {
		return fmt.Errorf("warehouse: staging %s: %w", t.name, err)
	}
	rows := make([][]any, len(t.rows))
	for i, r := range t.rows {
		row := make([]any, len(r))
		for j, v := range r {
			row[j] = copyText(v)
		}
		rows[i] = row
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, t.cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("warehouse: copy into %s: %w", stage, err)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO NOTHING", t.name, strings.Join(t.cols, ", "),
		strings.Join(casts, ", "), stage, strings.Join(t.key, ", "))
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("warehouse: merge %s: %w", t.name, err)
	}
	return nil
}

// copyText is a row value as the text PostgreSQL reads back with a cast
// (nil stays NULL).
func copyText(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// columnTypes are a table's column types as PostgreSQL names them (the
// table as the search path finds it), read once.
func (s *pgStore) columnTypes(ctx context.Context, tx pgx.Tx, table string) (map[string]string, error) {
	s.typesMu.Lock()
	defer s.typesMu.Unlock()
	if m := s.types[table]; m != nil {
		return m, nil
	}
	rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, table)
	if err != nil {
		return nil, fmt.Errorf("warehouse: columns of %s: %w", table, err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		m[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("warehouse: table %s not found", table)
	}
	if s.types == nil {
		s.types = map[string]map[string]string{}
	}
	s.types[table] = m
	return m, nil
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
