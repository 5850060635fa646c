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
	var noisy bool
	var bankFormat string
	var hardShare float64
	l := config.New("recon gen")
	l.FlagSet().SetOutput(stderr)
	l.String(&out, "out", "gen", "output folder (csv: bank.csv, ledger.csv) or file (statement formats)")
	l.Int(&cfg.Pairs, "pairs", 1000, "bank/ledger pairs that match")
	l.Int(&cfg.BankOnly, "bank-only", 10, "bank entries without a counterpart")
	l.Int(&cfg.LedgerOnly, "ledger-only", 10, "ledger postings without a counterpart")
	l.Int(&cfg.Accounts, "accounts", 50, "distinct accounts")
	l.Int(&seed, "seed", 1, "random seed (same seed, same files)")
	l.Bool(&noisy, "noisy", false, "a realistic day with known truth and the noise real data has (date shifts, reformatted and missing references, fees, batches, instalments, duplicates, same-amount traps, unmatched items): bank.<format>, ledger.csv, truth.json")
	l.String(&bankFormat, "bank-format", "csv", "with --noisy: the bank file's format (csv, mt940, camt053, bai2)")
	l.Float(&hardShare, "hard-share", 0, "with --noisy: the share of records (0 to 0.9) in the hard situations (PSP payouts net of fees, foreign-currency receipts, cheques, remittances naming several invoices); 0: their realistic default counts")
	l.String(&form, "format", "csv", "csv (a bank CSV and a ledger CSV with known matches), or one statement file: mt940, bai2, camt053")
	l.Int(&statements, "statements", 100, "statements in a statement file")
	l.Int(&per, "entries-per-statement", 100, "entries per statement")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	cfg.Seed = uint64(seed)
	if noisy {
		if hardShare < 0 || hardShare > 0.9 {
			return fmt.Errorf("%w: --hard-share %g: want 0 to 0.9", errUsage, hardShare)
		}
		return writeNoisy(out, bankFormat, cfg.Seed, int(hardShare*1000+0.5), stdout)
	}
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

// writeNoisy writes the noisy day of `recon gen --noisy`.
func writeNoisy(dir, bankFormat string, seed uint64, hardShare int, stdout io.Writer) error {
	n := gen.DefaultNoise()
	n.Seed, n.BankFormat, n.HardShare = seed, bankFormat, hardShare
	ext := map[string]string{"csv": "csv", "mt940": "sta", "camt053": "xml", "bai2": "bai"}[bankFormat]
	if ext == "" {
		return fmt.Errorf("%w: --bank-format %q: want csv, mt940, camt053 or bai2", errUsage, bankFormat)
	}
	n.BankFileName = "bank." + ext
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]*os.File{}
	for _, name := range []string{n.BankFileName, "ledger.csv", "truth.json", "fx-rates.csv"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		files[name] = f
	}
	n.FXRates = files["fx-rates.csv"]
	if err := gen.WriteNoisy(n, files[n.BankFileName], files["ledger.csv"], files["truth.json"]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s, %s (truth) and %s (the day's exchange rates, for --fx-rates)\n", filepath.Join(dir, n.BankFileName), filepath.Join(dir, "ledger.csv"),
		filepath.Join(dir, "truth.json"), filepath.Join(dir, "fx-rates.csv"))
	return nil
}

// runScore compares a reconcile output folder with a truth file.
func runScore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var truthPath, out string
	var minP, minR, minB, maxF float64
	l := config.New("recon score")
	l.FlagSet().SetOutput(stderr)
	l.String(&truthPath, "truth", "gen/truth.json", "truth file written by recon gen --noisy")
	l.String(&out, "out", "out", "the folder recon reconcile wrote")
	l.FlagSet().Float64Var(&minP, "min-precision", 0, "exit 1 when pair precision is below this")
	l.FlagSet().Float64Var(&minR, "min-recall", 0, "exit 1 when pair recall is below this")
	l.FlagSet().Float64Var(&minB, "min-break-recall", 0, "exit 1 when break recall is below this")
	l.FlagSet().Float64Var(&maxF, "max-false-breaks", 1, "exit 1 when the share of records with a counterpart that ended as breaks is above this (0.005: 0.5 %)")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	truth, err := gen.ReadTruth(truthPath)
	if err != nil {
		return err
	}
	s, err := gen.ScoreDir(out, truth)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pair precision %.4f (%d of %d predicted links right)\npair recall    %.4f (%d of %d true links found)\nbreak recall   %.4f (%d of %d expected breaks reported)\nfalse breaks   %.4f (%d of %d records had a counterpart but ended as breaks)\n",
		s.Precision, s.CorrectLinks, s.PredictedLinks, s.Recall, s.CorrectLinks, s.TruthLinks, s.BreakRecall, s.FoundBreaks, s.TruthBreaks,
		s.FalseBreakRate, s.FalseBreaks, s.Records)
	if s.Precision < minP || s.Recall < minR || s.BreakRecall < minB || s.FalseBreakRate > maxF {
		return fmt.Errorf("outside the targets (precision >= %.4f, recall >= %.4f, break recall >= %.4f, false breaks <= %.4f)", minP, minR, minB, maxF)
	}
	return nil
}
