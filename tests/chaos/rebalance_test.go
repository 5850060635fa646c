package chaos

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/record"
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
	const chunks, pairs, only = 10, 2000, 30
	inputs := chunks * 2 * (pairs + only)
	pl := s.newPipeline(t, s.redisURL, append(s.matcherEnv(), "RECON_LOG_LEVEL=info"), 3)
	matchers := pl.matchers
	pl.start(matchers[0], matchers[1], pl.procs[3], pl.procs[4])

	// The bank files first, so that the partitions hold pending records
	// when they move; then the ledger files match them.
	for c := 0; c < chunks; c++ {
		pl.ingest(t, c, pairs, only, record.Bank)
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
	for c := 0; c < chunks; c++ {
		pl.ingest(t, c, pairs, only, record.Ledger)
	}
	r, lost, duplicated := s.settle(t, pl.hook, pl.procs, chunks*pairs, chunks*2*only)

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
