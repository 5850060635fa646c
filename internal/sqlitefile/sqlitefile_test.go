package sqlitefile

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

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
