package notifier

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/kafkatest"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("k")
	body := []byte(`{"type":"break"}`)
	now := time.Unix(1772400000, 0)
	sig := Sign(secret, now.Unix(), body)
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("signature %q", sig)
	}
	ts := "1772400000"
	if err := Verify(secret, ts, sig, body, now, time.Minute); err != nil {
		t.Errorf("valid signature refused: %v", err)
	}
	if err := Verify(secret, ts, "v0=x, "+sig, body, now, time.Minute); err != nil {
		t.Errorf("signature among several refused: %v", err)
	}
	for name, check := range map[string]error{
		"tampered body": Verify(secret, ts, sig, []byte(`{"type":"brake"}`), now, time.Minute),
		"wrong secret":  Verify([]byte("j"), ts, sig, body, now, time.Minute),
		"replayed":      Verify(secret, ts, sig, body, now.Add(time.Hour), time.Minute),
		"bad timestamp": Verify(secret, "x", sig, body, now, time.Minute),
	} {
		if check == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

type hook struct {
	mu       sync.Mutex
	perBreak map[string]int
	messages int
	fail     int // answer 500 to this many requests first
	refuse   string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail > 0 {
		h.fail--
		w.WriteHeader(500)
		return
	}
	var m struct {
		Breaks []struct {
			BreakID string `json:"break_id"`
		} `json:"breaks"`
	}
	_ = json.NewDecoder(r.Body).Decode(&m)
	if len(m.Breaks) == 1 && m.Breaks[0].BreakID == h.refuse {
		w.WriteHeader(422)
		return
	}
	h.messages++
	for _, b := range m.Breaks {
		h.perBreak[b.BreakID]++
	}
}

func (h *hook) counts() (int, map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.perBreak {
		out[k] = v
	}
	return h.messages, out
}

func produceBreaks(t *testing.T, kc kafka.Config, n int) []string {
	ctx := context.Background()
	cl := kafkatest.Client(t, kc)
	codec, _ := avro.NewBreakCodec(ctx, avro.Embedded{}, "b")
	var ids []string
	for i := 0; i < n; i++ {
		it := record.Item{ID: "L" + string(rune('a'+i)), Side: record.Ledger, Currency: "EUR", Amount: money.New(int64(i), 2), BookingDate: 20000}
		b := &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: record.Ledger, Reason: record.Unmatched,
			Account: "A", Currency: "EUR", Record: it, Candidates: []record.Candidate{}, WindowClosedAt: 20004}
		v, err := codec.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.BreakID)
		// Each break twice: replays must not notify twice.
		for j := 0; j < 2; j++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kc.Topic(kafka.TopicBreaks), Key: []byte(b.BreakID), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func runUntil(t *testing.T, cfg Config, rdb redis.UniversalClient, cond func() bool) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg, Redis: rdb})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestOncePerBreak: each break is notified once, through retries, replays
// of the topic and a restart that re-reads it from the start.
func TestOncePerBreak(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2}
	ids := produceBreaks(t, kc, 6)
	h := &hook{perBreak: map[string]int{}, fail: 2, refuse: ids[5]}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.WebhookURL, cfg.Log = kc, "n", srv.URL, false
	cfg = cfg.WithSecret("k")
	reg := runUntil(t, cfg, rdb, func() bool { _, got := h.counts(); return len(got) == 5 })
	// Restart from the start of the topic: nothing is sent again.
	adm := kadm.NewClient(mustClient(t, kc))
	if _, err := adm.DeleteGroups(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	runUntil(t, cfg, rdb, func() bool { return true })
	time.Sleep(time.Second)
	msgs, got := h.counts()
	for _, id := range ids[:5] {
		if got[id] != 1 {
			t.Errorf("break %s notified %d times", id, got[id])
		}
	}
	if got[ids[5]] != 0 || msgs != 5 {
		t.Errorf("refused break delivered, or %d messages", msgs)
	}
	testenv.LintMetrics(t, reg)
}

func TestDigest(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2}
	produceBreaks(t, kc, 8)
	h := &hook{perBreak: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.WebhookURL, cfg.Digest, cfg.Log = kc, "d", srv.URL, 700*time.Millisecond, false
	cfg = cfg.WithSecret("k")
	runUntil(t, cfg, rdb, func() bool { _, got := h.counts(); return len(got) == 8 })
	msgs, got := h.counts()
	if msgs > 2 {
		t.Errorf("%d digest messages for 8 breaks produced at once", msgs)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s in %d digests", id, n)
		}
	}
}

func mustClient(t *testing.T, kc kafka.Config) *kgo.Client { return kafkatest.Client(t, kc) }
