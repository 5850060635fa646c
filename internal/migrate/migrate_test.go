package migrate

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/openrecon/recon/internal/sqlitefile"
)

// Steps run once each, in order: another dialect's step is recorded but
// not run, a refused optional step is skipped, a Go step runs, and a
// database ahead of the steps is refused with what to do.
func TestApply(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqlitefile.DSN(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gos := 0
	s := Schema{Name: "test", Table: "versions", Create: `CREATE TABLE IF NOT EXISTS versions (version INTEGER NOT NULL PRIMARY KEY)`,
		Dialect: "sqlite", Arg: "?", Expand: strings.NewReplacer("{{TS}}", "TEXT").Replace,
		Go: func(ctx context.Context, tx Tx, step string) error {
			gos++
			return tx.Exec(ctx, `INSERT INTO t (v) VALUES ('`+step+`')`)
		},
		Steps: []string{
			`CREATE TABLE t (v {{TS}})`,
			"-- postgres\nCREATE EXTENSION nothing_here",
			"-- sqlite optional\nCREATE TABLE t (v TEXT)", // refused: t exists
			"-- go\nfrom go",
			`INSERT INTO t (v) VALUES ('sql')`,
		}}
	apply := func(s Schema) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := s.Apply(ctx, SQL(tx)); err != nil {
			return err
		}
		return tx.Commit()
	}
	for range 2 {
		if err := apply(s); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	rows, err := db.Query(`SELECT v FROM t ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v string
		_ = rows.Scan(&v)
		got = append(got, v)
	}
	rows.Close()
	var n int
	_ = db.QueryRow(`SELECT COUNT(*) FROM versions`).Scan(&n)
	if strings.Join(got, ",") != "from go,sql" || gos != 1 || n != 5 {
		t.Errorf("rows %q, %d Go runs, %d versions recorded; want from go,sql, 1, 5", got, gos, n)
	}
	// An older binary on this database: it knows three steps.
	s.Steps = s.Steps[:3]
	if err := apply(s); err == nil || !strings.Contains(err.Error(), "schema version 4 is newer than this version knows (3)") {
		t.Errorf("older steps on a newer database: %v", err)
	}
}
