package matcher

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// TestOpenTransactionHoldsIdle, on real Kafka and Redis: a bank record
// waits while its ledger counterpart is being produced in a transaction
// that takes longer than idle-advance (a large file). The open
// transaction holds the partition's idle advancement, so the record does
// not break; once the transaction commits the pair matches. A record with
// no counterpart and no transaction in flight still breaks on time.
func TestOpenTransactionHoldsIdle(t *testing.T) {
	l := liveServers(t, "hold", 2*time.Minute)
	kc, cl, ctx, run := l.kc, l.cl, l.ctx, l.run
	codec, _ := avro.NewTransactionCodec(ctx, avro.Embedded{}, "t")
	rec := func(x *record.Transaction) *kgo.Record {
		v, err := codec.Encode(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		topic := kafka.TopicBankTransactions
		if x.Side == record.Ledger {
			topic = kafka.TopicLedgerTransactions
		}
		return &kgo.Record{Topic: kc.Topic(topic), Key: []byte(x.Key()), Value: v}
	}
	if err := cl.ProduceSync(ctx, rec(tx("b1", record.Bank, "INV-1", "", 10000, 2, false))).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.RedisPrefix, cfg.MinPending, cfg.IdleAdvance = kc, run, run, time.Millisecond, 300*time.Millisecond
	m, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(), Redis: l.rdb})
	if err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for m.Processed() < 1 {
		if ctx.Err() != nil {
			t.Fatal("the bank record was never decided")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The ledger file: one transaction, written but not yet committed.
	txp, err := kafka.NewClient(kc, kgo.TransactionalID(run+"-ingestor"))
	if err != nil {
		t.Fatal(err)
	}
	defer txp.Close()
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txp.ProduceSync(ctx, rec(tx("l1", record.Ledger, "INV-1", "", 10000, 2, false))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Several idle-advance periods pass with the transaction open.
	for held := 0.0; held < 3; held = testutil.ToFloat64(m.m.idleHeld) {
		if ms, bs := outputsOf(t, kc); len(ms) != 0 || len(bs) != 0 {
			t.Fatalf("while the ledger's transaction is open: %d matches, %d breaks %+v", len(ms), len(bs), bs)
		}
		if ctx.Err() != nil {
			t.Fatal("idle advancement was never held for the open transaction")
		}
	}
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// Then a bank record with no counterpart, and no transaction open:
	// it breaks after idle-advance.
	if err := cl.ProduceSync(ctx, rec(tx("b2", record.Bank, "INV-2", "", 777, 2, false))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		ms, bs := outputsOf(t, kc)
		if len(ms) == 1 && len(bs) == 1 {
			if ms[0].Bank[0].ID != "b1" || ms[0].Ledger[0].ID != "l1" || bs[0].Record.ID != "b2" {
				t.Fatalf("match %+v, break %+v", ms[0], bs[0])
			}
			return
		}
		if len(ms) > 1 || len(bs) > 1 || ctx.Err() != nil {
			t.Fatalf("%d matches, %d breaks: %+v %+v", len(ms), len(bs), ms, bs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outputsOf reads every committed match and break so far on kc's
// (prefixed) topics.
func outputsOf(t *testing.T, kc kafka.Config) ([]*record.Match, []*record.Break) {
	t.Helper()
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicBreaks)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	mc, _ := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	bc, _ := avro.NewBreakCodec(ctx, avro.Embedded{}, "b")
	var ms []*record.Match
	var bs []*record.Break
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		f := cl.PollFetches(pctx)
		cancel()
		if f.Empty() {
			return ms, bs
		}
		f.EachRecord(func(r *kgo.Record) {
			if r.Topic == kc.Topic(kafka.TopicMatches) {
				x, err := mc.Decode(ctx, r.Value)
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, x)
				return
			}
			x, err := bc.Decode(ctx, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, x)
		})
	}
}
