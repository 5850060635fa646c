package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/gen"
)

// runGen writes a generated bank CSV and ledger CSV with known truth.
func runGen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg gen.Config
	var out string
	var seed int
	l := config.New("recon gen")
	l.FlagSet().SetOutput(stderr)
	l.String(&out, "out", "gen", "output folder (bank.csv, ledger.csv)")
	l.Int(&cfg.Pairs, "pairs", 1000, "bank/ledger pairs that match")
	l.Int(&cfg.BankOnly, "bank-only", 10, "bank entries without a counterpart")
	l.Int(&cfg.LedgerOnly, "ledger-only", 10, "ledger postings without a counterpart")
	l.Int(&cfg.Accounts, "accounts", 50, "distinct accounts")
	l.Int(&seed, "seed", 1, "random seed (same seed, same files)")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	cfg.Seed = uint64(seed)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bank, err := os.Create(filepath.Join(out, "bank.csv"))
	if err != nil {
		return err
	}
	defer bank.Close()
	ledger, err := os.Create(filepath.Join(out, "ledger.csv"))
	if err != nil {
		return err
	}
	defer ledger.Close()
	if _, err := gen.Write(cfg, bank, ledger); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s: %d pairs, %d bank-only, %d ledger-only\n",
		bank.Name(), ledger.Name(), cfg.Pairs, cfg.BankOnly, cfg.LedgerOnly)
	return nil
}
