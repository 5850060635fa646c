package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/gen"
)

// TestUpStatementResent: a generated day's MT940 statements dropped into
// a running recon up, then the same file re-sent under another name with
// another :20: on every statement, then the same day as camt.053: both
// later deliveries are refused (their reason beside the processed file
// names the first), and what the system decided equals recon reconcile
// on the first file alone.
func TestUpStatementResent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs recon up")
	}
	dir := t.TempDir()
	n := gen.DefaultNoise()
	n.Pairs, n.Accounts, n.BankOnly, n.LedgerOnly, n.Seed, n.BankFormat = 250, 3, 8, 8, 21, "mt940"
	var mt940, ledger, camt, truth bytes.Buffer
	if err := gen.WriteNoisy(n, &mt940, &ledger, &truth); err != nil {
		t.Fatal(err)
	}
	n.BankFormat = "camt053"
	if err := gen.WriteNoisy(n, &camt, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	resent := bytes.ReplaceAll(mt940.Bytes(), []byte(":20:STMT"), []byte(":20:RSND"))
	if bytes.Equal(resent, mt940.Bytes()) {
		t.Fatal("the re-sent file is the same bytes")
	}
	batchIn := filepath.Join(dir, "batch")
	for side, f := range map[string]struct {
		name string
		b    []byte
	}{"bank": {"day.sta", mt940.Bytes()}, "ledger": {"day.csv", ledger.Bytes()}} {
		if err := os.MkdirAll(filepath.Join(batchIn, side), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(batchIn, side, f.name), f.b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := filepath.Join(dir, "want")
	var errb bytes.Buffer
	cwd, _ := os.Getwd()
	if err := os.Chdir(batchIn); err != nil {
		t.Fatal(err)
	}
	code := run([]string{"reconcile", "--bank", "bank/day.sta", "--ledger", "ledger/day.csv", "--out", want}, io.Discard, &errb)
	_ = os.Chdir(cwd)
	if code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, errb.String())
	}
	wantMatches, _ := os.ReadFile(filepath.Join(want, "matches.jsonl"))
	wantBreaks, _ := os.ReadFile(filepath.Join(want, "breaks.jsonl"))

	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncWriter{}
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, []string{"--data-dir", data, "--ops-addr", "127.0.0.1:0", "--log-level", "warn", "--console-addr", "",
			"--idle-advance", "6s", "--min-pending", "2s"}, out, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("up: %v", err)
		}
	}()
	inbox := filepath.Join(data, "inbox")
	waitFor(t, 60*time.Second, "recon up to start", func() bool { _, err := os.Stat(filepath.Join(inbox, "bank")); return err == nil })
	drop := func(side, name string, b []byte) string {
		tmp := filepath.Join(inbox, side, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, side, name)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, name+" to be ingested", func() bool {
			_, err := os.Stat(filepath.Join(inbox, "processed", name))
			return err == nil
		})
		reason, _ := os.ReadFile(filepath.Join(inbox, "processed", name+".reason.txt"))
		return string(reason)
	}
	drop("ledger", "day.csv", ledger.Bytes())
	if r := drop("bank", "day.sta", mt940.Bytes()); r != "" {
		t.Errorf("the first delivery was refused: %s", r)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"day-resent.sta", resent}, {"day.xml", camt.Bytes()}} {
		r := drop("bank", f.name, f.b)
		if !strings.Contains(r, "every statement") || !strings.Contains(r, "already received in bank/day.sta") || !strings.Contains(r, "refused as a duplicate") {
			t.Errorf("%s: reason %q", f.name, r)
		}
	}
	wh, err := sql.Open("sqlite", filepath.Join(data, "recon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	wantN, wantB := bytes.Count(wantMatches, []byte("\n")), bytes.Count(wantBreaks, []byte("\n"))
	stable := 0
	deadline := time.Now().Add(2 * time.Minute)
	for stable < 10 && time.Now().Before(deadline) {
		var m, b int
		_ = wh.QueryRow(`SELECT (SELECT COUNT(*) FROM recon_match_status WHERE status NOT IN ('rejected', 'unmatched')),
			(SELECT COUNT(*) FROM recon_break_status WHERE status = 'open')`).Scan(&m, &b)
		if m == wantN && b == wantB {
			stable++
		} else {
			stable = 0
		}
		time.Sleep(300 * time.Millisecond)
	}
	got := filepath.Join(t.TempDir(), "got")
	var stdout bytes.Buffer
	errb.Reset()
	if code := run([]string{"export", "--database-url", "sqlite:" + filepath.Join(data, "recon.db"), "--out", got}, &stdout, &errb); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errb.String())
	}
	for _, f := range []struct {
		name string
		want []byte
	}{{"matches.jsonl", wantMatches}, {"breaks.jsonl", wantBreaks}} {
		b, err := os.ReadFile(filepath.Join(got, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, f.want) {
			t.Errorf("%s differs from recon reconcile's on the first file alone: %s", f.name, firstDiff(b, f.want))
		}
	}
}
