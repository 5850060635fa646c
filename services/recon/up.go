package main

import (
	"context"
	"database/sql"
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

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/sqlitefile"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/internal/warehouse"
	"github.com/openrecon/recon/services/console"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
	"github.com/openrecon/recon/services/notifier"
)

// upConfig is the configuration of `recon up`: where it keeps its data,
// the addresses it serves, and what it hands each service on top of the
// service's own defaults.
type upConfig struct {
	DataDir, OpsAddr, LogLevel       string
	Partitions                       int
	MemoryLimit                      int64 // bytes; 0: none
	Demo                             bool
	DemoLateAfter                    time.Duration
	ConsoleAddr, DemoPassword        string
	IdleAdvance, MinPending          time.Duration
	RulesFile, CalendarFile, FXRates string
	Profiling                        bool
	WebhookURL, WebhookSecretFile    string
}

// upDefaults is what `recon up` runs with when no flag says otherwise.
func upDefaults() upConfig {
	return upConfig{DataDir: "recon-data", OpsAddr: "127.0.0.1:9100", LogLevel: "info", Partitions: 4, DemoLateAfter: 40 * time.Second,
		ConsoleAddr: "127.0.0.1:8080", IdleAdvance: 30 * time.Second, MinPending: 2 * time.Second}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *upConfig) Register(l *config.Loader) {
	l.String(&c.DataDir, "data-dir", c.DataDir, "folder for the inbox, the embedded Kafka and Redis, and the SQLite warehouse and case store (recon.db)")
	l.String(&c.OpsAddr, "ops-addr", c.OpsAddr, "address of /metrics, /healthz, /readyz")
	l.String(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	l.Int(&c.Partitions, "partitions", c.Partitions, "partitions of the keyed topics")
	l.MiB(&c.MemoryLimit, "memory-limit-mb", "soft limit of the Go heap, in MiB (0: none), for a machine with little memory: the collector works harder near it, and slows everything when more is live (a day whose other file has not come); GOMEMLIMIT, if set, wins")
	l.Bool(&c.Demo, "demo", c.Demo, "drop a demo into the inbox: the last 20 business days of two accounts (camt.053 statements with balances, a ledger extract), every break reason, proposals, sign-offs and requests, a late file")
	l.Duration(&c.DemoLateAfter, "demo-late-after", c.DemoLateAfter, "with --demo: when the late ledger file follows (after idle-advance, so its records come after their windows closed)")
	l.String(&c.ConsoleAddr, "console-addr", c.ConsoleAddr, "address of the console (empty: no console)")
	l.String(&c.DemoPassword, "demo-password", c.DemoPassword, "password of the console's demo users (empty: generated and printed)")
	l.Duration(&c.IdleAdvance, "idle-advance", c.IdleAdvance, "how long one side's file may come after the other's (the first side's windows stay open that long), and how soon a quiet account's windows close (time moves to today)")
	l.Duration(&c.MinPending, "min-pending", c.MinPending, "least time a record waits in its window before it can become a break")
	l.String(&c.RulesFile, "rules", c.RulesFile, "rules file (YAML) replacing the built-in rule set")
	l.String(&c.CalendarFile, "calendar-file", c.CalendarFile, "business-day calendars (YAML): holidays per currency over the built-in ones")
	l.String(&c.FXRates, "fx-rates", c.FXRates, "exchange rates (CSV: date,pair,rate) that make converted receipts exact (fx_rates rules)")
	l.Bool(&c.Profiling, "pprof", c.Profiling, "serve Go profiles under /debug/pprof/ on the ops address (go tool pprof http://OPS-ADDR/debug/pprof/heap)")
	l.String(&c.WebhookURL, "webhook-url", c.WebhookURL, "also POST breaks to this webhook")
	l.String(&c.WebhookSecretFile, "webhook-secret-file", c.WebhookSecretFile, "file holding the webhook signing secret")
}

// runUp runs every service in one process on embedded defaults: an
// in-process Kafka (kfake), an in-process Redis (miniredis), an SQLite
// warehouse and a local inbox folder. Kafka and Redis keep their state in
// the data dir (see durable.go), so a restart after any stop carries on
// where the last run ended.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := upDefaults()
	l := config.New("recon up")
	l.FlagSet().SetOutput(stderr)
	c.Register(l)
	if _, err := l.Parse(args); err != nil {
		return err
	}
	return up(ctx, c, stdout, stderr)
}

// up runs the services of c until ctx ends or one fails.
func up(ctx context.Context, c upConfig, stdout, stderr io.Writer) error {
	// The heap may grow to 1.5 times what is live instead of Go's default
	// 2 times: one process holds every service's buffers (a 1M-record day
	// peaks at about 750 MB instead of 1.2 GB, for a few percent of CPU).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if c.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(c.MemoryLimit)
	}
	inbox := filepath.Join(c.DataDir, "inbox")
	for _, d := range []string{filepath.Join(inbox, "bank"), filepath.Join(inbox, "ledger")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	log := telemetry.NewLogger(stderr, c.LogLevel, "text")
	unlock, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	cluster, err := openKafka(ctx, filepath.Join(c.DataDir, "kafka"), stdout)
	if err != nil {
		return err
	}
	defer cluster.Close()
	store, err := openRedis(ctx, filepath.Join(c.DataDir, "redis"), stdout, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("embedded redis: close", "err", err)
		}
	}()
	rdb := store.Client()
	dbPath := filepath.Join(c.DataDir, "recon.db")
	casesPath := filepath.Join(c.DataDir, "cases.db")
	// One file for the warehouse and the console's case store, the
	// warehouse's matches served by the case store's (one copy of the
	// day); a data dir from before keeps its two files.
	shared, err := shareWarehouse(ctx, dbPath, casesPath)
	if err != nil {
		return err
	}
	if shared {
		casesPath = dbPath
	}

	// The services' own configurations, from their defaults, on the
	// embedded servers.
	kc := kafka.Defaults("recon-up")
	kc.Brokers, kc.Partitions, kc.ReplicationFactor = cluster.ListenAddrs(), int32(c.Partitions), 1
	kc.FetchMaxBytes = 4 << 20 // five consumers in one process: small fetch buffers
	kc.Zstd = true             // the log is on the laptop's disk
	reg := telemetry.NewRegistry()
	services := map[string]runnable{}
	for _, b := range []struct {
		name  string
		build func() (runnable, error)
	}{
		{"ingestor", func() (runnable, error) {
			ic := ingestor.Defaults()
			ic.Kafka, ic.TransactionalID, ic.Inbox, ic.ConsumeEvents, ic.PollInterval = kc, ingestorTxnID(), inbox, false, 500*time.Millisecond
			ic.CompressProcessed = true // kept as they came, in a fifth of the laptop's disk
			return ingestor.New(ctx, ic, ingestor.Deps{Log: log, Metrics: reg})
		}},
		{"matcher", func() (runnable, error) {
			mc := matcher.Defaults()
			mc.Kafka, mc.IdleAdvance, mc.MinPending = kc, c.IdleAdvance, c.MinPending
			mc.RulesFile, mc.CalendarFile, mc.FXRatesFile = c.RulesFile, c.CalendarFile, c.FXRates
			return matcher.New(ctx, mc, matcher.Deps{Log: log, Metrics: reg, Redis: rdb})
		}},
		{"loader", func() (runnable, error) {
			lc := loader.Defaults()
			lc.Kafka, lc.DatabaseURL, lc.BatchInterval = kc, "sqlite:"+dbPath, 500*time.Millisecond
			lc.BatchSize = 20000 // one SQLite transaction: its WAL and the batch in memory stay small
			return loader.New(ctx, lc, loader.Deps{Log: log, Metrics: reg})
		}},
		{"notifier", func() (runnable, error) {
			nc := notifier.Defaults()
			nc.Kafka, nc.WebhookURL, nc.WebhookSecretFile = kc, c.WebhookURL, c.WebhookSecretFile
			return notifier.New(ctx, nc, notifier.Deps{Log: log, Metrics: reg, Redis: rdb})
		}},
	} {
		svc, err := b.build()
		if err != nil {
			return err
		}
		services[b.name] = svc
	}
	var con *console.Service
	if c.ConsoleAddr != "" {
		cc := console.Defaults()
		cc.Addr, cc.DatabaseURL = c.ConsoleAddr, "sqlite:"+casesPath
		// Rules proposals replay against the warehouse, with the
		// matcher's calendars and rates.
		cc.WarehouseURL, cc.CalendarFile, cc.FXRatesFile = "sqlite:"+dbPath, c.CalendarFile, c.FXRates
		cc.Feed.Kafka, cc.Feed.BatchInterval = kc, 200*time.Millisecond
		cc.Demo = console.DemoConfig{Enabled: true, Addr: "127.0.0.1:0", Password: c.DemoPassword}
		if con, err = console.New(ctx, cc, console.Deps{Log: log, Metrics: reg}); err != nil {
			return err
		}
		services["console"] = con
	} else if shared {
		// No console, but the warehouse's matches are the case store's:
		// its feed runs alone.
		feed, err := feedOnly(ctx, kc, "sqlite:"+casesPath, log)
		if err != nil {
			return err
		}
		defer feed.close()
		services["console-feed"] = feed
	}
	checks := telemetry.Checks{}
	for name, s := range services {
		checks[name] = s.Ready
	}
	var extra map[string]http.Handler
	if c.Profiling {
		extra = telemetry.Profiling()
	}
	ops, err := telemetry.Serve(c.OpsAddr, reg, checks, log, extra)
	if err != nil {
		return err
	}
	defer ops.Close()
	abs, _ := filepath.Abs(inbox)
	absDB, _ := filepath.Abs(dbPath)
	fmt.Fprintf(stdout, "recon up: all services in one process (embedded Kafka %s, embedded Redis %s)\n", cluster.ListenAddrs()[0], store.Addr())
	fmt.Fprintf(stdout, "  inbox:   %s (drop files into bank/ or ledger/)\n", abs)
	fmt.Fprintf(stdout, "  results: %s (SQLite: recon_matches, recon_match_items, recon_breaks, recon_break_status)\n", absDB)
	fmt.Fprintf(stdout, "  breaks:  logged below as they happen\n")
	fmt.Fprintf(stdout, "  metrics: http://%s/metrics\n", ops.Addr)
	if con != nil {
		fmt.Fprintf(stdout, "  console: %s\n", con.URL())
		fmt.Fprintf(stdout, "           sign in as viewer, preparer, preparer2, approver, admin or editor (rules), password %s\n", con.DemoPassword)
		fmt.Fprintf(stdout, "           (an embedded OpenID provider on loopback: for this laptop only, never production)\n")
	}
	fmt.Fprintf(stdout, "  handled files move to %s (gzip-compressed: NAME.gz), unreadable ones to %s\nCtrl-C stops.\n",
		filepath.Join(abs, ingestor.ProcessedDir), filepath.Join(abs, ingestor.QuarantineDir))
	if c.Demo {
		d, err := makeDemo(time.Now())
		if err != nil {
			return err
		}
		if err := writeFiles(inbox, d.files); err != nil {
			return err
		}
		lateAfter := c.DemoLateAfter
		if lateAfter <= c.IdleAdvance {
			lateAfter = c.IdleAdvance + 10*time.Second // its records must come after their windows closed
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

// shareWarehouse prepares recon up's SQLite file dbPath to hold the
// console's case store beside the warehouse, the warehouse's
// recon_matches and recon_match_items views over the case store's
// matches and records (casestore.ServeWarehouse), and reports whether it
// does. A data dir from before keeps its layout: one with the case store
// in casesPath, or whose warehouse the loader has written matches into.
func shareWarehouse(ctx context.Context, dbPath, casesPath string) (bool, error) {
	if _, err := os.Stat(casesPath); err == nil {
		return false, nil
	}
	wh, err := warehouse.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		return false, err
	}
	defer wh.Close()
	if err := wh.Migrate(ctx); err != nil {
		return false, err
	}
	if loaded, err := loadedMatches(ctx, dbPath); err != nil || loaded {
		return false, err
	}
	cs, err := casestore.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		return false, err
	}
	defer cs.Close()
	if err := cs.Migrate(ctx); err != nil {
		return false, err
	}
	return cs.ServeWarehouse(ctx)
}

// loadedMatches says whether the warehouse in path has recon_matches as
// a table with rows (a loader wrote them).
func loadedMatches(ctx context.Context, path string) (bool, error) {
	db, err := sql.Open("sqlite", sqlitefile.DSN(path))
	if err != nil {
		return false, err
	}
	defer db.Close()
	var kind string
	if err := db.QueryRowContext(ctx, `SELECT type FROM sqlite_master WHERE name = 'recon_matches'`).Scan(&kind); err != nil {
		return false, fmt.Errorf("warehouse %s: %w", path, err)
	}
	if kind != "table" {
		return false, nil
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM recon_matches)`).Scan(&rows); err != nil {
		return false, fmt.Errorf("warehouse %s: %w", path, err)
	}
	return rows == 1, nil
}

// consoleFeed is the console's feed run without the console.
type consoleFeed struct {
	*console.Feed
	store *casestore.Store
}

func (f consoleFeed) Ready() error { return f.LastErr() }
func (f consoleFeed) close()       { f.store.Close() }

func feedOnly(ctx context.Context, kc kafka.Config, url string, log *slog.Logger) (consoleFeed, error) {
	st, err := casestore.Open(ctx, url)
	if err != nil {
		return consoleFeed{}, err
	}
	fc := console.FeedDefaults()
	fc.Kafka, fc.BatchInterval = kc, 200*time.Millisecond
	f, err := console.NewFeed(ctx, fc, st, log)
	if err != nil {
		st.Close()
		return consoleFeed{}, err
	}
	return consoleFeed{f, st}, nil
}
