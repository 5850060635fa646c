package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/services/console"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
	"github.com/openrecon/recon/services/notifier"
)

// runUp runs every service in one process on embedded defaults: an
// in-process Kafka (kfake), an in-process Redis (miniredis), an SQLite
// warehouse and a local inbox folder. Kafka and Redis keep their state in
// the data dir (see durable.go), so a restart after any stop carries on
// where the last run ended.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dataDir, opsAddr, logLevel, webhookURL, webhookSecretFile, consoleAddr, demoPassword, rulesFile, calendarFile, ratesFile string
	var partitions int
	var memLimit int64
	var demo, profiling bool
	var lateAfter time.Duration
	var idle, minPending time.Duration
	l := config.New("recon up")
	l.FlagSet().SetOutput(stderr)
	l.String(&dataDir, "data-dir", "recon-data", "folder for the inbox and the SQLite warehouse")
	l.String(&opsAddr, "ops-addr", "127.0.0.1:9100", "address of /metrics, /healthz, /readyz")
	l.String(&logLevel, "log-level", "info", "debug, info, warn or error")
	l.Int(&partitions, "partitions", 4, "partitions of the keyed topics")
	l.MiB(&memLimit, "memory-limit-mb", "soft limit of the Go heap, in MiB (0: none), for a machine with little memory: the collector works harder near it, and slows everything when more is live (a day whose other file has not come); GOMEMLIMIT, if set, wins")
	l.Bool(&demo, "demo", false, "drop a demo day (two accounts, every break reason, proposals, a payout batch, a late file) into the inbox")
	l.Duration(&lateAfter, "demo-late-after", 40*time.Second, "with --demo: when the late ledger file follows (after idle-advance, so its records come after their windows closed)")
	l.String(&consoleAddr, "console-addr", "127.0.0.1:8080", "address of the console (empty: no console)")
	l.String(&demoPassword, "demo-password", "", "password of the console's demo users (empty: generated and printed)")
	l.Duration(&idle, "idle-advance", 30*time.Second, "how long one side's file may come after the other's (the first side's windows stay open that long), and how soon a quiet account's windows close (time moves to today)")
	l.Duration(&minPending, "min-pending", 2*time.Second, "least time a record waits in its window before it can become a break")
	l.String(&rulesFile, "rules", "", "rules file (YAML) replacing the built-in rule set")
	l.String(&calendarFile, "calendar-file", "", "business-day calendars (YAML): holidays per currency over the built-in ones")
	l.String(&ratesFile, "fx-rates", "", "exchange rates (CSV: date,pair,rate) that make converted receipts exact (fx_rates rules)")
	l.Bool(&profiling, "pprof", false, "serve Go profiles under /debug/pprof/ on the ops address (go tool pprof http://OPS-ADDR/debug/pprof/heap)")
	l.String(&webhookURL, "webhook-url", "", "also POST breaks to this webhook")
	l.String(&webhookSecretFile, "webhook-secret-file", "", "file holding the webhook signing secret")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	// The heap may grow to 1.5 times what is live instead of Go's default
	// 2 times: one process holds every service's buffers (a 1M-record day
	// peaks at about 750 MB instead of 1.2 GB, for a few percent of CPU).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memLimit)
	}
	inbox := filepath.Join(dataDir, "inbox")
	for _, d := range []string{filepath.Join(inbox, "bank"), filepath.Join(inbox, "ledger")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	log := telemetry.NewLogger(stderr, logLevel, "text")
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	cluster, err := openKafka(ctx, filepath.Join(dataDir, "kafka"), stdout)
	if err != nil {
		return err
	}
	defer cluster.Close()
	store, err := openRedis(ctx, filepath.Join(dataDir, "redis"), stdout, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("embedded redis: close", "err", err)
		}
	}()
	rdb := store.Client()
	dbPath := filepath.Join(dataDir, "recon.db")
	casesPath := filepath.Join(dataDir, "cases.db")

	// The services' own configurations, from their defaults, on the
	// embedded servers.
	kc := kafka.Defaults("recon-up")
	kc.Brokers, kc.Partitions, kc.ReplicationFactor = cluster.ListenAddrs(), int32(partitions), 1
	kc.FetchMaxBytes = 4 << 20 // five consumers in one process: small fetch buffers
	kc.Zstd = true             // the log is on the laptop's disk
	reg := telemetry.NewRegistry()
	services := map[string]runnable{}
	for _, b := range []struct {
		name  string
		build func() (runnable, error)
	}{
		{"ingestor", func() (runnable, error) {
			c := ingestor.Defaults()
			c.Kafka, c.TransactionalID, c.Inbox, c.ConsumeEvents, c.PollInterval = kc, ingestorTxnID(), inbox, false, 500*time.Millisecond
			return ingestor.New(ctx, c, ingestor.Deps{Log: log, Metrics: reg})
		}},
		{"matcher", func() (runnable, error) {
			c := matcher.Defaults()
			c.Kafka, c.IdleAdvance, c.MinPending = kc, idle, minPending
			c.RulesFile, c.CalendarFile, c.FXRatesFile = rulesFile, calendarFile, ratesFile
			return matcher.New(ctx, c, matcher.Deps{Log: log, Metrics: reg, Redis: rdb})
		}},
		{"loader", func() (runnable, error) {
			c := loader.Defaults()
			c.Kafka, c.DatabaseURL, c.BatchInterval = kc, "sqlite:"+dbPath, 500*time.Millisecond
			c.BatchSize = 20000 // one SQLite transaction: its WAL and the batch in memory stay small
			return loader.New(ctx, c, loader.Deps{Log: log, Metrics: reg})
		}},
		{"notifier", func() (runnable, error) {
			c := notifier.Defaults()
			c.Kafka, c.WebhookURL, c.WebhookSecretFile = kc, webhookURL, webhookSecretFile
			return notifier.New(ctx, c, notifier.Deps{Log: log, Metrics: reg, Redis: rdb})
		}},
	} {
		svc, err := b.build()
		if err != nil {
			return err
		}
		services[b.name] = svc
	}
	var con *console.Service
	if consoleAddr != "" {
		c := console.Defaults()
		c.Addr, c.DatabaseURL = consoleAddr, "sqlite:"+casesPath
		c.Feed.Kafka, c.Feed.BatchInterval = kc, 200*time.Millisecond
		c.Demo = console.DemoConfig{Enabled: true, Addr: "127.0.0.1:0", Password: demoPassword}
		if con, err = console.New(ctx, c, console.Deps{Log: log, Metrics: reg}); err != nil {
			return err
		}
		services["console"] = con
	}
	checks := telemetry.Checks{}
	for name, s := range services {
		checks[name] = s.Ready
	}
	var extra map[string]http.Handler
	if profiling {
		extra = telemetry.Profiling()
	}
	ops, err := telemetry.Serve(opsAddr, reg, checks, log, extra)
	if err != nil {
		return err
	}
	defer ops.Close()
	abs, _ := filepath.Abs(inbox)
	absDB, _ := filepath.Abs(dbPath)
	fmt.Fprintf(stdout, "recon up: all services in one process (embedded Kafka %s, embedded Redis %s)\n", cluster.ListenAddrs()[0], store.Addr())
	fmt.Fprintf(stdout, "  inbox:   %s (drop files into bank/ or ledger/)\n", abs)
	fmt.Fprintf(stdout, "  results: %s (SQLite: tables recon_matches, recon_match_items, recon_breaks; view recon_break_status)\n", absDB)
	fmt.Fprintf(stdout, "  breaks:  logged below as they happen\n")
	fmt.Fprintf(stdout, "  metrics: http://%s/metrics\n", ops.Addr)
	if con != nil {
		fmt.Fprintf(stdout, "  console: %s\n", con.URL())
		fmt.Fprintf(stdout, "           sign in as viewer, preparer, preparer2, approver or admin, password %s\n", con.DemoPassword)
		fmt.Fprintf(stdout, "           (an embedded OpenID provider on loopback: for this laptop only, never production)\n")
	}
	fmt.Fprintf(stdout, "  handled files move to %s, unreadable ones to %s\nCtrl-C stops.\n",
		filepath.Join(abs, ingestor.ProcessedDir), filepath.Join(abs, ingestor.QuarantineDir))
	if demo {
		d, err := makeDemo(time.Now())
		if err != nil {
			return err
		}
		if err := writeFiles(inbox, d.files); err != nil {
			return err
		}
		if lateAfter <= idle {
			lateAfter = idle + 10*time.Second // its records must come after their windows closed
		}
		fmt.Fprintf(stdout, "  demo: the last %d business days written into the inbox; a late ledger file follows in %s\n", demoDays, lateAfter)
		go func() {
			select {
			case <-ctx.Done():
			case <-time.After(lateAfter):
				if err := writeFiles(inbox, d.late); err != nil {
					log.Error("demo: late file", "err", err)
				}
			}
		}()
		if con != nil {
			go func() {
				if err := con.PlayDemo(ctx, d.seed, 5*time.Minute); err != nil && ctx.Err() == nil {
					log.Warn("demo: the sign-offs and requests of the demo's people were not made", "err", err)
				}
			}()
		}
	}
	return runAll(ctx, log, services)
}

// runAll runs the services until ctx ends or one fails (which stops the rest).
func runAll(ctx context.Context, log *slog.Logger, services map[string]runnable) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(services))
	for name, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("service stopped", "service", name, "err", err)
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
