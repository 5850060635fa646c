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
	"csv":     {"eaf32ada125d0e85bf0f9838d4672b1016890fd032c98b2f39783bbe87c8392e", "c37b9292e1705ffe8ad11c2aa8db8aa4bbfa16e68fade27e10e5441b5b3cac8c", "0ea56b49e5dbd972161ff77961f97d4f66181741d54a1daafc75c8c61c9f44ee"},
	"mt940":   {"0c10ab06d5ef92d8a7ac1d4e4df9bf3a063cfb42ee4851de27eecd5fbe3892f1", "56050213300439b4a7ddad4715e5f3350bb38c744a9f33f89fa93b3f37f7d8d9", "0ea56b49e5dbd972161ff77961f97d4f66181741d54a1daafc75c8c61c9f44ee"},
	"camt053": {"b29f8c08c3589141dae738e33d46bdc136917b8d33328fe91dac9bbd605380a9", "9d05130480993d1e4357cbaeb666de2b6e8a1e85a8257e09ea0783fcb4267bcd", "0ea56b49e5dbd972161ff77961f97d4f66181741d54a1daafc75c8c61c9f44ee"},
	"bai2":    {"71165a84564fa46b840189d1af0153b65d7afdf3e2e4258d73601f61e4ed56ba", "55ef05e71733e67608e63e9c69bd9c19c207152c7f2ab4bf6ad2e0f631c153cf", "0ea56b49e5dbd972161ff77961f97d4f66181741d54a1daafc75c8c61c9f44ee"},
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
