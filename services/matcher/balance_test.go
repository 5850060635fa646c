package matcher

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

// fetch is one poll's view of a transaction partition: the readable end
// and the last offset delivered (-1: none).
func fetch(topic string, p int32, end, last int64) kgo.Fetches {
	fp := kgo.FetchPartition{Partition: p, HighWatermark: end, LastStableOffset: end}
	if last >= 0 {
		fp.Records = []*kgo.Record{{Topic: topic, Partition: p, Offset: last}}
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: topic, Partitions: []kgo.FetchPartition{fp}}}}}
}

func TestBalancerDecides(t *testing.T) {
	b := newBalancer(100, "bank", "ledger")
	t0 := time.Unix(1_000_000, 0)
	pending := func(bank, ledger int64) map[int32]map[record.Side]int64 {
		return map[int32]map[record.Side]int64{0: {record.Bank: bank, record.Ledger: ledger}}
	}
	// fresh is a balancer that has seen these polls at t0.
	fresh := func(lead int64, polls ...kgo.Fetches) *balancer {
		b := newBalancer(lead, "bank", "ledger")
		for _, f := range polls {
			b.seen(f, t0)
		}
		return b
	}

	// The ledger ran 150 ahead while the bank still has 900 unread: the
	// ledger waits.
	b.seen(fetch("bank", 0, 1000, 99), t0)
	b.seen(fetch("ledger", 0, 1000, 249), t0)
	pause, resume := b.decide(pending(0, 150), t0)
	if fmt.Sprint(pause) != "map[ledger:[0]]" || len(resume) != 0 {
		t.Fatalf("pause %v resume %v, want the ledger paused", pause, resume)
	}
	// Asked again, nothing changes.
	if pause, resume = b.decide(pending(0, 150), t0); len(pause)+len(resume) != 0 {
		t.Fatalf("repeated: pause %v resume %v", pause, resume)
	}
	// Still 60 ahead (above half the lead): the ledger keeps waiting.
	b.seen(fetch("bank", 0, 1000, 190), t0.Add(100*time.Millisecond))
	if pause, resume = b.decide(pending(0, 60), t0.Add(100*time.Millisecond)); len(pause)+len(resume) != 0 {
		t.Fatalf("60 ahead: pause %v resume %v", pause, resume)
	}
	// The bank caught up to 50 behind: the ledger reads again.
	if _, resume = b.decide(pending(0, 50), t0.Add(100*time.Millisecond)); fmt.Sprint(resume) != "map[ledger:[0]]" {
		t.Fatalf("caught up: resume %v", resume)
	}

	// A side is not paused for a counterpart that has nothing unread...
	b = fresh(100, fetch("bank", 0, 100, 99), fetch("ledger", 0, 1000, 499))
	if pause, _ = b.decide(pending(0, 400), t0); len(pause) != 0 {
		t.Fatalf("paused although the bank has nothing unread: %v", pause)
	}
	// ...nor for one not seen yet...
	b = fresh(100, fetch("ledger", 0, 1000, 499))
	if pause, _ = b.decide(pending(0, 400), t0); len(pause) != 0 {
		t.Fatalf("paused for a partition never fetched: %v", pause)
	}
	// ...and a paused side reads again once the other stops delivering
	// (records that never come): for stallPolls polls and a second. Fewer
	// polls, or a shorter time, is a partition waiting for its turn.
	b = fresh(100, fetch("bank", 0, 1000, 99), fetch("ledger", 0, 1000, 499))
	if pause, _ = b.decide(pending(0, 400), t0); len(pause) != 1 {
		t.Fatalf("not paused: %v", pause)
	}
	for range stallPolls - 2 {
		b.seen(kgo.Fetches{}, t0.Add(2*time.Second))
	}
	if _, resume = b.decide(pending(0, 400), t0.Add(2*time.Second)); len(resume) != 0 || !b.backlog(0, t0.Add(2*time.Second)) {
		t.Fatalf("the bank's turn is late, not stalled, but the ledger was resumed (%v) or the backlog is over", resume)
	}
	b.seen(kgo.Fetches{}, t0.Add(2*time.Second))
	if b.backlog(0, t0.Add(100*time.Millisecond)) != true {
		t.Fatal("a second has not passed, yet the bank counts as stalled")
	}
	if _, resume = b.decide(pending(0, 400), t0.Add(2*time.Second)); fmt.Sprint(resume) != "map[ledger:[0]]" {
		t.Fatalf("the bank stalled but the ledger stays paused: %v", resume)
	}
	// The ledger, resumed, still has 500 unread: the windows wait for it.
	if !b.backlog(0, t0.Add(2*time.Second)) {
		t.Fatal("the ledger has records unread, yet the partition's windows do not wait")
	}
	// A side delivered up to its end is no backlog; a stalled one neither.
	b = fresh(100, fetch("bank", 0, 100, 99), fetch("ledger", 0, 1000, 499))
	for range stallPolls {
		b.seen(kgo.Fetches{}, t0.Add(2*time.Second))
	}
	if b.backlog(0, t0.Add(2*time.Second)) {
		t.Fatal("the bank is read to its end and the ledger stalled, yet the partition's windows wait")
	}
	// A revoked partition is resumed and forgotten.
	b.decide(pending(0, 400), t0.Add(2*time.Second))
	b.seen(fetch("bank", 0, 1000, 150), t0.Add(3*time.Second))
	if pause, _ = b.decide(pending(0, 400), t0.Add(3*time.Second)); len(pause) != 1 {
		t.Fatalf("not paused again: %v", pause)
	}
	if got := b.drop(map[string][]int32{"ledger": {0}, "bank": {0}}); fmt.Sprint(got) != "map[ledger:[0]]" {
		t.Fatalf("drop resumes %v", got)
	}
	// The bank has nothing unread but its file is being written (an open
	// transaction): the ledger waits for it, as long as the transaction
	// stays open, and at most maxInFlightHold.
	b = fresh(100, fetch("bank", 0, 100, 99), fetch("ledger", 0, 1000, 499))
	if !b.uneven(pending(0, 400)) || b.uneven(pending(0, 50)) {
		t.Fatal("uneven: want true 400 ahead and false 50 ahead (half the lead)")
	}
	b.wrote(map[tp]bool{{"bank", 0}: true}, t0)
	if pause, _ = b.decide(pending(0, 400), t0); fmt.Sprint(pause) != "map[ledger:[0]]" {
		t.Fatalf("the bank's file is being written, yet the ledger reads on: pause %v", pause)
	}
	b.wrote(map[tp]bool{{"bank", 0}: true}, t0.Add(time.Minute))
	if _, resume = b.decide(pending(0, 400), t0.Add(time.Minute)); len(resume) != 0 {
		t.Fatalf("still being written, yet resumed: %v", resume)
	}
	if _, resume = b.decide(pending(0, 400), t0.Add(maxInFlightHold)); fmt.Sprint(resume) != "map[ledger:[0]]" {
		t.Fatalf("a transaction open for %s still holds the ledger: %v", maxInFlightHold, resume)
	}
	b = fresh(100, fetch("bank", 0, 100, 99), fetch("ledger", 0, 1000, 499))
	b.wrote(map[tp]bool{{"bank", 0}: true}, t0)
	b.decide(pending(0, 400), t0)
	b.wrote(map[tp]bool{}, t0.Add(time.Second))
	if _, resume = b.decide(pending(0, 400), t0.Add(time.Second)); fmt.Sprint(resume) != "map[ledger:[0]]" {
		t.Fatalf("the bank's transaction ended (nothing unread), yet the ledger stays paused: %v", resume)
	}

	// Off: never pauses.
	b = fresh(0, fetch("bank", 0, 1000, 9), fetch("ledger", 0, 1000, 999))
	if pause, _ = b.decide(pending(0, 990), t0); len(pause) != 0 {
		t.Fatalf("max-lead 0 paused: %v", pause)
	}
}

// TestBalancedBacklog reads a backlog in which the ledger topic comes
// much faster than the bank topic (its records are a tenth the size, and
// a fetch is bounded in bytes), on real Kafka and Redis: the ledger
// waits for the bank, every pair matches once, and nothing breaks.
func TestBalancedBacklog(t *testing.T) {
	l := liveServers(t, "bal", 3*time.Minute, kgo.ProducerLinger(5*time.Millisecond))
	kc, ctx := l.kc, l.ctx
	const pairs = 4000
	var recs []*kgo.Record
	for i := range pairs {
		for _, side := range []record.Side{record.Bank, record.Ledger} {
			x := tx(fmt.Sprintf("%s%d", side, i), side, fmt.Sprintf("INV-%06d", i), "", int64(1000+i), 2+i%20, false)
			if side == record.Bank {
				x.Description = strings.Repeat("remittance text ", 60)
			}
			recs = append(recs, l.txRecord(t, x))
		}
	}
	if err := l.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cfg := l.config()
	cfg.MinPending, cfg.IdleAdvance, cfg.MaxLead, cfg.MaxBatch = time.Hour, 0, 200, 1000
	m := l.start(t, cfg)
	l.decided(t, m, 2*pairs)
	if n := testutil.ToFloat64(m.m.paused); n == 0 {
		t.Error("the ledger never waited for the bank (recon_matcher_side_pauses_total is 0)")
	}

	rd, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicBreaks)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	mc, _ := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	matched, breaks := map[string]int{}, 0
	for len(matched) < 2*pairs && ctx.Err() == nil {
		f := rd.PollFetches(ctx)
		f.EachRecord(func(r *kgo.Record) {
			if r.Topic != kc.Topic(kafka.TopicMatches) {
				breaks++
				return
			}
			x, err := mc.Decode(ctx, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range append(x.Bank, x.Ledger...) {
				matched[it.ID]++
			}
		})
	}
	if len(matched) != 2*pairs || breaks != 0 {
		t.Fatalf("%d of %d records matched, %d breaks", len(matched), 2*pairs, breaks)
	}
	for id, n := range matched {
		if n != 1 {
			t.Errorf("%s matched %d times", id, n)
		}
	}
}

// TestTicksWait: a tick on a partition that is reading a backlog (here
// its ledger has 500 records unread) waits like its batches do; a tick on
// a partition read to its end closes what is due.
func TestTicksWait(t *testing.T) {
	s := &Service{cfg: Config{IdleAdvance: time.Hour}, owned: map[int32]*partition{}, bal: newBalancer(100, "bank", "ledger")}
	for p := range int32(2) {
		w := window.NewPart()
		w.Insert(&window.Entry{Rec: &engine.Rec{Item: record.Item{ID: fmt.Sprint("b", p), Side: record.Bank}}}, 1)
		s.owned[p] = &partition{win: w}
	}
	now := time.Now()
	s.bal.seen(fetch("ledger", 0, 1000, 499), now)
	s.bal.seen(fetch("ledger", 1, 100, 99), now)
	jobs := s.ticks(nil, now)
	if len(jobs) != 2 || jobs[0].p != 0 || jobs[1].p != 1 {
		t.Fatalf("ticks %+v, want one for each partition", jobs)
	}
	if !jobs[0].mv.Tick || !jobs[0].mv.Wait || !jobs[1].mv.Tick || jobs[1].mv.Wait {
		t.Fatalf("moves %+v and %+v: want partition 0 to wait for its backlog and partition 1 not", jobs[0].mv, jobs[1].mv)
	}
}
