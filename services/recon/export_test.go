package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/gen"
)

// TestUpExportEqualsReconcile: the bank and ledger files of a generated day
// dropped into a running recon up, in either order and a few seconds apart
// (less than its idle-advance), then written by recon export, give
// byte-identical matches.jsonl and breaks.jsonl to recon reconcile on the
// same files.
func TestUpExportEqualsReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs recon up")
	}
	dir := t.TempDir()
	n := gen.DefaultNoise()
	n.Pairs, n.Accounts, n.BankOnly, n.LedgerOnly, n.Seed = 300, 3, 10, 10, 11
	var bankFile, ledgerFile, truth bytes.Buffer
	if err := gen.WriteNoisy(n, &bankFile, &ledgerFile, &truth); err != nil {
		t.Fatal(err)
	}
	// One copy of each file under the name every run uses (ids and the
	// records' source_file come from it).
	files := map[string][]byte{"bank": bankFile.Bytes(), "ledger": ledgerFile.Bytes()}
	batchIn := filepath.Join(dir, "batch")
	for side, b := range files {
		if err := os.MkdirAll(filepath.Join(batchIn, side), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(batchIn, side, "day.csv"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The batch run, from the inbox folder so that the source files are
	// named as the inbox names them.
	want := filepath.Join(dir, "want")
	var errb bytes.Buffer
	cwd, _ := os.Getwd()
	if err := os.Chdir(batchIn); err != nil {
		t.Fatal(err)
	}
	code := run([]string{"reconcile", "--bank", "bank/day.csv", "--ledger", "ledger/day.csv", "--out", want}, io.Discard, &errb)
	_ = os.Chdir(cwd)
	if code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, errb.String())
	}
	wantMatches, _ := os.ReadFile(filepath.Join(want, "matches.jsonl"))
	wantBreaks, _ := os.ReadFile(filepath.Join(want, "breaks.jsonl"))
	if bytes.Count(wantMatches, []byte("\n")) < 200 || bytes.Count(wantBreaks, []byte("\n")) < 10 {
		t.Fatalf("the batch run decided little: %d matches, %d breaks", bytes.Count(wantMatches, []byte("\n")), bytes.Count(wantBreaks, []byte("\n")))
	}

	for _, c := range []struct {
		name  string
		first string
		delay time.Duration
	}{{"bank first", "bank", 3 * time.Second}, {"ledger first", "ledger", 3 * time.Second}, {"together", "bank", 0}} {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithCancel(context.Background())
			out := &syncWriter{}
			done := make(chan error, 1)
			go func() {
				done <- runUp(ctx, []string{"--data-dir", data, "--ops-addr", "127.0.0.1:0", "--log-level", "warn", "--console-addr", "",
					"--idle-advance", "8s", "--min-pending", "2s"}, out, io.Discard)
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("up: %v", err)
				}
			}()
			inbox := filepath.Join(data, "inbox")
			deadline := time.Now().Add(60 * time.Second)
			for {
				if _, err := os.Stat(filepath.Join(inbox, "bank")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("recon up did not start: %s", out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			drop := func(side string) {
				tmp := filepath.Join(inbox, side, ".day.csv.tmp")
				if err := os.WriteFile(tmp, files[side], 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(inbox, side, "day.csv")); err != nil {
					t.Fatal(err)
				}
			}
			second := map[string]string{"bank": "ledger", "ledger": "bank"}[c.first]
			drop(c.first)
			time.Sleep(c.delay)
			drop(second)
			// Settled: every window closed (idle advancement), the
			// warehouse has as many matches and open breaks as the batch
			// run, and they stay so.
			wh, err := sql.Open("sqlite", filepath.Join(data, "recon.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer wh.Close()
			wantN, wantB := bytes.Count(wantMatches, []byte("\n")), bytes.Count(wantBreaks, []byte("\n"))
			deadline = time.Now().Add(2 * time.Minute)
			stable := 0
			for stable < 10 {
				var m, b int
				_ = wh.QueryRow(`SELECT (SELECT COUNT(*) FROM recon_match_status WHERE status NOT IN ('rejected', 'unmatched')),
					(SELECT COUNT(*) FROM recon_break_status WHERE status = 'open')`).Scan(&m, &b)
				if m == wantN && b == wantB {
					stable++
				} else {
					stable = 0
				}
				if time.Now().After(deadline) {
					t.Logf("warehouse: %d matches, %d open breaks; the batch run: %d and %d", m, b, wantN, wantB)
					break
				}
				time.Sleep(300 * time.Millisecond)
			}
			got := filepath.Join(t.TempDir(), "got")
			var stdout, errb bytes.Buffer
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
					t.Errorf("%s differs from recon reconcile's: %s", f.name, firstDiff(b, f.want))
				}
			}
		})
	}
}

// firstDiff names the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b []byte
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if !bytes.Equal(a, b) {
			return fmt.Sprintf("%d vs %d lines; line %d:\n got  %s\n want %s", len(g)-1, len(w)-1, i+1, a, b)
		}
	}
	return "same lines"
}
