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
	"csv":     {"5d8e7aa67b47a93b28ec681269731002cefa74727e25a7ed6b95d234880265a3", "7a026fde53ebe36cf503a7e429bdc97faaa9222e1302e9b76e29272c357c9616", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"mt940":   {"422f1822a569085a0757e4762d66b905a453a4a38650f3cd79f92e062bb20d00", "45b98a92bde34b64fd26af360d4f78bb6dd5f916e0d5504aa5e771dd08ddcc7e", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"camt053": {"bdfeff6c15af8b10212d9a914500820a71ffdb4c0f0a2534e038ffa74c0274ea", "774d71e09d463e0983340c5a3ce2c017624201c0cd8b5b4c6139f6619296c3c1", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
	"bai2":    {"d6d5c5da5a43f2497d13024f22e72712741446aee7ce4ee8ecf942f1c1e0f19a", "37cc8b2972d522feadf4baccb48b4f4e5a4b297a5b5d43210030b334335e7d0f", "c950ccdda65d96d24fe9135dc3c8977c73bb9fc2ea1f665e97357cf3d80e9c58"},
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
