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
	"mt940":   {"1bb32b64e279a3aed2fbe69bbc000e25517632ce022d06bba714f79ae43b4303", "ead049c62831c22243533ac98126b136dac0dfe1103a203fa7619835f97820e5", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"camt053": {"11f50879f246d4efd8c7134a150dd7c19b12c1fe7d15980c0ee1a9b63c3d3bcd", "6d9d021277e19c82677d7af9b42d74bc32c7a40953d9ce9007ff8c1f03f730c4", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"bai2":    {"feb5b50d9868a9b99234a5dd35d416b77e9bbefc4c24e09b6152f411bcd0664c", "a8e8eba040af8881c67c59386ec7b4783383841aa40468b548f56c881fce6f1d", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
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
