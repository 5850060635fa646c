package matcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
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
	// codec writes the transactions the tests produce.
	codec *avro.Codec[record.Transaction]
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
	if l.codec, err = avro.NewTransactionCodec(ctx, avro.Embedded{}, "t"); err != nil {
		t.Fatal(err)
	}
	return l
}

// txRecord is x on its transaction topic of the run, keyed as a producer
// keys it.
func (l *live) txRecord(t *testing.T, x *record.Transaction) *kgo.Record {
	t.Helper()
	v, err := l.codec.Encode(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	topic := kafka.TopicBankTransactions
	if x.Side == record.Ledger {
		topic = kafka.TopicLedgerTransactions
	}
	return &kgo.Record{Topic: l.kc.Topic(topic), Key: []byte(x.Key()), Value: v}
}

// config is the matcher's defaults on the run's topics, group and keys.
func (l *live) config() Config {
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.RedisPrefix = l.kc, l.run, l.run
	return cfg
}

// start runs a matcher of cfg until the test ends (then it must have
// stopped without an error).
func (l *live) start(t *testing.T, cfg Config) *Service {
	t.Helper()
	m, err := New(l.ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(), Redis: l.rdb})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return m
}

// begin returns a transactional producer with a transaction open: a
// file being written.
func (l *live) begin(t *testing.T) *kgo.Client {
	t.Helper()
	p, err := kafka.NewClient(l.kc, kgo.TransactionalID(l.run+"-ingestor"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	return p
}

// decided waits until m has decided n records.
func (l *live) decided(t *testing.T, m *Service, n int64) {
	t.Helper()
	for m.Processed() < n {
		if l.ctx.Err() != nil {
			t.Fatalf("only %d of %d records decided", m.Processed(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
