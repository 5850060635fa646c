package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/services/ingestor"
)

// pipeline is a scenario's processes: matchers, the loader and the
// notifier (signing for a webhook receiver the test holds), and an
// ingestor the test feeds.
type pipeline struct {
	dir      string
	hook     *hook
	matchers []*proc
	procs    []*proc // every process, matchers first
	ing      *ingestor.Service
}

// newPipeline prepares n matchers with matcherEnv, a loader, a notifier
// keeping its outbox on redisURL, and an in-test ingestor on the servers'
// Kafka; start starts the processes, and they stop when the test ends.
func (s *servers) newPipeline(t *testing.T, redisURL string, matcherEnv []string, n int) *pipeline {
	t.Helper()
	p := &pipeline{dir: t.TempDir(), hook: &hook{secret: []byte("pipeline-secret"), got: map[string]int{}}}
	secretFile := filepath.Join(p.dir, "secret")
	if err := os.WriteFile(secretFile, []byte("pipeline-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.hook)
	t.Cleanup(srv.Close)
	for i := 1; i <= n; i++ {
		p.matchers = append(p.matchers, newProc(t, p.dir, fmt.Sprintf("matcher-%d", i), matcherEnv, "matcher"))
	}
	p.procs = append(p.matchers[:n:n],
		newProc(t, p.dir, "loader", append(s.kafkaEnv(), "RECON_DATABASE_URL="+s.dbURL, "RECON_GROUP="+s.prefix+"-loader", "RECON_BATCH_SIZE=500"), "loader"),
		newProc(t, p.dir, "notifier", append(s.kafkaEnv(), "RECON_REDIS_URL="+redisURL, "RECON_REDIS_PREFIX="+s.prefix,
			"RECON_GROUP="+s.prefix+"-notifier", "RECON_WEBHOOK_URL="+srv.URL, "RECON_WEBHOOK_SECRET_FILE="+secretFile, "RECON_LOG_BREAKS=false"), "notifier"))
	kc := kafka.Config{Brokers: s.brokers, TopicPrefix: s.prefix + ".", Partitions: int32(s.partitions), ReplicationFactor: int16(s.replication), Provision: true}
	ing, err := ingestor.New(context.Background(), manualIngestor(kc, s.prefix, p.dir),
		ingestor.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	p.ing = ing
	t.Cleanup(func() {
		for _, pr := range p.procs {
			pr.stop()
		}
		ing.Close()
	})
	return p
}

// start starts the processes given, or all of them.
func (p *pipeline) start(procs ...*proc) {
	if len(procs) == 0 {
		procs = p.procs
	}
	for _, pr := range procs {
		pr.start()
	}
}

// ingest writes chunk c's files and ingests the sides given (both when
// none is).
func (p *pipeline) ingest(t *testing.T, c, pairs, only int, sides ...record.Side) {
	t.Helper()
	if len(sides) == 0 {
		sides = []record.Side{record.Bank, record.Ledger}
	}
	b, l := chunk(p.dir, c, pairs, only)
	for _, side := range sides {
		path := b
		if side == record.Ledger {
			path = l
		}
		if _, err := p.ing.IngestPath(context.Background(), path, filepath.Base(path), side); err != nil {
			t.Fatalf("ingest %s: %v", path, err)
		}
	}
}
