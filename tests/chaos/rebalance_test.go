package chaos

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/services/ingestor"
)

// TestThreeMatchersRebalance: matcher processes share 12 partitions while
// bank files stream in: two start, a third joins, one is killed with
// SIGKILL and started again; each change moves partitions, holding
// pending records (a claim bumps the epoch and loads the partition's
// window from Redis). Then the ledger files match them. At the end the
// warehouse holds exactly the expected matches and breaks, every break
// was notified once, and each matcher owned partitions at some point. The
// claims' load times are reported per 100,000 pending records.
func TestThreeMatchersRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("rebalance test in -short mode")
	}
	s := setup(t, false)
	s.partitions = 12
	dir := t.TempDir()
	const chunks, pairs, only = 10, 2000, 30
	inputs := chunks * 2 * (pairs + only)

	secretFile := filepath.Join(dir, "secret")
	_ = os.WriteFile(secretFile, []byte("rebalance-secret\n"), 0o600)
	h := &hook{secret: []byte("rebalance-secret"), got: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	matcherEnv := append(s.matcherEnv(), "RECON_LOG_LEVEL=info")
	matchers := []*proc{newProc(t, dir, "matcher-1", matcherEnv, "matcher"), newProc(t, dir, "matcher-2", matcherEnv, "matcher"),
		newProc(t, dir, "matcher-3", matcherEnv, "matcher")}
	procs := append(matchers[:3:3],
		newProc(t, dir, "loader", append(s.kafkaEnv(), "RECON_DATABASE_URL="+s.dbURL, "RECON_GROUP="+s.prefix+"-loader", "RECON_BATCH_SIZE=500"), "loader"),
		newProc(t, dir, "notifier", append(s.kafkaEnv(), "RECON_REDIS_URL="+s.redisURL, "RECON_REDIS_PREFIX="+s.prefix,
			"RECON_GROUP="+s.prefix+"-notifier", "RECON_WEBHOOK_URL="+srv.URL, "RECON_WEBHOOK_SECRET_FILE="+secretFile, "RECON_LOG_BREAKS=false"), "notifier"))
	kc := kafka.Config{Brokers: s.brokers, TopicPrefix: s.prefix + ".", Partitions: 12, ReplicationFactor: 1, Provision: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ing, err := ingestor.New(ctx, manualIngestor(kc, s.prefix, dir),
		ingestor.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer ing.Close()
	for _, p := range []*proc{matchers[0], matchers[1], procs[3], procs[4]} {
		p.start()
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	// The bank files first, so that the partitions hold pending records
	// when they move; then the ledger files match them.
	ledgers := make([]string, chunks)
	for c := 0; c < chunks; c++ {
		b, l := chunk(dir, c, pairs, only)
		ledgers[c] = l
		if _, err := ing.IngestPath(ctx, b, filepath.Base(b), record.Bank); err != nil {
			t.Fatalf("ingest %s: %v", b, err)
		}
		switch c {
		case 3:
			matchers[2].start() // a third instance joins
		case 5:
			matchers[0].kill() // one dies
		case 7:
			matchers[0].start() // and comes back
		}
		time.Sleep(time.Second)
	}
	for _, l := range ledgers {
		if _, err := ing.IngestPath(ctx, l, filepath.Base(l), record.Ledger); err != nil {
			t.Fatalf("ingest %s: %v", l, err)
		}
	}
	r, lost, duplicated := s.settle(t, h, procs, chunks*pairs, chunks*2*only)

	claimed := regexp.MustCompile(`msg="partition claimed".* partition=(\d+) .*records=(\d+) load_ms=(\d+)`)
	var claims, records, ms int
	for _, m := range matchers {
		b, _ := os.ReadFile(m.log)
		found := claimed.FindAllStringSubmatch(string(b), -1)
		if len(found) == 0 {
			t.Errorf("%s never claimed a partition", m.name)
		}
		for _, f := range found {
			n, _ := strconv.Atoi(f[2])
			d, _ := strconv.Atoi(f[3])
			claims++
			if n >= 500 { // the time of small claims is dominated by round trips
				records += n
				ms += d
			}
		}
	}
	if claims <= 12 {
		t.Errorf("%d claims: the partitions never moved", claims)
	}
	per100k := 0.0
	if records > 0 {
		per100k = float64(ms) / float64(records) * 100_000
	}
	t.Logf("server: rebalance: inputs=%d matches=%d breaks=%d lost=%d duplicated=%d claims=%d claim_ms_per_100k_pending=%.0f (%d records in claims of ≥ 500)",
		inputs, r.matches, r.openBreaks, lost, duplicated, claims, per100k, records)
}
