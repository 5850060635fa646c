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
	var out, form string
	var seed, statements, per int
	l := config.New("recon gen")
	l.FlagSet().SetOutput(stderr)
	l.String(&out, "out", "gen", "output folder (csv: bank.csv, ledger.csv) or file (statement formats)")
	l.Int(&cfg.Pairs, "pairs", 1000, "bank/ledger pairs that match")
	l.Int(&cfg.BankOnly, "bank-only", 10, "bank entries without a counterpart")
	l.Int(&cfg.LedgerOnly, "ledger-only", 10, "ledger postings without a counterpart")
	l.Int(&cfg.Accounts, "accounts", 50, "distinct accounts")
	l.Int(&seed, "seed", 1, "random seed (same seed, same files)")
	l.String(&form, "format", "csv", "csv (a bank CSV and a ledger CSV with known matches), or one statement file: mt940, bai2, camt053")
	l.Int(&statements, "statements", 100, "statements in a statement file")
	l.Int(&per, "entries-per-statement", 100, "entries per statement")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	cfg.Seed = uint64(seed)
	if w, ok := map[string]func(io.Writer, gen.StatementConfig) (int, error){
		"mt940": gen.WriteMT940, "bai2": gen.WriteBAI2, "camt053": gen.WriteCAMT053}[form]; ok {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		n, err := w(f, gen.StatementConfig{Statements: statements, EntriesPer: per, Seed: cfg.Seed})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %s, %d statements, %d entries\n", out, form, statements, n)
		return nil
	} else if form != "csv" {
		return fmt.Errorf("%w: --format %q: want csv, mt940, bai2 or camt053", errUsage, form)
	}
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
