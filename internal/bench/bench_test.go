package bench

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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
	if res.PeakRSSBytes < 1<<20 || !strings.Contains(report, "memory: peak RSS of the bench process") {
		t.Errorf("no peak memory (%d bytes) in the report:\n%s", res.PeakRSSBytes, report)
	}
	// Every figure is measured: none is negative (a difference of two
	// noisy measurements is reported as not measurable instead).
	if neg := regexp.MustCompile(`(^|[\s(=])-\d`).FindString(report); neg != "" {
		t.Errorf("a negative figure (%q) in the report:\n%s", neg, report)
	}
	if !strings.Contains(report, "exact rule): 2000 matches") {
		t.Errorf("the SQL baseline did not match the 2000 pairs:\n%s", report)
	}
	// The run leaves nothing behind.
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if keys, _ := rdb.Keys(context.Background(), "bench-"+res.Run+":*").Result(); len(keys) > 0 {
		t.Errorf("%d Redis keys left, e.g. %s", len(keys), keys[0])
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The broker deletes topics asynchronously: wait (bounded) until the
	// deletion is visible in the metadata.
	var left []string
	deadline := time.Now().Add(time.Minute)
	for {
		topics, err := kadm.NewClient(cl).ListTopics(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, "bench-"+res.Run+".") {
				left = append(left, name)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("topics still listed a minute after the run deleted them: %v", left)
	}
	lines := strings.Split(strings.TrimSpace(report), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "bench: records_per_sec=") || !strings.Contains(last, "sql_ratio=") {
		t.Errorf("last line %q", last)
	}
}

// TestKeyMemory: the fallback measure counts only the run's own keys.
func TestKeyMemory(t *testing.T) {
	opt, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	prefix := "keymem-" + t.Name()
	defer rdb.Del(ctx, prefix+":a", prefix+":b", prefix+"x:c")
	if n := keyMemory(ctx, rdb, prefix); n != 0 {
		t.Fatalf("no keys yet: %d bytes", n)
	}
	rdb.HSet(ctx, prefix+":a", "f", strings.Repeat("v", 1000))
	one := keyMemory(ctx, rdb, prefix)
	rdb.Set(ctx, prefix+":b", strings.Repeat("w", 1000), 0)
	rdb.Set(ctx, prefix+"x:c", strings.Repeat("z", 5000), 0) // another prefix
	two := keyMemory(ctx, rdb, prefix)
	if one < 1000 || two < one+1000 || two > one+3000 {
		t.Fatalf("key memory %d then %d bytes", one, two)
	}
}
