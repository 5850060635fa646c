package matcher

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/testenv"
)

// live is a test's share of the real Kafka and Redis: topics of its own
// (a prefix named after the run), a client, and a Redis client.
type live struct {
	run string
	kc  kafka.Config
	cl  *kgo.Client
	rdb *redis.Client
	ctx context.Context
}

// liveServers provisions the topics of a new run named after name on the
// real servers, with the test's deadline.
func liveServers(t *testing.T, name string, deadline time.Duration, opts ...kgo.Opt) *live {
	t.Helper()
	brokers, redisURL := testenv.Kafka(t), testenv.Redis(t)
	l := &live{run: fmt.Sprintf("%s%d", name, time.Now().UnixNano())}
	l.kc = kafka.Config{Brokers: brokers, Partitions: 2, ReplicationFactor: 1, Provision: true, TopicPrefix: l.run + "."}
	var err error
	if l.cl, err = kafka.NewClient(l.kc, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	l.ctx = ctx
	if err := kafka.Provision(ctx, l.cl, 1, kafka.Topics(l.kc)); err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	l.rdb = redis.NewClient(opt)
	t.Cleanup(func() { l.rdb.Close() })
	return l
}
