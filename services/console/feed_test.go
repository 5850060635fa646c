package console

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/kafkatest"
)

// produce writes n breaks, each twice (an outbox replay), a match
// clearing every third of them, and one undecodable break.
func produce(t *testing.T, kc kafka.Config, n int) (breaks []*record.Break) {
	ctx := context.Background()
	cl := kafkatest.Client(t, kc)
	mc, _ := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	bc, _ := avro.NewBreakCodec(ctx, avro.Embedded{}, "b")
	var recs []*kgo.Record
	for i := range n {
		it := record.Item{ID: fmt.Sprint("b", i), Side: record.Bank, Currency: "EUR", Amount: money.New(int64(100+i), 2),
			BookingDate: record.MakeDate(2026, 3, 2), Reference: fmt.Sprint("INV-", i), SourceFile: "bank.csv", SourcePosition: int64(i + 1)}
		br := &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: record.Bank, Reason: record.Unmatched, Account: "A",
			Currency: "EUR", Record: it, Candidates: []record.Candidate{}, WindowClosedAt: it.BookingDate + 32}
		breaks = append(breaks, br)
		v, _ := bc.Encode(nil, br)
		for range 2 {
			recs = append(recs, &kgo.Record{Topic: kc.Topic(kafka.TopicBreaks), Key: []byte(br.BreakID), Value: v})
		}
		if i%3 == 0 {
			l := record.Item{ID: fmt.Sprint("l", i), Side: record.Ledger, Currency: "EUR", Amount: it.Amount, BookingDate: it.BookingDate}
			m := &record.Match{MatchID: record.MatchID(it.ID, l.ID), Rule: "exact", Status: record.Auto, Confidence: 10000, Account: "A",
				Currency: "EUR", Bank: []record.Item{it}, Ledger: []record.Item{l}, Difference: money.New(0, 2),
				ClearsBreakIDs: []string{br.BreakID}, DecidedAt: it.BookingDate.Time()}
			mv, _ := mc.Encode(nil, m)
			recs = append(recs, &kgo.Record{Topic: kc.Topic(kafka.TopicMatches), Key: []byte(m.MatchID), Value: mv})
		}
	}
	recs = append(recs, &kgo.Record{Topic: kc.Topic(kafka.TopicBreaks), Key: []byte("bad"), Value: []byte{0, 0, 0, 0, 4, 0xff}})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return breaks
}

// feedUntil runs a feed on store until it applied want records (bounded),
// then a little longer, and returns how many it applied.
func feedUntil(t *testing.T, kc kafka.Config, store *casestore.Store, want int64) int64 {
	t.Helper()
	cfg := FeedDefaults()
	cfg.Kafka, cfg.Group, cfg.BatchInterval = kc, "console-test", 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := NewFeed(ctx, cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for f.Applied() < want {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d of %d records in 20 s (last write: %v)", f.Applied(), want, f.LastErr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // nothing more may come
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return f.Applied()
}

// The feed fills the case store once per break and match however often
// they are produced, clears matched breaks, dead-letters what it cannot
// decode, and a restarted feed resumes after the stored offsets.
func TestFeed(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2}
	breaks := produce(t, kc, 30)
	store, err := casestore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := int64(2*len(breaks) + 10 + 1) // every break twice, 10 matches, one bad record
	if got := feedUntil(t, kc, store, want); got != want {
		t.Errorf("applied %d records, want %d", got, want)
	}
	ctx := context.Background()
	count := func(status string) int64 {
		n, err := store.CountBreaks(ctx, casestore.Filter{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if all, open, matched := count("all"), count(casestore.StatusOpen), count(casestore.StatusMatched); all != 30 || open != 20 || matched != 10 {
		t.Errorf("case store: %d breaks, %d open, %d matched; want 30, 20, 10", all, open, matched)
	}
	// A restart reads nothing again.
	if got := feedUntil(t, kc, store, 0); got != 0 {
		t.Errorf("a restarted feed applied %d records again", got)
	}
	// The bad record is in the DLQ, named by the console stage.
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicDLQ)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fs := cl.PollRecords(pctx, 10)
	var dead []*kgo.Record
	fs.EachRecord(func(r *kgo.Record) { dead = append(dead, r) })
	if len(dead) != 1 || string(dead[0].Key) != "bad" {
		t.Fatalf("DLQ holds %d records", len(dead))
	}
	info := kafka.ParseDLQ(dead[0].Headers)
	if info.Stage != "console" || info.Reason == "" {
		t.Errorf("dead letter %+v", info)
	}
}
