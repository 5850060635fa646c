package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/openrecon/recon/internal/localredis"
)

// The all-in-one mode is durable because each of its stores is, in the
// data dir, the way the production servers are:
//
//   - kafka/: kfake's log, every produced batch fsynced before it is
//     acknowledged (SyncWrites), with transactions, committed offsets and
//     producer ids; a transaction open at a crash is aborted on load;
//   - redis/: the window state and the notifier's notified set, a write-ahead
//     command log fsynced before each write runs (package localredis);
//   - recon.db: SQLite, the warehouse and the console's case store (the
//     warehouse's matches are views over the case store's), each loader
//     batch and each feed batch in one transaction with its offsets.
//
// So the exactly-once argument of the production mode (DESIGN.md §5) holds
// unchanged: nothing is re-derived on a start, so nothing can come out
// differently from the first time.

// ingestorTxnID is the ingestor's transactional id, new on every start.
// kfake aborts a transaction that a crash left open when it reloads its
// log, but writes no abort marker for it; a read-committed consumer then
// skips every later batch of that producer id, so the same transactional
// id (the same producer id) would hide the next files' records. A new id
// is a new producer id: only the crashed transaction's batches are
// skipped. One process holds the data dir, so no zombie needs fencing.
func ingestorTxnID() string {
	return fmt.Sprintf("recon-up-ingestor-%d", time.Now().UnixNano())
}

// openKafka starts the embedded broker on dir, reloading what it holds.
func openKafka(ctx context.Context, dir string, out io.Writer) (*kfake.Cluster, error) {
	size := dirSize(dir)
	var stop func()
	if size > 0 {
		fmt.Fprintf(out, "recon up: loading the embedded Kafka log (%s in %s)\n", humanBytes(size), dir)
		stop = ticker(out, "embedded Kafka")
	}
	start := time.Now()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SyncWrites())
	if stop != nil {
		stop()
	}
	if err != nil {
		return nil, fmt.Errorf("embedded kafka (%s): %w", dir, err)
	}
	if size > 0 {
		fmt.Fprintf(out, "recon up: embedded Kafka loaded in %.1f s\n", time.Since(start).Seconds())
	}
	return cluster, nil
}

// openRedis starts the embedded Redis on dir, replaying what it holds.
func openRedis(ctx context.Context, dir string, out io.Writer, log *slog.Logger) (*localredis.Store, error) {
	size := dirSize(dir)
	if size > 0 {
		fmt.Fprintf(out, "recon up: loading the embedded Redis state (%s in %s)\n", humanBytes(size), dir)
	}
	start := time.Now()
	store, err := localredis.Open(ctx, dir, localredis.Options{Log: log, Progress: func(p localredis.Progress) {
		fmt.Fprintf(out, "recon up: embedded Redis: %s %d%% (%s of %s)\n", p.Phase, 100*p.Done/max(p.Total, 1),
			humanBytes(p.Done), humanBytes(p.Total))
	}})
	if err != nil {
		return nil, err
	}
	if size > 0 {
		fmt.Fprintf(out, "recon up: embedded Redis loaded in %.1f s\n", time.Since(start).Seconds())
	}
	return store, nil
}

// ticker prints that what is named is still loading, every two seconds,
// until stopped.
func ticker(out io.Writer, what string) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		start := time.Now()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(out, "recon up: %s still loading (%.0f s)\n", what, time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(done); <-stopped }
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// errLocked: another recon up runs on the same data dir.
var errLocked = errors.New("another recon up is running on this data dir")

// lockDataDir takes the data dir for this process (one process at a time:
// the embedded stores have one writer).
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return lockFile(filepath.Join(dir, "LOCK"))
}
