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
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// TestResolutions: a person's resolution on recon.resolutions is applied in
// the window once: the manual match comes out on recon.matches and its
// outcome on recon.resolution-outcomes; the same resolution read again
// after a restart of the matcher changes nothing; one naming a matched
// record is refused with the reason; one on the wrong key goes to the DLQ.
func TestResolutions(t *testing.T) {
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	rc, _ := avro.NewResolutionCodec(context.Background(), avro.Embedded{}, "r")
	oc, _ := avro.NewOutcomeCodec(context.Background(), avro.Embedded{}, "o")
	start := func() (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		cfg := Defaults()
		cfg.Kafka, cfg.Group, cfg.MinPending, cfg.IdleAdvance = e.kc, "m", time.Millisecond, 200*time.Millisecond
		cfg.Kafka.SessionTimeout = 6 * time.Second
		m, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(), Redis: rdb})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		return cancel, done
	}
	produceRes := func(r *record.Resolution, key string) {
		v, err := rc.Encode(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: kafka.TopicResolutions, Key: []byte(key), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	read := func(topic string) [][]byte {
		cl, err := kafka.NewClient(e.kc, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var out [][]byte
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			f := cl.PollFetches(ctx)
			cancel()
			if f.Empty() {
				return out
			}
			f.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
		}
	}
	outcomes := func() []*record.Outcome {
		var out []*record.Outcome
		for _, v := range read(kafka.TopicOutcomes) {
			o, err := oc.Decode(context.Background(), v)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, o)
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	cancel, done := start()
	e.produce(tx("b1", record.Bank, "X-100", "", 30000, 2, false))
	e.produce(tx("l1", record.Ledger, "Y-1", "", 10000, 2, false))
	e.produce(tx("l2", record.Ledger, "Z-2", "", 20000, 2, false))
	var breaks []*record.Break
	waitFor("three breaks", func() bool { _, breaks = e.outputs(); return len(breaks) == 3 })
	var ids []string
	for _, b := range breaks {
		ids = append(ids, b.BreakID)
	}
	manual := &record.Resolution{ResolutionID: "rs-1", Action: record.ActManualMatch, Account: "DE89", Currency: "EUR",
		BreakIDs: ids, User: "preparer", DecidedAt: time.UnixMilli(1_790_000_000_000).UTC()}
	produceRes(manual, "DE89|EUR")
	waitFor("the outcome", func() bool { return len(outcomes()) == 1 })
	cancel()
	<-done

	// The same resolution again (a console that resent it) and one on the
	// wrong key, read by a new matcher instance.
	produceRes(manual, "DE89|EUR")
	wrong := *manual
	wrong.ResolutionID = "rs-2"
	produceRes(&wrong, "DE89|USD")
	cancel, done = start()
	defer func() { cancel(); <-done }()
	waitFor("the second outcome", func() bool { return len(outcomes()) == 2 })
	waitFor("the dead letter", func() bool { return len(read(kafka.TopicDLQ)) == 1 })

	os := outcomes()
	if o := os[0]; !o.Applied || o.Action != record.ActManualMatch || len(o.Breaks) != 3 || o.MatchStatus != "confirmed" {
		t.Errorf("first outcome: %+v", o)
	}
	if o := os[1]; o.Applied || !strings.Contains(o.Detail, "is already matched") {
		t.Errorf("the resolution sent again: %+v", o)
	}
	ms, _ := e.outputs()
	if len(ms) != 1 || ms[0].Rule != "manual" || ms[0].Status != record.Confirmed || len(ms[0].ClearsBreakIDs) != 3 ||
		len(ms[0].Bank) != 1 || len(ms[0].Ledger) != 2 || !ms[0].Difference.IsZero() {
		t.Fatalf("matches: %+v", ms)
	}
}
