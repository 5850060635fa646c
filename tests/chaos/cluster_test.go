package chaos

import (
	"fmt"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/redisconn"
	"github.com/openrecon/recon/internal/testenv"
)

// TestRedisClusterFailover: two matchers and a notifier keep their state
// on a Redis Cluster (three primaries, one replica each; batches wait for
// their replica). While files stream in, the primary holding partition
// 0's state is killed with SIGKILL; its replica takes over, the matchers
// ride through, and the killed node comes back as a replica. Later the
// primary of partition 3 is killed too. At the end the warehouse holds
// exactly the expected matches and breaks, every break was notified once,
// and the cluster holds no pending record.
func TestRedisClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster failover test in -short mode")
	}
	s := setup(t, false)
	cluster := testenv.StartRedisCluster(t)
	rdb, err := redisconn.Open(cluster.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.rdb = rdb // result() reads the pending counts from the cluster
	const chunks, pairs, only = 10, 2000, 30
	inputs := chunks * 2 * (pairs + only)
	matcherEnv := append(s.kafkaEnv(), "RECON_REDIS_URL="+cluster.URL, "RECON_REDIS_WAIT_REPLICAS=1", "RECON_REDIS_PREFIX="+s.prefix,
		"RECON_GROUP="+s.prefix+"-matcher", "RECON_MIN_PENDING=5s", "RECON_IDLE_ADVANCE=15s")
	pl := s.newPipeline(t, cluster.URL, matcherEnv, 2)
	pl.start()

	failover := func(partition int) {
		key := fmt.Sprintf("%s:{p%d}:meta", s.prefix, partition)
		primary := cluster.PrimaryOf(key)
		start := time.Now()
		cluster.Kill(primary)
		testenv.WaitUntil(t, 90*time.Second, func() string {
			if p := cluster.PrimaryOf(key); p == primary {
				return fmt.Sprintf("partition %d's slot still served by the killed node %d", partition, primary)
			}
			return ""
		})
		cluster.WaitOK(90 * time.Second)
		t.Logf("failover: primary %d of partition %d killed; its replica %d took over in %s", primary, partition,
			cluster.PrimaryOf(key), time.Since(start).Round(100*time.Millisecond))
		cluster.Start(primary) // back from its AOF, as a replica of the new primary
		cluster.WaitOK(90 * time.Second)
		if role := cluster.Role(primary); role != "slave" {
			t.Errorf("node %d came back as %s, want a replica", primary, role)
		}
	}
	for c := 0; c < chunks; c++ {
		pl.ingest(t, c, pairs, only)
		switch c {
		case 3:
			failover(0)
		case 6:
			failover(3)
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}

	r, lost, duplicated := s.settle(t, pl.hook, pl.procs, chunks*pairs, chunks*2*only)
	t.Logf("server: cluster: inputs=%d matches=%d breaks=%d lost=%d duplicated=%d failovers=2", inputs, r.matches, r.openBreaks, lost, duplicated)
}

// settle waits (with a bound) until the warehouse holds the expected
// matches and open breaks, every break was notified and nothing is
// pending, then counts what was lost and duplicated, failing the test on
// either.
func (s *servers) settle(t *testing.T, h *hook, procs []*proc, wantMatches, wantBreaks int) (r result, lost, duplicated int) {
	t.Helper()
	return s.settleWithin(t, h, procs, wantMatches, wantBreaks, 5*time.Minute)
}

// settleWithin is settle with its bound.
func (s *servers) settleWithin(t *testing.T, h *hook, procs []*proc, wantMatches, wantBreaks int, bound time.Duration) (r result, lost, duplicated int) {
	t.Helper()
	testenv.WaitUntil(t, bound, func() string {
		r = s.result(t)
		got := h.counts()
		if r.matches == wantMatches && r.openBreaks == wantBreaks && len(got) == r.breaks && r.pending == 0 {
			return ""
		}
		return fmt.Sprintf("not settled: %+v, %d notified (want %d matches, %d breaks)", r, len(got), wantMatches, wantBreaks)
	})
	time.Sleep(3 * time.Second) // anything extra would show now
	r = s.result(t)
	got := h.counts()
	lost = (wantMatches - r.correct) + (wantBreaks - r.openBreaks)
	duplicated = r.dupMatches + (r.matches - r.correct) + max(0, r.openBreaks-wantBreaks)
	for _, n := range got {
		if n > 1 {
			duplicated += n - 1
		}
	}
	if len(got) < r.breaks {
		lost += r.breaks - len(got)
	}
	if lost != 0 || duplicated != 0 || h.bad > 0 {
		for _, p := range procs {
			t.Logf("%s log tail:\n%s", p.name, p.tail())
		}
		t.Errorf("lost %d, duplicated %d, %d badly signed: %+v", lost, duplicated, h.bad, r)
	}
	return r, lost, duplicated
}
