package main

import (
	"bytes"
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
	want := reconcileInbox(t, dir, map[string]map[string][]byte{"bank": {"day.sta": mt940.Bytes()}, "ledger": {"day.csv": ledger.Bytes()}}, "day.sta", "day.csv")
	u := startUp(t, "--idle-advance", "6s", "--min-pending", "2s")
	drop := func(side, name string, b []byte) string {
		u.drop(side, name, b)
		waitFor(t, 60*time.Second, name+" to be ingested", func() bool {
			_, err := os.Stat(filepath.Join(u.inbox, "processed", name+".gz"))
			return err == nil
		})
		reason, _ := os.ReadFile(filepath.Join(u.inbox, "processed", name+".reason.txt"))
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
	u.settle(want)
	u.exportEquals(want, "recon reconcile's on the first file alone")
}
