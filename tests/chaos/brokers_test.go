package chaos

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/ingestor"
)

// TestBrokerKill: the pipeline runs on three Kafka brokers (replication
// factor 3, min.insync.replicas 2): the ingestor's transactions, two
// matchers, the loader and the notifier. While files stream in, the
// broker leading partition 0 of the bank transactions is killed with
// SIGKILL (its partitions' leaders move), started again later, and then
// another broker is killed. At the end the warehouse holds exactly the
// expected matches and breaks and every break was notified once.
func TestBrokerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("broker kill test in -short mode")
	}
	s := setup(t, false)
	kafkaCluster := testenv.StartKafkaCluster(t)
	s.brokers, s.replication = kafkaCluster.Brokers, 3
	dir := t.TempDir()
	const chunks, pairs, only = 10, 2000, 30
	inputs := chunks * 2 * (pairs + only)

	secretFile := filepath.Join(dir, "secret")
	_ = os.WriteFile(secretFile, []byte("brokers-secret\n"), 0o600)
	h := &hook{secret: []byte("brokers-secret"), got: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	procs := []*proc{
		newProc(t, dir, "matcher-1", s.matcherEnv(), "matcher"),
		newProc(t, dir, "matcher-2", s.matcherEnv(), "matcher"),
		newProc(t, dir, "loader", append(s.kafkaEnv(), "RECON_DATABASE_URL="+s.dbURL, "RECON_GROUP="+s.prefix+"-loader", "RECON_BATCH_SIZE=500"), "loader"),
		newProc(t, dir, "notifier", append(s.kafkaEnv(), "RECON_REDIS_URL="+s.redisURL, "RECON_REDIS_PREFIX="+s.prefix,
			"RECON_GROUP="+s.prefix+"-notifier", "RECON_WEBHOOK_URL="+srv.URL, "RECON_WEBHOOK_SECRET_FILE="+secretFile, "RECON_LOG_BREAKS=false"), "notifier"),
	}
	kc := kafka.Config{Brokers: s.brokers, TopicPrefix: s.prefix + ".", Partitions: 6, ReplicationFactor: 3, Provision: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ing, err := ingestor.New(ctx, manualIngestor(kc, s.prefix, dir),
		ingestor.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer ing.Close()
	for _, p := range procs {
		p.start()
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()

	bankTopic := kc.Topic(kafka.TopicBankTransactions)
	var killed []int
	for c := 0; c < chunks; c++ {
		b, l := chunk(dir, c, pairs, only)
		for _, f := range []struct {
			path string
			side record.Side
		}{{b, record.Bank}, {l, record.Ledger}} {
			if _, err := ing.IngestPath(ctx, f.path, filepath.Base(f.path), f.side); err != nil {
				t.Fatalf("ingest %s: %v", f.path, err)
			}
		}
		switch c {
		case 2, 6:
			id := kafkaCluster.LeaderOf(bankTopic, 0)
			kafkaCluster.Kill(id)
			killed = append(killed, id)
			start := time.Now()
			testenv.WaitUntil(t, 2*time.Minute, func() string {
				if kafkaCluster.LeaderOf(bankTopic, 0) == id {
					return "partition 0 still led by the killed broker"
				}
				return ""
			})
			t.Logf("broker %d (leader of %s/0) killed; broker %d leads it after %s", id, bankTopic, kafkaCluster.LeaderOf(bankTopic, 0),
				time.Since(start).Round(100*time.Millisecond))
		case 4, 8:
			id := killed[len(killed)-1]
			kafkaCluster.Start(id)
			kafkaCluster.WaitBrokers(3, 2*time.Minute)
			t.Logf("broker %d back", id)
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}
	r, lost, duplicated := s.settle(t, h, procs, chunks*pairs, chunks*2*only)
	t.Logf("server: brokers: inputs=%d matches=%d breaks=%d lost=%d duplicated=%d broker kills=%d", inputs, r.matches, r.openBreaks, lost, duplicated, len(killed))
}
