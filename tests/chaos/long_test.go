package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/redisconn"
	"github.com/openrecon/recon/internal/testenv"
)

// TestChaosLong is the long mode of the chaos test (RECON_CHAOS_LONG=1;
// not in CI): 1,010,000 records through every role as processes on a
// Redis Cluster (three primaries with replicas) and three Kafka brokers
// (replication 3, min.insync.replicas 2): the ingestor reading an inbox,
// three matchers, the loader and the notifier. Every 0.3-1.2 s a random
// process is killed with SIGKILL and started again; every 25th time a
// Redis primary is killed instead (its replica takes over, it comes back
// as a replica), every 40th time a broker (started again 15 s later).
// It goes on until every file is in and at least 100 processes were
// killed, then waits for the pipeline to settle and counts what was lost
// and duplicated. RECON_CHAOS_CHUNKS (100 chunks of 5,000 pairs and 50
// unmatched records a side) makes it shorter or longer.
func TestChaosLong(t *testing.T) {
	if os.Getenv("RECON_CHAOS_LONG") == "" {
		t.Skip("the long chaos run is RECON_CHAOS_LONG=1 go test -run TestChaosLong -timeout 3h ./tests/chaos")
	}
	chunks := 100
	if v, err := strconv.Atoi(os.Getenv("RECON_CHAOS_CHUNKS")); err == nil && v > 0 {
		chunks = v
	}
	const pairs, only, minKills = 5000, 50, 100
	inputs := chunks * 2 * (pairs + only)
	s := setup(t, false)
	redisCluster := testenv.StartRedisCluster(t)
	kafkaCluster := testenv.StartKafkaCluster(t)
	rdb, err := redisconn.Open(redisCluster.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.rdb, s.brokers, s.replication = rdb, kafkaCluster.Brokers, 3
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	for _, side := range []string{"bank", "ledger"} {
		if err := os.MkdirAll(filepath.Join(inbox, side), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secretFile := filepath.Join(dir, "secret")
	_ = os.WriteFile(secretFile, []byte("chaos-secret\n"), 0o600)
	h := &hook{secret: []byte("chaos-secret"), got: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	redisEnv := []string{"RECON_REDIS_URL=" + redisCluster.URL, "RECON_REDIS_PREFIX=" + s.prefix}
	matcherEnv := append(append(s.kafkaEnv(), redisEnv...), "RECON_REDIS_WAIT_REPLICAS=1", "RECON_GROUP="+s.prefix+"-matcher",
		"RECON_MIN_PENDING=5s", "RECON_IDLE_ADVANCE=15s")
	procs := []*proc{
		newProc(t, dir, "ingestor", append(s.kafkaEnv(), "RECON_INBOX="+inbox, "RECON_CONSUME_EVENTS=false", "RECON_INBOX_POLL=300ms",
			"RECON_TRANSACTIONAL_ID="+s.prefix+"-ingestor", "RECON_TEMP_DIR="+dir), "ingestor"),
		newProc(t, dir, "matcher-1", matcherEnv, "matcher"),
		newProc(t, dir, "matcher-2", matcherEnv, "matcher"),
		newProc(t, dir, "matcher-3", matcherEnv, "matcher"),
		newProc(t, dir, "loader", append(s.kafkaEnv(), "RECON_DATABASE_URL="+s.dbURL, "RECON_GROUP="+s.prefix+"-loader", "RECON_BATCH_SIZE=5000"), "loader"),
		newProc(t, dir, "notifier", append(append(s.kafkaEnv(), redisEnv...), "RECON_GROUP="+s.prefix+"-notifier",
			"RECON_WEBHOOK_URL="+srv.URL, "RECON_WEBHOOK_SECRET_FILE="+secretFile, "RECON_LOG_BREAKS=false"), "notifier"),
	}
	for _, p := range procs {
		p.start()
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()

	var kills, failovers, brokerKills int
	stopChaos := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		rng := rand.New(rand.NewPCG(7, 7))
		down := map[int]time.Time{} // broker id -> when to start it again
		for i := 1; ; i++ {
			select {
			case <-stopChaos:
				for id := range down {
					kafkaCluster.Start(id)
				}
				return
			case <-time.After(time.Duration(300+rng.IntN(900)) * time.Millisecond):
			}
			for id, at := range down {
				if time.Now().After(at) {
					kafkaCluster.Start(id)
					delete(down, id)
				}
			}
			switch {
			case i%25 == 0:
				key := fmt.Sprintf("%s:{p%d}:meta", s.prefix, rng.IntN(6))
				primary := redisCluster.PrimaryOf(key)
				redisCluster.Kill(primary)
				redisCluster.WaitOK(2 * time.Minute)
				redisCluster.Start(primary)
				failovers++
			case i%40 == 0 && len(down) == 0:
				id := 1 + rng.IntN(3)
				kafkaCluster.Kill(id)
				down[id] = time.Now().Add(15 * time.Second)
				brokerKills++
			default:
				p := procs[rng.IntN(len(procs))]
				p.kill()
				kills++
				time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
				p.start()
			}
		}
	}()
	for c := 0; c < chunks; c++ {
		b, l := chunk(dir, c, pairs, only)
		for _, f := range []struct{ path, side string }{{b, "bank"}, {l, "ledger"}} {
			// Whole files only: the inbox sees each under its final name at once.
			if err := os.Rename(f.path, filepath.Join(inbox, f.side, filepath.Base(f.path))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
	}
	for kills < minKills {
		time.Sleep(200 * time.Millisecond)
	}
	close(stopChaos)
	<-chaosDone
	kafkaCluster.WaitBrokers(3, 3*time.Minute)
	redisCluster.WaitOK(2 * time.Minute)

	r, lost, duplicated := s.settleWithin(t, h, procs, chunks*pairs, chunks*2*only, 30*time.Minute)
	line := fmt.Sprintf("chaos: inputs=%d matches=%d breaks=%d lost=%d duplicated=%d kills=%d redis_failovers=%d broker_kills=%d",
		inputs, r.matches, r.openBreaks, lost, duplicated, kills, failovers, brokerKills)
	fmt.Println(line)
	t.Log("server: " + line)
}
