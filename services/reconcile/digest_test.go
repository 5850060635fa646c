package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/openrecon/recon/internal/gen"
)

// pinnedDigests are the SHA-256 of matches.jsonl, breaks.jsonl and
// rejected.jsonl of `recon reconcile` on a generated noisy day per bank
// format (seed 7, default noise, plus one bad ledger row). A refactoring must not change a byte of
// them; a change of matching behaviour updates them on purpose, in its own
// commit, with the reason. RECON_PRINT_DIGESTS=1 prints the current values.
var pinnedDigests = map[string][3]string{
	"csv":     {"71a1d3c431bd81798d0203cd7d38ce9277b4a398a609394e427b2a42df799db7", "e9c91bb8db99fa464ed0491b0926bb1480f73f46ab13acf614effad80067ec48", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"mt940":   {"665c051c102b2dbb3a17c28805f11ebc6606d0d7fd3e12901302d70f5c446200", "6aea3d467c9b6c1b4ba109c2a2b54bcab966bdab8da923e211a71b11f5615f7d", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"camt053": {"7b95fc7a654fc650326360f79d5cb6b6f8d1d8440f047bf9ad82c7f1a0fbcbd1", "c8e8f4293f58152bbdbe5a343d7b6d91dbe01dffc3edc574e8c6034d8315a15f", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"bai2":    {"817b0feb194cc4c1816ade6cbedea70c2a3c7504f6db87304e113bb6e4a4621d", "7582ee3316ddb076d5192ea04e5324a61f49610eb979134743591a3e1bdf4a6f", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
}

func TestReconcileOutputsPinned(t *testing.T) {
	for _, f := range []string{"csv", "mt940", "camt053", "bai2"} {
		t.Run(f, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir) // source_file in the outputs is the path as given
			n := gen.DefaultNoise()
			n.Seed, n.BankFormat, n.BankFileName = 7, f, "bank."+f
			bank, _ := os.Create(n.BankFileName)
			ledger, _ := os.Create("ledger.csv")
			truth, _ := os.Create("truth.json")
			if err := gen.WriteNoisy(n, bank, ledger, truth); err != nil {
				t.Fatal(err)
			}
			bank.Close()
			// one bad row, so rejected.jsonl is pinned too
			_, _ = ledger.WriteString("GL-BAD,DE00000000000044000000,EUR,2026-03-02,12.3.4,X,Y,Z\n")
			ledger.Close()
			truth.Close()
			if _, err := Run(context.Background(), Config{Bank: []string{n.BankFileName}, Ledger: []string{"ledger.csv"}, Out: "out"}); err != nil {
				t.Fatal(err)
			}
			var got [3]string
			for i, name := range []string{"matches.jsonl", "breaks.jsonl", "rejected.jsonl"} {
				b, err := os.ReadFile(filepath.Join("out", name))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				got[i] = hex.EncodeToString(sum[:])
			}
			if os.Getenv("RECON_PRINT_DIGESTS") != "" {
				t.Logf("%q: {%q, %q, %q},", f, got[0], got[1], got[2])
			}
			if got != pinnedDigests[f] {
				t.Errorf("%s: outputs changed:\n got  %q\n want %q", f, got, pinnedDigests[f])
			}
		})
	}
}
