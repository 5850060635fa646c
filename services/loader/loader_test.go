package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/kafkatest"
	"github.com/openrecon/recon/internal/warehouse"
)

// produce writes n matches and n breaks (from start), each twice, as an
// outbox replay after a crash would.
func produce(t *testing.T, kc kafka.Config, start, n int) {
	ctx := context.Background()
	cl := kafkatest.Client(t, kc)
	mc, _ := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	bc, _ := avro.NewBreakCodec(ctx, avro.Embedded{}, "b")
	for i := start; i < start+n; i++ {
		it := func(id string, side record.Side) record.Item {
			return record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(int64(i), 2), BookingDate: 20000, SourcePosition: int64(i)}
		}
		m := &record.Match{MatchID: record.MatchID(fmt.Sprint("b", i), fmt.Sprint("l", i)), Rule: "exact", Confidence: 10000,
			Status: record.Auto, Account: "A", Currency: "EUR", Bank: []record.Item{it(fmt.Sprint("b", i), record.Bank)},
			Ledger: []record.Item{it(fmt.Sprint("l", i), record.Ledger)}, Difference: money.New(0, 2), DecidedAt: time.Unix(0, 0)}
		bi := it(fmt.Sprint("x", i), record.Bank)
		br := &record.Break{BreakID: record.BreakID(bi, record.Unmatched), Side: record.Bank, Reason: record.Unmatched,
			Account: "A", Currency: "EUR", Record: bi, Candidates: []record.Candidate{}, WindowClosedAt: 20004}
		mv, _ := mc.Encode(nil, m)
		bv, _ := bc.Encode(nil, br)
		for j := 0; j < 2; j++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kc.Topic(kafka.TopicMatches), Key: []byte(m.MatchID), Value: mv},
				&kgo.Record{Topic: kc.Topic(kafka.TopicBreaks), Key: []byte(br.BreakID), Value: bv}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func load(t *testing.T, cfg Config, want int64) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for s.Loaded() < want {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("loaded %d of %d records", s.Loaded(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if got := s.Loaded(); got != want {
		t.Errorf("loaded %d records, want exactly %d (a restart must resume after the stored offsets)", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestResumeFromWarehouseOffsets: the loader writes each match and break
// once, however often they are produced, and a restarted loader reads on
// from the offsets it stored in the warehouse (it commits none to Kafka).
func TestResumeFromWarehouseOffsets(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 3}
	db := "sqlite:" + filepath.Join(t.TempDir(), "w.db")
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.DatabaseURL, cfg.BatchSize, cfg.BatchInterval = kc, "loader", db, 7, 50*time.Millisecond
	produce(t, kc, 0, 40)
	reg := load(t, cfg, 160)
	produce(t, kc, 40, 10)
	load(t, cfg, 40) // only the new records
	st, err := warehouse.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, _ := st.Counts(context.Background())
	if counts["recon_matches"] != 50 || counts["recon_breaks"] != 50 || counts["recon_match_items"] != 100 {
		t.Errorf("counts %v", counts)
	}
	testenv.LintMetrics(t, reg)
}

// TestSplitWritersResume: on PostgreSQL a batch is written by two
// transactions, each over its share of the partitions with their
// offsets; every match and break is stored once, every partition's offset
// is stored, and a restarted loader reads on from them.
func TestSplitWritersResume(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 3}
	db, _ := testenv.PostgresSchema(t, "loader_split")
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.DatabaseURL, cfg.BatchSize, cfg.BatchInterval = kc, "loader", db, 400, 50*time.Millisecond
	pg, err := warehouse.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if w := writers(cfg, pg); w != 2 {
		t.Fatalf("%d writers on PostgreSQL, want the default 2", w)
	}
	produce(t, kc, 0, 300)
	load(t, cfg, 1200)
	produce(t, kc, 300, 30)
	load(t, cfg, 120) // only the new records
	counts, _ := pg.Counts(context.Background())
	if counts["recon_matches"] != 330 || counts["recon_breaks"] != 330 || counts["recon_match_items"] != 660 {
		t.Errorf("counts %v", counts)
	}
	offs, err := pg.Offsets(context.Background(), "loader")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicBreaks)} {
		if len(offs[topic]) != 3 {
			t.Errorf("offsets of %s: %v, want all 3 partitions", topic, offs[topic])
		}
	}
	lite, err := warehouse.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if w := writers(cfg, lite); w != 1 {
		t.Errorf("%d writers on SQLite, want 1", w)
	}
}

// flakyStore fails its first writes and is slow: the loader must retry,
// pause consumption meanwhile, and lose nothing.
type flakyStore struct {
	warehouse.Store
	mu       sync.Mutex
	failures int
	calls    int
}

func (f *flakyStore) Write(ctx context.Context, consumer string, b *warehouse.Batch) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.failures
	f.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if fail {
		return errors.New("warehouse unavailable")
	}
	return f.Store.Write(ctx, consumer, b)
}

// TestSlowWarehouseAndPoison: a warehouse that fails and is slow delays the
// loader but loses nothing; an undecodable record goes to the DLQ and does
// not stall its partition.
func TestSlowWarehouseAndPoison(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 1}
	produce(t, kc, 0, 20)
	cl, _ := kafka.NewClient(kc)
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: kafka.TopicMatches, Value: []byte("not avro")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, kc, 20, 5)
	db := "sqlite:" + filepath.Join(t.TempDir(), "w.db")
	inner, err := warehouse.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: inner, failures: 3}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.DatabaseURL, cfg.BatchSize, cfg.BatchInterval = kc, "slow", db, 10, 20*time.Millisecond
	s, err := New(ctx, cfg,
		Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for s.Loaded() < 101 { // 100 good records and the poison one
		if time.Now().After(deadline) {
			t.Fatalf("loaded %d", s.Loaded())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	check, _ := warehouse.Open(context.Background(), db)
	defer check.Close()
	counts, _ := check.Counts(context.Background())
	if counts["recon_matches"] != 25 || counts["recon_breaks"] != 25 {
		t.Errorf("counts %v", counts)
	}
	if n := testutil.ToFloat64(s.m.errors); n != 3 {
		t.Errorf("%v failed writes counted, want 3", n)
	}
	dl, _ := kafka.NewClient(kc, kgo.ConsumeTopics(kafka.TopicDLQ), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer dl.Close()
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	f := dl.PollFetches(fctx)
	var found bool
	f.EachRecord(func(r *kgo.Record) {
		if string(r.Value) == "not avro" {
			found = true
		}
	})
	if !found {
		t.Error("the poison record is not in the DLQ")
	}
}

// TestSignOffsLoaded: the console's sign-off states reach recon_signoffs,
// each once however often produced.
func TestSignOffsLoaded(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2}
	db := "sqlite:" + filepath.Join(t.TempDir(), "w.db")
	ctx := context.Background()
	cl := kafkatest.Client(t, kc)
	sc, _ := avro.NewSignOffCodec(ctx, avro.Embedded{}, "s")
	at := time.UnixMilli(1_790_000_000_000).UTC()
	for v := 1; v <= 2; v++ {
		so := &record.SignOff{SignoffID: "a-1", Version: v, Status: record.SignedOff, Account: "A", Currency: "EUR", From: 20000, To: 20000,
			StatementBalance: money.New(100, 2), LedgerBalance: money.New(100, 2), RequestedBy: "preparer", RequestedAt: at,
			ApprovedBy: "approver", ApprovedAt: at}
		if v == 2 {
			so.Status, so.ReopenedBy, so.ReopenedAt, so.ReopenReason = record.Reopened, "admin", at, "correction"
		}
		val, err := sc.Encode(nil, so)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 2; j++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kc.Topic(kafka.TopicSignoffs), Key: []byte("A|EUR"), Value: val}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.DatabaseURL, cfg.BatchInterval = kc, "loader", db, 50*time.Millisecond
	load(t, cfg, 4)
	st, err := warehouse.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if counts, _ := st.Counts(ctx); counts["recon_signoffs"] != 2 {
		t.Errorf("recon_signoffs has %d rows, want the 2 states: %v", counts["recon_signoffs"], counts)
	}
}

// TestLagMetric: recon_loader_lag_records is each topic's end minus the
// offsets stored in the warehouse: every record before a load, none after.
func TestLagMetric(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 3}
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.DatabaseURL, cfg.BatchInterval = kc, "loader", "sqlite:"+filepath.Join(t.TempDir(), "w.db"), 50*time.Millisecond
	produce(t, kc, 0, 10) // 20 match and 20 break records (each twice)
	lag := func() (matches, breaks float64) {
		t.Helper()
		st, err := warehouse.Open(context.Background(), cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := &Service{cfg: cfg, store: st, m: &metrics{lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lag"}, []string{"topic"})}}
		tm, tb := kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicBreaks)
		if err := s.updateLag(context.Background(), kadm.NewClient(kafkatest.Client(t, kc)), []string{tm, tb}); err != nil {
			t.Fatal(err)
		}
		return testutil.ToFloat64(s.m.lag.WithLabelValues(tm)), testutil.ToFloat64(s.m.lag.WithLabelValues(tb))
	}
	if m, b := lag(); m != 20 || b != 20 {
		t.Errorf("before the load: lag %v matches, %v breaks; want 20 and 20", m, b)
	}
	load(t, cfg, 40)
	if m, b := lag(); m != 0 || b != 0 {
		t.Errorf("after the load: lag %v matches, %v breaks; want 0", m, b)
	}
}
