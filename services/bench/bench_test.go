package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/testenv"
)

// TestBenchSmall runs every phase on real servers at a small size: the
// report is complete and the SQL baseline finds every generated pair.
func TestBenchSmall(t *testing.T) {
	brokers, redisURL, pg := testenv.Kafka(t), testenv.Redis(t), testenv.Postgres(t)
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{Brokers: brokers, RedisURL: redisURL, DatabaseURL: pg,
		Pairs: 2000, Pending: 2000, Partitions: 4, LatencySecs: 2, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	t.Log(report)
	if res.RecordsPerSec <= 0 || res.P99ms <= 0 || res.BytesPerPending <= 0 || res.LoaderRowsPerSec <= 0 || res.SQLRatio <= 0 {
		t.Errorf("incomplete result %+v", res)
	}
	if !strings.Contains(report, "exact rule): 2000 matches") {
		t.Errorf("the SQL baseline did not match the 2000 pairs:\n%s", report)
	}
	lines := strings.Split(strings.TrimSpace(report), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "bench: records_per_sec=") || !strings.Contains(last, "sql_ratio=") {
		t.Errorf("last line %q", last)
	}
}
