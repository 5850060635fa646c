package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEmbeddedKafkaCrashedTransaction holds what the all-in-one mode relies
// on in kfake's persistence: a transaction that a crash left open is
// invisible to read-committed consumers after the reload, and a new
// producer's (ingestorTxnID's) transactions are visible.
func TestEmbeddedKafkaCrashedTransaction(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "live")), kfake.SyncWrites(), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	produce := func(c *kfake.Cluster, prefix string, commit bool) {
		p, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID(ingestorTxnID()), kgo.DefaultProduceTopic("t"))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			p.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(prefix)}, nil)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(c, "committed-before", true)
	produce(c, "open-at-crash", false)
	// The crash: the data dir as it is on disk with the transaction open
	// (every batch was fsynced before it was acknowledged).
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "live"), filepath.Join(dir, "crashed")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c.Close()
	c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "crashed")), kfake.SyncWrites())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	produce(c, "committed-after", true)

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for seen["committed-before"]+seen["committed-after"] < 200 && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		cancel()
	}
	if seen["committed-before"] != 100 || seen["committed-after"] != 100 || seen["open-at-crash"] != 0 {
		t.Fatalf("read committed after the crash: %v; want 100 committed-before, 100 committed-after, no open-at-crash", seen)
	}
}

func TestDataDirTakenOnce(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); !errors.Is(err, errLocked) {
		t.Fatalf("second lock: %v, want errLocked", err)
	}
	unlock()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}
