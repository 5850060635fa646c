package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/testenv"
)

// upRun is a recon up running inside a test on a data dir of its own.
type upRun struct {
	t     *testing.T
	data  string
	inbox string
	out   *testenv.Buffer
	wh    *sql.DB
}

// startUp runs recon up without a console (its ops server on a free
// port) with args added, and stops it when the test ends.
func startUp(t *testing.T, args ...string) *upRun {
	t.Helper()
	return startUpAt(t, filepath.Join(t.TempDir(), "data"), args...)
}

// startUpAt is startUp on the data dir data.
func startUpAt(t *testing.T, data string, args ...string) *upRun {
	t.Helper()
	u := &upRun{t: t, data: data, out: &testenv.Buffer{}}
	u.inbox = filepath.Join(u.data, "inbox")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, append([]string{"--data-dir", u.data, "--ops-addr", "127.0.0.1:0", "--log-level", "warn", "--console-addr", ""}, args...),
			u.out, io.Discard)
	}()
	t.Cleanup(func() {
		if u.wh != nil {
			u.wh.Close()
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("up: %v", err)
		}
	})
	// The inbox's folders are made one after the other: wait for both.
	waitFor(t, 60*time.Second, "recon up to start", func() bool {
		_, err := os.Stat(filepath.Join(u.inbox, "bank"))
		_, err2 := os.Stat(filepath.Join(u.inbox, "ledger"))
		return err == nil && err2 == nil
	})
	return u
}

// drop puts a file into the inbox whole (written aside, then renamed).
func (u *upRun) drop(side, name string, b []byte) {
	u.t.Helper()
	tmp := filepath.Join(u.inbox, side, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(u.inbox, side, name)); err != nil {
		u.t.Fatal(err)
	}
}

// warehouse is recon up's SQLite warehouse.
func (u *upRun) warehouse() *sql.DB {
	u.t.Helper()
	if u.wh == nil {
		var err error
		if u.wh, err = sql.Open("sqlite", filepath.Join(u.data, "recon.db")); err != nil {
			u.t.Fatal(err)
		}
	}
	return u.wh
}

// kind is what the warehouse's name is: table or view.
func (u *upRun) kind(name string) string {
	var k string
	_ = u.warehouse().QueryRow(`SELECT type FROM sqlite_master WHERE name = ?`, name).Scan(&k)
	return k
}

// count runs a COUNT query on the warehouse (0 when it fails: the tables
// come with the first batch).
func (u *upRun) count(q string, args ...any) int {
	var n int
	_ = u.warehouse().QueryRow(q, args...).Scan(&n)
	return n
}

// settle waits (up to two minutes) until the warehouse has as many
// standing matches and open breaks as the batch run's files in want, and
// they stay so for ten looks.
func (u *upRun) settle(want string) {
	u.t.Helper()
	wantN, wantB := lines(u.t, filepath.Join(want, "matches.jsonl")), lines(u.t, filepath.Join(want, "breaks.jsonl"))
	deadline := time.Now().Add(2 * time.Minute)
	for stable := 0; stable < 10; {
		m := u.count(`SELECT COUNT(*) FROM recon_match_status WHERE status NOT IN ('rejected', 'unmatched')`)
		b := u.count(`SELECT COUNT(*) FROM recon_break_status WHERE status = 'open'`)
		if m == wantN && b == wantB {
			stable++
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			u.t.Logf("warehouse: %d matches, %d open breaks; the batch run: %d and %d", m, b, wantN, wantB)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// exportEquals exports the warehouse and wants the batch run's
// matches.jsonl and breaks.jsonl in want byte for byte.
func (u *upRun) exportEquals(want, what string) {
	u.t.Helper()
	got := filepath.Join(u.t.TempDir(), "got")
	var stdout, errb bytes.Buffer
	if code := run([]string{"export", "--database-url", "sqlite:" + filepath.Join(u.data, "recon.db"), "--out", got}, &stdout, &errb); code != 0 {
		u.t.Fatalf("export: exit %d: %s", code, errb.String())
	}
	for _, name := range []string{"matches.jsonl", "breaks.jsonl"} {
		g, err := os.ReadFile(filepath.Join(got, name))
		if err != nil {
			u.t.Fatal(err)
		}
		w, _ := os.ReadFile(filepath.Join(want, name))
		if !bytes.Equal(g, w) {
			u.t.Errorf("%s differs from %s: %s", name, what, firstDiff(g, w))
		}
	}
}

// reconcileInbox writes files (side -> name -> bytes) into dir/batch as an
// inbox would hold them and runs recon reconcile there on the bank and
// ledger files named, so the records' source files are named as recon
// up's inbox names them. It returns the output folder.
func reconcileInbox(t *testing.T, dir string, files map[string]map[string][]byte, bank, ledger string) string {
	t.Helper()
	batchIn := filepath.Join(dir, "batch")
	for side, fs := range files {
		if err := os.MkdirAll(filepath.Join(batchIn, side), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range fs {
			if err := os.WriteFile(filepath.Join(batchIn, side, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := filepath.Join(dir, "want")
	var errb bytes.Buffer
	cwd, _ := os.Getwd()
	if err := os.Chdir(batchIn); err != nil {
		t.Fatal(err)
	}
	code := run([]string{"reconcile", "--bank", "bank/" + bank, "--ledger", "ledger/" + ledger, "--out", want}, io.Discard, &errb)
	_ = os.Chdir(cwd)
	if code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, errb.String())
	}
	return want
}

func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// waitFor polls cond every 200 ms until it holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
