package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/casestore"
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
	want := reconcileInbox(t, dir, map[string]map[string][]byte{"bank": {"day.csv": files["bank"]}, "ledger": {"day.csv": files["ledger"]}}, "day.csv", "day.csv")
	if m, b := lines(t, filepath.Join(want, "matches.jsonl")), lines(t, filepath.Join(want, "breaks.jsonl")); m < 200 || b < 10 {
		t.Fatalf("the batch run decided little: %d matches, %d breaks", m, b)
	}
	for _, c := range []struct {
		name   string
		first  string
		delay  time.Duration
		before bool // a data dir from before: the case store in its own file
	}{{"bank first", "bank", 3 * time.Second, false}, {"ledger first", "ledger", 3 * time.Second, false}, {"together", "bank", 0, false},
		{"data dir from before", "ledger", 3 * time.Second, true}} {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if c.before {
				if err := os.MkdirAll(data, 0o755); err != nil {
					t.Fatal(err)
				}
				cs, err := casestore.Open(context.Background(), "sqlite:"+filepath.Join(data, "cases.db"))
				if err != nil {
					t.Fatal(err)
				}
				err = cs.Migrate(context.Background())
				cs.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			u := startUpAt(t, data, "--idle-advance", "8s", "--min-pending", "2s")
			second := map[string]string{"bank": "ledger", "ledger": "bank"}[c.first]
			u.drop(c.first, "day.csv", files[c.first])
			time.Sleep(c.delay)
			u.drop(second, "day.csv", files[second])
			// Settled: every window closed (idle advancement), the
			// warehouse has as many matches and open breaks as the batch
			// run, and they stay so.
			u.settle(want)
			u.exportEquals(want, "recon reconcile's")
			// A new data dir keeps one copy of the day: the warehouse's
			// matches are views over the case store's, fed without a
			// console; one from before keeps the loader's tables.
			kind := map[bool]string{false: "view", true: "table"}[c.before]
			for _, name := range []string{"recon_matches", "recon_match_items"} {
				if k := u.kind(name); k != kind {
					t.Errorf("%s is a %q, want a %s", name, k, kind)
				}
			}
			if _, err := os.Stat(filepath.Join(data, "cases.db")); err == nil != c.before {
				t.Errorf("cases.db there: %v, want %v", err == nil, c.before)
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
