package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/reconcile"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/telemetry"
)

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg reconcile.Config
	var logLevel string
	cfg.Bank, cfg.Ledger, args = fileArgs(args)
	l := config.New("recon reconcile")
	fs := l.FlagSet()
	fs.SetOutput(stderr)
	fs.Bool("bank", false, "bank statement files follow (--bank a.sta b.xml)")
	fs.Bool("ledger", false, "ledger files follow (--ledger gl.csv)")
	l.String(&cfg.Out, "out", "", "output folder for matches.jsonl, breaks.jsonl, summary.json")
	l.List(&cfg.Brokers, "kafka-brokers", nil, "real Kafka brokers (default: in-process)")
	l.String(&cfg.RedisURL, "redis-url", "", "real Redis (default: in-process)")
	l.Int(&cfg.Partitions, "partitions", 4, "partitions of the run's topics")
	var rulesFile, calendarFile, ratesFile string
	l.String(&rulesFile, "rules", "", "rules file (YAML) replacing the built-in rule set")
	l.String(&calendarFile, "calendar-file", "", "business-day calendars (YAML): holidays per currency over the built-in ones")
	l.String(&ratesFile, "fx-rates", "", "exchange rates (CSV: date,pair,rate) that make converted receipts exact (fx_rates rules)")
	l.String(&cfg.CSVProfiles, "csv-profiles", "", "CSV mapping profile (YAML) or folder of them, beside the built-in ones")
	l.String(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recon reconcile --bank FILE... --ledger FILE... --out DIR")
		fs.PrintDefaults()
	}
	rest, err := l.Parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected %q (files go after --bank or --ledger)", errUsage, rest[0])
	}
	if cfg.Rules, err = engine.WithFiles(engine.DefaultConfig(), rulesFile, calendarFile, ratesFile); err != nil {
		return err
	}
	cfg.Progress = stdout
	cfg.Log = telemetry.NewLogger(stderr, logLevel, "text")
	if len(cfg.Bank)+len(cfg.Ledger) == 0 || cfg.Out == "" {
		fs.Usage()
		return fmt.Errorf("%w: give --bank and/or --ledger files and --out", errUsage)
	}
	// The flags are right: what is wrong now is named in one line each.
	if err := config.Prepare(&cfg); err != nil {
		return err
	}
	_, err = reconcile.Run(ctx, cfg)
	return err
}

// fileArgs takes the files that follow --bank and --ledger (each flag may
// be given several times, each followed by one or more files, so shell globs
// work) out of args and returns the rest.
func fileArgs(args []string) (bank, ledger, rest []string) {
	var cur *[]string
	for _, a := range args {
		switch {
		case a == "--bank" || a == "-bank":
			cur = &bank
		case a == "--ledger" || a == "-ledger":
			cur = &ledger
		case strings.HasPrefix(a, "--bank=") || strings.HasPrefix(a, "-bank="):
			bank = append(bank, a[strings.Index(a, "=")+1:])
			cur = nil
		case strings.HasPrefix(a, "--ledger=") || strings.HasPrefix(a, "-ledger="):
			ledger = append(ledger, a[strings.Index(a, "=")+1:])
			cur = nil
		case strings.HasPrefix(a, "-") && a != "-":
			cur = nil
			rest = append(rest, a)
		case cur != nil:
			*cur = append(*cur, a)
		default:
			rest = append(rest, a)
		}
	}
	return bank, ledger, rest
}

// runExport writes a running system's matches, breaks and summary from its
// warehouse as recon reconcile writes a batch run (DESIGN.md §6).
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dbURL, out, status string
	l := config.New("recon export")
	fs := l.FlagSet()
	fs.SetOutput(stderr)
	l.String(&dbURL, "database-url", "", "the warehouse: postgres://…, redshift://… or sqlite:PATH (recon up: sqlite:DATA-DIR/warehouse.db)")
	l.String(&out, "out", "", "output folder for matches.jsonl, breaks.jsonl, summary.json")
	l.String(&status, "status", "open", "breaks to write: open (what recon reconcile writes) or all")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recon export --database-url URL --out DIR [--status open|all]")
		fs.PrintDefaults()
	}
	if _, err := l.Parse(args); err != nil {
		return err
	}
	if dbURL == "" || out == "" || (status != "open" && status != "all") {
		fs.Usage()
		return fmt.Errorf("%w: give --database-url and --out; --status is open or all", errUsage)
	}
	sum, err := reconcile.Export(ctx, dbURL, out, status == "all")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recon export: %d matches (bank %d, ledger %d records), %d %s breaks, %d cleared by later matches -> %s\n",
		sum.Matches, sum.Matched["bank"], sum.Matched["ledger"], sum.BySide["bank"]+sum.BySide["ledger"], status, sum.Cleared, out)
	return nil
}

// runReplay re-decides a period of a running system's transaction topics
// with a new rules file and writes the difference (DESIGN.md §6).
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg reconcile.ReplayConfig
	var rulesFile, calendarFile, ratesFile, from, to, logLevel string
	cfg.Live = kafka.Defaults("recon-replay")
	l := config.New("recon replay")
	fs := l.FlagSet()
	fs.SetOutput(stderr)
	cfg.Live.Register(l)
	cfg.Registry.Register(l)
	l.String(&rulesFile, "rules", "", "the rules file (YAML) to try")
	l.String(&calendarFile, "calendar-file", "", "business-day calendars (YAML) for the new rules")
	l.String(&ratesFile, "fx-rates", "", "exchange rates (CSV: date,pair,rate) for the new rules")
	l.String(&from, "from", "", "first booking date of the period (YYYY-MM-DD)")
	l.String(&to, "to", "", "last booking date of the period (default: no end)")
	l.String(&cfg.DatabaseURL, "database-url", "", "the live warehouse (what the system decided): postgres://…, redshift://… or sqlite:PATH")
	l.String(&cfg.RedisURL, "redis-url", "", "Redis for the replay's throwaway state, under a prefix of its own (default: in-process)")
	l.String(&cfg.Out, "out", "", "output folder: the replay's matches.jsonl, breaks.jsonl, summary.json, and diff.jsonl, diff-summary.json")
	l.String(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recon replay --rules NEW.yaml --from DATE [--to DATE] --kafka-brokers HOST:PORT --database-url URL --out DIR")
		fs.PrintDefaults()
	}
	if _, err := l.Parse(args); err != nil {
		return err
	}
	if rulesFile == "" || from == "" || cfg.Out == "" {
		fs.Usage()
		return fmt.Errorf("%w: give --rules, --from and --out", errUsage)
	}
	var err error
	if cfg.Rules, err = engine.WithFiles(engine.Config{}, rulesFile, calendarFile, ratesFile); err != nil {
		return err
	}
	if cfg.From, err = record.ParseDate(from); err != nil {
		return fmt.Errorf("%w: --from: %v", errUsage, err)
	}
	if to != "" {
		if cfg.To, err = record.ParseDate(to); err != nil {
			return fmt.Errorf("%w: --to: %v", errUsage, err)
		}
	}
	cfg.Progress, cfg.Log = stdout, telemetry.NewLogger(stderr, logLevel, "text")
	_, err = reconcile.Replay(ctx, cfg)
	return err
}
