package matcher

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// TestMisplacedAndLag: a record a producer put on another partition than
// murmur2 gives its key, and one with a lower-case currency, go to the DLQ
// with reasons that name the fix and the producer's headers kept, counted
// in recon_misplaced_records_total; a pair produced in a transaction
// matches and, consumed, leaves no lag (the commit markers are stepped over).
func TestMisplacedAndLag(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	manual, err := kafka.NewClient(e.kc, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	put := func(tr *record.Transaction, partition int32, headers ...kgo.RecordHeader) {
		v, err := e.tx.Encode(nil, tr)
		if err != nil {
			t.Fatal(err)
		}
		topic := kafka.TopicBankTransactions
		if tr.Side == record.Ledger {
			topic = kafka.TopicLedgerTransactions
		}
		if err := manual.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: partition, Key: []byte(tr.Key()), Value: v, Headers: headers}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	right := kafka.PartitionOf([]byte("DE89|EUR"), 2)
	put(tx("mis-b", record.Bank, "INV-1", "", 100, 2, false), 1-right, kgo.RecordHeader{Key: "trace-id", Value: []byte("abc-123")})
	low := tx("low-b", record.Bank, "INV-2", "", 200, 2, false)
	low.Currency = "eur"
	put(low, kafka.PartitionOf([]byte(low.Key()), 2))

	// A pair in one transaction, on the right partitions.
	txp, err := kafka.NewClient(e.kc, kgo.TransactionalID("upstream-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer txp.Close()
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*record.Transaction{tx("ok-b", record.Bank, "INV-3", "", 300, 2, false), tx("ok-l", record.Ledger, "INV-3", "", 300, 2, false)} {
		v, _ := e.tx.Encode(nil, tr)
		topic := kafka.TopicBankTransactions
		if tr.Side == record.Ledger {
			topic = kafka.TopicLedgerTransactions
		}
		if err := txp.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(tr.Key()), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.MinPending, cfg.IdleAdvance = e.kc, "m", time.Millisecond, 200*time.Millisecond
	m, err := New(mctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()
	defer func() { cancel(); <-done }()

	var dlq []*kgo.Record
	deadline := time.Now().Add(30 * time.Second)
	for len(dlq) < 2 && time.Now().Before(deadline) {
		dlq = readAll(t, e.kc, kafka.TopicDLQ)
		time.Sleep(100 * time.Millisecond)
	}
	if len(dlq) != 2 {
		t.Fatalf("%d dead letters, want the misplaced and the lower-case record", len(dlq))
	}
	reasons := map[string]kafka.DLQInfo{}
	for _, r := range dlq {
		reasons[string(r.Key)] = kafka.ParseDLQ(r.Headers)
	}
	mis := reasons["DE89|EUR"]
	if !strings.Contains(mis.Reason, "misplaced") || !strings.Contains(mis.Reason, "murmur2_random") || mis.SourcePartition != 1-right {
		t.Errorf("misplaced record's reason: %+v", mis)
	}
	var trace string
	for _, r := range dlq {
		for _, h := range r.Headers {
			if h.Key == "trace-id" {
				trace = string(h.Value)
			}
		}
	}
	if trace != "abc-123" {
		t.Errorf("the producer's header is not kept on the dead letter (trace-id %q)", trace)
	}
	if r := reasons["DE89|eur"]; !strings.Contains(r.Reason, "upper case") {
		t.Errorf("lower-case currency's reason: %+v", r)
	}
	if n := testutil.ToFloat64(m.m.misplaced.WithLabelValues(kafka.TopicBankTransactions)); n != 1 {
		t.Errorf("recon_misplaced_records_total = %v, want 1", n)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		ms, _ := e.outputs()
		if len(ms) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transactional pair was not matched: %d matches", len(ms))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Once consumed and committed, nothing is left to read.
	deadline = time.Now().Add(30 * time.Second)
	for {
		m.updateLag(ctx)
		lag := testutil.ToFloat64(m.m.lag.WithLabelValues(kafka.TopicBankTransactions)) + testutil.ToFloat64(m.m.lag.WithLabelValues(kafka.TopicLedgerTransactions))
		if lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer lag of the transaction topics stays %v after they were consumed", lag)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// readAll reads a topic from the start.
func readAll(t *testing.T, kc kafka.Config, topic string) []*kgo.Record {
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		f := cl.PollFetches(ctx)
		cancel()
		if f.Empty() {
			return out
		}
		f.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
}
