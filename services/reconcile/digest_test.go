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
	"csv":     {"cce6d488de51ab98deba93623fa6525cbb54671d7103bc203bb75e8ef9b02cb2", "b4aaa93d3f6ee4c0d0de7553a005a630e6916ab0f574b10ef407dae914788a14", "7d97dbe98a9b99942f59ea03258ca73004056015dfce7e4dfdf42c9264730f11"},
	"mt940":   {"34542ee8caef5074e209cd27eb46035165dd8b81a22cbe9e8802bc47e48c4ba8", "943bac60c6ab4eb9b2f649a7aa57dc7d306b7e44662f089d0187fccd6f6f8d97", "7d97dbe98a9b99942f59ea03258ca73004056015dfce7e4dfdf42c9264730f11"},
	"camt053": {"fd223d259c158c07d03a1eec5884a99a13375033f40904b3968b5006d737351d", "742255b4ba8e0b0c6e9257bb6b7b7f25acb478d84234bf14de50e4cea8355363", "7d97dbe98a9b99942f59ea03258ca73004056015dfce7e4dfdf42c9264730f11"},
	"bai2":    {"3e43b67bf10ce44ed52790bd4f36569b582b3a08d13d4805586ce5b66908a07e", "f16bdf63151954acb27ae03dc5f70ba3a33d85ca469029d82d7383323aeac06f", "7d97dbe98a9b99942f59ea03258ca73004056015dfce7e4dfdf42c9264730f11"},
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
