package sqlitefile

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestDSNOpensThatFile: a path with the characters a file: URI gives a
// meaning to opens exactly that file, with the pragmas set.
func TestDSNOpensThatFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "day#2 100%?x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "w.db")
	db, err := sql.Open("sqlite", DSN(path, "foreign_keys(1)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file was not created where asked: %v", err)
	}
	var mode string
	var fk, limit int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q %v", mode, err)
	}
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d %v", fk, err)
	}
	if err := db.QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil || limit != 16<<20 {
		t.Errorf("journal_size_limit %d %v", limit, err)
	}
}

// TestTruncateWAL: after a large transaction the log is empty again, and
// a reader holding it makes TruncateWAL leave it without waiting.
func TestTruncateWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (x TEXT)`); err != nil {
		t.Fatal(err)
	}
	big := func() {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6000; i++ {
			if _, err := tx.Exec(`INSERT INTO t VALUES (?)`, strings.Repeat("x", 4000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	walSize := func() int64 {
		info, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	big()
	if n := walSize(); n < 20<<20 {
		t.Fatalf("the log after a 24 MB transaction is %d bytes: the test shows nothing", n)
	}
	if err := TruncateWAL(ctx, db); err != nil {
		t.Fatal(err)
	}
	if n := walSize(); n != 0 {
		t.Errorf("log %d bytes after TruncateWAL, want 0", n)
	}
	// A reader in the middle of a read transaction on another connection.
	rd, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rtx, err := rd.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // a reader's transaction does not take the write lock
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	big()
	start := time.Now()
	if err := TruncateWAL(ctx, db); err != nil {
		t.Fatal(err)
	}
	// Not the busy timeout (10 s): it did not wait for the reader.
	if waited := time.Since(start); waited >= 9*time.Second {
		t.Errorf("TruncateWAL waited %s for the reader", waited)
	}
	rtx.Rollback()
	var timeout int
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != 10000 {
		t.Errorf("busy_timeout %d after TruncateWAL (%v), want 10000", timeout, err)
	}
}

// TestWritersWait: two connections to one file (recon up's loader and the
// console's feed), one in a transaction that read before it writes while
// the other writes: the second waits for the first, and both writes land
// (a transaction begun deferred would fail with SQLITE_BUSY when it came
// to write after the other's commit).
func TestWritersWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", DSN(path))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Exec(`INSERT INTO t VALUES (2)`)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // the other writer has tried by now
	if _, err := tx.Exec(`INSERT INTO t VALUES (1)`); err != nil {
		t.Fatalf("the write after a read: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the other connection's write: %v", err)
	}
	if err := a.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows (%v), want both writes", n, err)
	}
}
