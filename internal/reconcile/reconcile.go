// Package reconcile runs the real pipeline once over a set of files: the
// ingestor produces them to the transaction topics, the matcher joins them
// with Redis window state, the end of input closes every window, and the
// final matches and breaks are written as JSON lines with a summary. It runs
// on embedded defaults (in-process Kafka and Redis) or on real servers.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/redisconn"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/matcher"
)

// Config is one reconciliation run.
type Config struct {
	Bank, Ledger []string // input files
	Out          string   // output folder

	// Real servers; empty = embedded.
	Brokers  []string
	RedisURL string

	Partitions int // of the run's topics; 0: 4
	// CSVProfiles: extra CSV mapping profiles (file or folder).
	CSVProfiles string
	Rules       engine.Config

	// Progress receives progress lines and the final summary (nil: none).
	Progress io.Writer
	Log      *slog.Logger
}

// Validate reports bad arguments; it reads nothing and changes nothing.
func (c Config) Validate() error {
	var errs []error
	if len(c.Bank) == 0 && len(c.Ledger) == 0 {
		errs = append(errs, errors.New("no input: give --bank and/or --ledger files"))
	}
	if c.Out == "" {
		errs = append(errs, errors.New("no --out folder"))
	}
	if c.Partitions < 0 {
		errs = append(errs, errors.New("partitions cannot be negative"))
	}
	return errors.Join(errs...)
}

// Load checks that every input is a readable file, naming each that is not.
func (c *Config) Load() error {
	var errs []error
	for _, f := range append(append([]string(nil), c.Bank...), c.Ledger...) {
		if st, err := os.Stat(f); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("%s is a folder, not a file", f))
		}
	}
	return errors.Join(errs...)
}

// Run reconciles and writes DIR/matches.jsonl, DIR/breaks.jsonl,
// DIR/rejected.jsonl and DIR/summary.json.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 4
	}
	if err := prepareRun(cfg.Out, &cfg.Progress, &cfg.Log); err != nil {
		return nil, err
	}
	start := time.Now()
	run := strconv.FormatInt(start.UnixNano(), 36)
	kc, rdb, closeServers, err := servers(cfg.Brokers, cfg.RedisURL, "recon-reconcile-"+run+".", cfg.Partitions)
	if err != nil {
		return nil, err
	}
	defer closeServers()

	// Ingest.
	icfg := ingestor.Defaults()
	icfg.Kafka, icfg.TransactionalID, icfg.Manual, icfg.ConsumeEvents = kc, "recon-reconcile-"+run, true, false
	icfg.CSVProfiles, icfg.MaxFileSize, icfg.TransactionTimeout = cfg.CSVProfiles, 4<<30, 15*time.Minute
	ing, err := ingestor.New(ctx, icfg, ingestor.Deps{Log: cfg.Log, Metrics: prometheus.NewRegistry()})
	if err != nil {
		return nil, err
	}
	sum := &Summary{Files: []FileSummary{}}
	var inputs int64
	for _, f := range []struct {
		files []string
		side  record.Side
	}{{cfg.Bank, record.Bank}, {cfg.Ledger, record.Ledger}} {
		for _, path := range f.files {
			t0 := time.Now()
			res, err := ing.IngestPath(ctx, path, path, f.side)
			if err != nil {
				ing.Close()
				return nil, fmt.Errorf("ingest %s: %w", path, err)
			}
			fs := FileSummary{File: path, Side: string(f.side), Format: res.Format, Outcome: res.Outcome,
				Records: res.Records, Rejected: res.Rejected, Statements: res.Statements, Reason: res.Reason}
			sum.Files = append(sum.Files, fs)
			inputs += res.Records + res.Statements
			fmt.Fprintf(cfg.Progress, "ingested %s: %s, %d records, %d rejected (%.1fs)\n", path, describeOutcome(res), res.Records, res.Rejected, time.Since(t0).Seconds())
		}
	}
	ing.Close()

	// Match.
	if err := matchAll(ctx, kc, rdb, cfg.Rules, run, inputs, cfg.Progress, cfg.Log); err != nil {
		return nil, err
	}

	// Collect the outputs.
	out, err := collect(ctx, kc)
	if err != nil {
		return nil, err
	}
	if err := write(cfg.Out, out, sum); err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(cfg.Out, "summary.json"), sum); err != nil {
		return nil, err
	}
	sum.Print(cfg.Progress, cfg.Out)
	return sum, nil
}

// prepareRun gives a run without a progress writer or logger quiet ones
// and makes its output folder.
func prepareRun(out string, progress *io.Writer, log **slog.Logger) error {
	if *progress == nil {
		*progress = io.Discard
	}
	if *log == nil {
		*log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return os.MkdirAll(out, 0o755)
}

// servers returns the run's Kafka and Redis: in-process ones, or the real
// ones given, where the run's topics carry prefix (so nothing of another
// system's is touched).
func servers(brokers []string, redisURL, prefix string, partitions int) (kafka.Config, redis.UniversalClient, func(), error) {
	kc := kafka.Config{Brokers: brokers, Partitions: int32(partitions), Provision: true, ClientID: "recon-reconcile"}
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if len(brokers) == 0 {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return kc, nil, nil, fmt.Errorf("embedded kafka: %w", err)
		}
		closers = append(closers, cluster.Close)
		kc.Brokers = cluster.ListenAddrs()
		kc.ReplicationFactor = 1
	} else {
		kc.TopicPrefix = prefix
	}
	var rdb redis.UniversalClient
	if redisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			cleanup()
			return kc, nil, nil, fmt.Errorf("embedded redis: %w", err)
		}
		closers = append(closers, mr.Close)
		rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	} else {
		var err error
		if rdb, err = redisconn.Open(redisURL); err != nil {
			cleanup()
			return kc, nil, nil, err
		}
	}
	closers = append(closers, func() { rdb.Close() })
	return kc, rdb, cleanup, nil
}

// matchAll runs a matcher over kc's transaction topics holding every
// window open until all inputs are processed, then closes every window
// (the end of input). Its state lives in rdb under a prefix of its own.
func matchAll(ctx context.Context, kc kafka.Config, rdb redis.UniversalClient, rules engine.Config, run string, inputs int64, progress io.Writer, log *slog.Logger) error {
	mctx, stopMatcher := context.WithCancel(ctx)
	defer stopMatcher()
	mcfg := matcher.Defaults()
	mcfg.Kafka, mcfg.Group, mcfg.RedisPrefix = kc, "recon-reconcile-"+run, "reconcile-"+run
	// Complete files: every window stays open until the end of input.
	mcfg.HoldWindows, mcfg.IdleAdvance, mcfg.MinPending = true, 0, 0
	if len(rules.Rules) > 0 {
		mcfg.Rules = rules
	}
	m, err := matcher.New(mctx, mcfg, matcher.Deps{Log: log, Metrics: prometheus.NewRegistry(), Redis: rdb})
	if err != nil {
		return err
	}
	merr := make(chan error, 1)
	go func() { merr <- m.Run(mctx) }()
	t0 := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for m.Processed() < inputs {
		select {
		case err := <-merr:
			return fmt.Errorf("matcher stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			n := m.Processed()
			fmt.Fprintf(progress, "matching: %d/%d records (%.0f/s)\n", n, inputs, float64(n)/time.Since(t0).Seconds())
		}
	}
	if err := m.CloseAll(ctx); err != nil {
		return fmt.Errorf("close windows: %w", err)
	}
	stopMatcher()
	if err := <-merr; err != nil {
		return fmt.Errorf("matcher: %w", err)
	}
	fmt.Fprintf(progress, "matched %d records in %.1fs\n", inputs, time.Since(t0).Seconds())
	return nil
}

func describeOutcome(res *record.FileEvent) string {
	switch res.Outcome {
	case record.OutcomeDuplicate:
		return "skipped: same content as a file already ingested"
	case record.OutcomeQuarantined:
		return "QUARANTINED: " + res.Reason
	}
	return res.Format
}
