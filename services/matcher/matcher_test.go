package matcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

type env struct {
	t    *testing.T
	kc   kafka.Config
	cl   *kgo.Client
	tx   *avro.Codec[record.Transaction]
	mc   *avro.Codec[record.Match]
	bc   *avro.Codec[record.Break]
	seen int
}

func newEnv(t *testing.T) *env {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, ReplicationFactor: 1, Provision: true}
	cl, err := kafka.NewClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.Provision(context.Background(), cl, 1, kafka.Topics(kc)); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, kc: kc, cl: cl}
	e.tx, _ = avro.NewTransactionCodec(context.Background(), avro.Embedded{}, "t")
	e.mc, _ = avro.NewMatchCodec(context.Background(), avro.Embedded{}, "m")
	e.bc, _ = avro.NewBreakCodec(context.Background(), avro.Embedded{}, "b")
	return e
}

func (e *env) produce(t *record.Transaction) {
	v, err := e.tx.Encode(nil, t)
	if err != nil {
		e.t.Fatal(err)
	}
	topic := kafka.TopicBankTransactions
	if t.Side == record.Ledger {
		topic = kafka.TopicLedgerTransactions
	}
	if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(t.Key()), Value: v}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// outputs reads every match and break so far.
func (e *env) outputs() ([]*record.Match, []*record.Break) {
	cl, err := kafka.NewClient(e.kc, kgo.ConsumeTopics(kafka.TopicMatches, kafka.TopicBreaks), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var ms []*record.Match
	var bs []*record.Break
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		f := cl.PollFetches(ctx)
		cancel()
		if f.Empty() {
			return ms, bs
		}
		f.EachRecord(func(r *kgo.Record) {
			if r.Topic == kafka.TopicMatches {
				m, _ := e.mc.Decode(context.Background(), r.Value)
				ms = append(ms, m)
			} else {
				b, _ := e.bc.Decode(context.Background(), r.Value)
				bs = append(bs, b)
			}
		})
	}
}

func tx(id string, side record.Side, ref, bankRef string, cents int64, day int, provisional bool) *record.Transaction {
	return &record.Transaction{ID: id, Side: side, Account: "DE89", Currency: "EUR", Amount: money.New(cents, 2),
		BookingDate: record.MakeDate(2026, 3, day), Reference: ref, BankReference: bankRef, Provisional: provisional,
		SourceFile: "f", SourcePosition: 1}
}

// TestIntradaySupersede: a provisional (intraday) bank entry matches its
// ledger posting; the booked end-of-day entry arriving later is recorded as
// confirming it, without matching the posting a second time and without a
// break.
func TestIntradaySupersede(t *testing.T) {
	e := newEnv(t)
	mr := miniredis.RunT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.MinPending, cfg.IdleAdvance = e.kc, "m", time.Millisecond, 200*time.Millisecond
	m, err := New(ctx, cfg,
		Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(), Redis: redis.NewClient(&redis.Options{Addr: mr.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	wait := func(cond func([]*record.Match, []*record.Break) bool) ([]*record.Match, []*record.Break) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ms, bs := e.outputs()
			if cond(ms, bs) {
				return ms, bs
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %d matches, %d breaks", len(ms), len(bs))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	e.produce(tx("p1", record.Bank, "INV-1", "ASR-9", 10000, 2, true))
	e.produce(tx("l1", record.Ledger, "INV-1", "", 10000, 2, false))
	wait(func(ms []*record.Match, _ []*record.Break) bool { return len(ms) == 1 })
	e.produce(tx("b1", record.Bank, "INV-1", "ASR-9", 10000, 3, false))
	ms, bs := wait(func(ms []*record.Match, _ []*record.Break) bool { return len(ms) == 2 })
	time.Sleep(1500 * time.Millisecond) // idle advancement closes every window
	ms, bs = e.outputs()
	if len(ms) != 2 || len(bs) != 0 {
		t.Fatalf("%d matches, %d breaks: %+v %+v", len(ms), len(bs), ms, bs)
	}
	byRule := map[string]*record.Match{}
	for _, m := range ms {
		byRule[m.Rule] = m
	}
	if m := byRule["exact"]; m == nil || len(m.Ledger) != 1 || m.Bank[0].ID != "p1" {
		t.Errorf("the provisional entry's match: %+v", m)
	}
	if m := byRule["supersedes-provisional"]; m == nil || len(m.Ledger) != 0 || m.Bank[0].ID != "b1" {
		t.Errorf("the booked entry's record: %+v", m)
	}
	cancel()
	<-done
}

// lostReply runs the first batch write that puts outputs in an outbox
// twice, as a write whose reply a Redis failover lost is retried after the
// primary ran (and replicated) it: the caller sees the second answer.
type lostReply struct{ done bool }

func (h *lostReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *lostReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *lostReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		name := strings.ToLower(cmd.Name())
		if h.done || err != nil || name != "evalsha" && name != "eval" || len(cmd.Args()) < 7 ||
			!strings.HasSuffix(fmt.Sprint(cmd.Args()[5]), ":outbox") {
			return err
		}
		if ids, _ := cmd.(*redis.Cmd).StringSlice(); len(ids) == 0 {
			return nil
		}
		// The reply is lost; the write is sent again (redisconn.OnPrimary
		// retries a lost connection) and finds the batch applied.
		h.done = true
		return next(ctx, cmd)
	}
}

// TestOutputsOfABatchWhoseReplyWasLost: a batch's write went through but
// its reply was lost; the retry finds it applied and reloads the
// partition, and the outputs the first attempt put in the outbox are
// published then, not only at the next claim of the partition.
func TestOutputsOfABatchWhoseReplyWasLost(t *testing.T) {
	e := newEnv(t)
	mr := miniredis.RunT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.MinPending, cfg.IdleAdvance = e.kc, "m", time.Millisecond, time.Hour
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	hook := &lostReply{}
	rdb.AddHook(hook)
	m, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	// One account: both records land on the same partition.
	e.produce(tx("b1", record.Bank, "INV-7", "", 10000, 2, false))
	e.produce(tx("l1", record.Ledger, "INV-7", "", 10000, 2, false))
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, _ := e.outputs()
		if len(ms) == 1 && hook.done {
			break
		}
		if len(ms) > 1 {
			t.Fatalf("%d matches, want one", len(ms))
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d matches (reply lost: %v); the outbox was not published", len(ms), hook.done)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("matcher: %v", err)
	}
}
