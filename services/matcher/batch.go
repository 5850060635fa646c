package matcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

// batch is the work on one partition's batch of input.
type batch struct {
	s  *Service
	p  int32
	ps *partition
	wb *window.Batch

	streamTime record.Date
	added      map[string][]*engine.Rec // index key -> records put by this batch
	removed    map[string]bool          // ids matched by this batch
	seen       map[string]bool          // ids arriving in this batch
	putIDs     map[string]bool          // ids put by this batch
	matches    int
	latencies  []float64
	lateIDs    map[string]bool
	counts     map[string]int // metric label -> count
}

// timeMove says how a batch moves time besides its records.
type timeMove struct {
	to    record.Date // stream time becomes at least this (0: no change)
	final bool        // end of input: close every window now
	tick  bool        // no input: look at the due windows again
}

// processBatch decides recs (records of partition p from any input topic),
// closes the windows that are due and applies the result.
func (s *Service) processBatch(ctx context.Context, p int32, recs []*kgo.Record, mv timeMove) error {
	s.mu.Lock()
	ps := s.owned[p]
	s.mu.Unlock()
	if ps == nil {
		return nil // revoked meanwhile; the new owner takes these records
	}
	b := &batch{s: s, p: p, ps: ps, streamTime: ps.streamTime,
		wb: &window.Batch{From: map[string]int64{}, To: map[string]int64{}, CloseAt: map[string]record.Date{},
			ExpireAt: map[string]record.Date{}},
		added: map[string][]*engine.Rec{}, removed: map[string]bool{}, seen: map[string]bool{}, putIDs: map[string]bool{},
		lateIDs: map[string]bool{}, counts: map[string]int{}}

	// Decode, skipping what the stored offsets say was applied.
	type input struct {
		rec *engine.Rec
		kr  *kgo.Record
	}
	var ins []input
	applied := 0
	for _, kr := range recs {
		if kr.Offset < ps.offsets[kr.Topic] {
			continue
		}
		applied++
		if _, ok := b.wb.From[kr.Topic]; !ok {
			b.wb.From[kr.Topic] = max(kr.Offset, ps.offsets[kr.Topic])
		}
		b.wb.To[kr.Topic] = kr.Offset + 1
		switch kr.Topic {
		case s.topics.stmt:
			st, err := s.decodeStatement(ctx, kr)
			if err != nil {
				b.poison(kr, err)
				continue
			}
			if st.ClosingDate != nil && !st.Provisional && *st.ClosingDate > b.streamTime {
				b.streamTime = *st.ClosingDate
			}
		default:
			r, err := s.decodeTransaction(ctx, kr)
			if err != nil {
				b.poison(kr, err)
				continue
			}
			ins = append(ins, input{r, kr})
		}
	}
	if len(b.wb.To) == 0 && mv.to == 0 && !mv.tick && !mv.final {
		return nil
	}
	now := s.cfg.Now()

	// Load what the batch needs from Redis: counterpart candidates and the
	// ids already in the window (duplicates).
	keys := make([]string, 0, len(ins))
	ids := make([]string, 0, len(ins))
	for _, in := range ins {
		keys = append(keys, s.store.IndexKey(p, other(in.rec.Side), in.rec))
		ids = append(ids, in.rec.ID)
	}
	cands, err := s.store.Candidates(ctx, p, keys)
	if err != nil {
		return err
	}
	existing, err := s.store.Has(ctx, p, ids)
	if err != nil {
		return err
	}

	for _, in := range ins {
		r := in.rec
		if r.BookingDate > b.streamTime {
			b.streamTime = r.BookingDate
		}
		b.counts["records:"+string(r.Side)]++
		if existing[r.ID] != nil || b.seen[r.ID] {
			b.duplicate(r)
			continue
		}
		b.seen[r.ID] = true
		key := s.store.IndexKey(p, other(r.Side), r)
		var pool []*engine.Rec
		for _, c := range cands[key] {
			if !b.removed[c.ID] {
				pool = append(pool, c)
			}
		}
		for _, c := range b.added[key] {
			if !b.removed[c.ID] {
				pool = append(pool, c)
			}
		}
		d := s.eng.Match(r, pool)
		if d.Counterpart != nil {
			b.match(r, d)
			continue
		}
		own := s.store.IndexKey(p, r.Side, r)
		b.added[own] = append(b.added[own], r)
		r.PendingSince = now
		b.wb.Put = append(b.wb.Put, r)
		b.putIDs[r.ID] = true
		b.wb.CloseAt[r.ID] = s.eng.CloseDate(r)
		if b.wb.CloseAt[r.ID] <= b.streamTime && !s.cfg.HoldWindows {
			b.lateIDs[r.ID] = true // its window had closed before it arrived
		}
	}
	b.streamTime = max(b.streamTime, mv.to)
	if err := b.closeWindows(ctx, mv, now); err != nil {
		return err
	}
	b.wb.StreamTime = b.streamTime
	// Records matched by this batch that were put by it never reach Redis.
	put := b.wb.Put[:0]
	for _, r := range b.wb.Put {
		if !b.removed[r.ID] {
			put = append(put, r)
		}
	}
	b.wb.Put = put
	if len(b.wb.To) == 0 && len(b.wb.Put)+len(b.wb.Matched)+len(b.wb.Broken)+len(b.wb.Expired)+len(b.wb.Out) == 0 &&
		b.streamTime == ps.streamTime {
		return nil // a tick that found nothing to do
	}

	err = s.store.Apply(ctx, p, ps.epoch, b.wb)
	switch {
	case errors.Is(err, window.ErrFenced):
		s.log.Warn("partition fenced by another instance; dropping it", "partition", p)
		s.mu.Lock()
		delete(s.owned, p)
		s.mu.Unlock()
		s.m.fenced.Inc()
		return nil
	case errors.Is(err, window.ErrApplied):
		s.log.Warn("batch already applied; reloading offsets", "partition", p)
		st, rerr := s.store.Read(ctx, p)
		if rerr != nil {
			return rerr
		}
		s.mu.Lock()
		ps.offsets, ps.streamTime = st.Offsets, st.StreamTime
		s.mu.Unlock()
		return nil
	case err != nil:
		return err
	}
	s.mu.Lock()
	for t, o := range b.wb.To {
		ps.offsets[t] = o
	}
	ps.streamTime = b.streamTime
	s.mu.Unlock()
	s.processed.Add(int64(applied))
	for k, n := range b.counts {
		kind, label, _ := cut(k)
		switch kind {
		case "records":
			s.m.records.WithLabelValues(label).Add(float64(n))
		case "matches":
			s.m.matches.WithLabelValues(label).Add(float64(n))
		case "breaks":
			s.m.breaks.WithLabelValues(label).Add(float64(n))
		}
	}
	for _, l := range b.latencies {
		s.m.latency.Observe(l)
	}
	if st, err := s.store.Read(ctx, p); err == nil {
		s.setPending(p, st.Pending)
	}
	return s.drainOutbox(ctx, p)
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func other(s record.Side) record.Side {
	if s == record.Bank {
		return record.Ledger
	}
	return record.Bank
}

func (b *batch) match(r *engine.Rec, d engine.Decision) {
	c := d.Counterpart
	b.removed[c.ID] = true
	if !b.putIDs[c.ID] {
		b.wb.Matched = append(b.wb.Matched, c)
	}
	bank, ledger := r, c
	if r.Side == record.Ledger {
		bank, ledger = c, r
	}
	m := &record.Match{
		MatchID: record.MatchID(bank.ID, ledger.ID), Rule: d.Rule, Confidence: d.Confidence, Status: record.Auto,
		Account: r.Account, Currency: r.Currency, Bank: []record.Item{bank.Item}, Ledger: []record.Item{ledger.Item},
		Difference: d.Difference, Explanation: d.Explanation,
		DecidedAt: max(bank.BookingDate, ledger.BookingDate).Time(),
	}
	if c.Broken() {
		m.ClearsBreakIDs = []string{c.BreakID}
	}
	latest := max(bank.IngestedAt.UnixMilli(), ledger.IngestedAt.UnixMilli())
	if latest > 0 {
		b.latencies = append(b.latencies, time.Since(time.UnixMilli(latest)).Seconds())
	}
	b.counts["matches:"+d.Rule]++
	v, err := b.s.codecs.match.Encode(nil, avro.MatchNative(m))
	if err != nil {
		b.s.log.Error("encode match", "err", err)
		return
	}
	b.wb.Out = append(b.wb.Out, window.OutEntry{Topic: b.s.topics.matches, Key: []byte(m.MatchID), Value: v})
}

// duplicate reports a record whose id is already in the window.
func (b *batch) duplicate(r *engine.Rec) {
	br := &record.Break{
		BreakID: record.BreakID(r.Item, record.Duplicate),
		Side:    r.Side, Reason: record.Duplicate, Account: r.Account, Currency: r.Currency,
		Record: r.Item, Candidates: []record.Candidate{}, WindowClosedAt: r.BookingDate,
	}
	b.emitBreak(br)
}

func (b *batch) emitBreak(br *record.Break) {
	b.counts["breaks:"+string(br.Reason)]++
	v, err := b.s.codecs.brk.Encode(nil, avro.BreakNative(br))
	if err != nil {
		b.s.log.Error("encode break", "err", err)
		return
	}
	b.wb.Out = append(b.wb.Out, window.OutEntry{Topic: b.s.topics.breaks, Key: []byte(br.BreakID), Value: v})
}

// closeWindows turns the pending records whose window closed by the stream
// time into breaks, and forgets broken records past their retention. A
// record younger than MinPending in the window waits (its counterpart may
// be in the next batch); the end of input closes everything.
func (b *batch) closeWindows(ctx context.Context, mv timeMove, now time.Time) error {
	s := b.s
	horizon := b.streamTime
	if s.cfg.HoldWindows && !mv.final {
		horizon = 0
	}
	young := func(r *engine.Rec) bool {
		return !mv.final && s.cfg.MinPending > 0 && now.Sub(r.PendingSince) < s.cfg.MinPending
	}
	dueIDs, err := s.store.Due(ctx, b.p, horizon)
	if err != nil {
		return err
	}
	var dueIn []string
	for _, id := range dueIDs {
		if !b.removed[id] {
			dueIn = append(dueIn, id)
		}
	}
	stored, err := s.store.Records(ctx, b.p, dueIn)
	if err != nil {
		return err
	}
	retention := record.Date(s.cfg.RetentionDays)
	breakRec := func(r *engine.Rec, reason record.BreakReason) {
		closeAt := s.eng.CloseDate(r)
		r.BreakID = record.BreakID(r.Item, reason)
		b.emitBreak(&record.Break{BreakID: r.BreakID, Side: r.Side, Reason: reason, Account: r.Account,
			Currency: r.Currency, Record: r.Item, Candidates: []record.Candidate{}, WindowClosedAt: closeAt})
		b.wb.ExpireAt[r.ID] = closeAt + retention
	}
	for _, r := range stored {
		if r.Broken() || young(r) {
			continue
		}
		breakRec(r, record.Unmatched)
		b.wb.Broken = append(b.wb.Broken, r)
	}
	for _, r := range b.wb.Put {
		if b.removed[r.ID] || b.wb.CloseAt[r.ID] > horizon || young(r) {
			continue
		}
		reason := record.Unmatched
		if b.lateIDs[r.ID] {
			reason = record.Late
		}
		breakRec(r, reason) // stays a Put, stored as broken
	}
	expIDs, err := s.store.Expired(ctx, b.p, horizon)
	if err != nil {
		return err
	}
	var keep []string
	for _, id := range expIDs {
		if !b.removed[id] {
			keep = append(keep, id)
		}
	}
	expired, err := s.store.Records(ctx, b.p, keep)
	if err != nil {
		return err
	}
	b.wb.Expired = append(b.wb.Expired, expired...)
	return nil
}

// poison sends an undecodable input record to the DLQ through the outbox,
// so it is published exactly when the batch is applied.
func (b *batch) poison(kr *kgo.Record, err error) {
	b.s.log.Warn("undecodable input record sent to the DLQ", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "err", err)
	b.s.m.poison.Inc()
	b.wb.Out = append(b.wb.Out, window.OutEntry{Topic: b.s.topics.dlq, Key: kr.Key, Value: kr.Value, Headers: map[string]string{
		"recon.stage": "match", "recon.reason": err.Error(), "recon.source.topic": kr.Topic,
		"recon.source.partition": strconv.Itoa(int(kr.Partition)), "recon.source.offset": strconv.FormatInt(kr.Offset, 10),
	}})
}

func (s *Service) decodeTransaction(ctx context.Context, kr *kgo.Record) (*engine.Rec, error) {
	m, err := s.codecs.tx.Decode(ctx, kr.Value)
	if err != nil {
		return nil, err
	}
	t, err := avro.TransactionFromNative(m)
	if err != nil {
		return nil, err
	}
	want := record.Bank
	if kr.Topic == s.topics.ledger {
		want = record.Ledger
	}
	if t.Side != want {
		return nil, fmt.Errorf("a %s record on topic %s", t.Side, kr.Topic)
	}
	if t.Key() != string(kr.Key) {
		return nil, fmt.Errorf("key %q does not match the record's account|currency %q", kr.Key, t.Key())
	}
	if t.Amount.Scale() > money.MaxScale {
		return nil, errors.New("amount scale")
	}
	return &engine.Rec{Item: record.ItemOf(t), Account: t.Account, NormRef: engine.NormalizeRef(t.Reference), Provisional: t.Provisional}, nil
}

func (s *Service) decodeStatement(ctx context.Context, kr *kgo.Record) (*record.Statement, error) {
	m, err := s.codecs.stmt.Decode(ctx, kr.Value)
	if err != nil {
		return nil, err
	}
	return avro.StatementFromNative(m)
}

// drainOutbox publishes partition p's outbox and trims what Kafka
// acknowledged.
func (s *Service) drainOutbox(ctx context.Context, p int32) error {
	for {
		entries, err := s.store.Outbox(ctx, p, 2000)
		if err != nil || len(entries) == 0 {
			return err
		}
		recs := make([]*kgo.Record, len(entries))
		for i, e := range entries {
			recs[i] = &kgo.Record{Topic: e.Topic, Key: e.Key, Value: e.Value}
			for k, v := range e.Headers {
				recs[i].Headers = append(recs[i].Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
		}
		if err := s.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("publish outbox of partition %d: %w", p, err)
		}
		ids := make([]string, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		if err := s.store.Ack(ctx, p, ids...); err != nil {
			return err
		}
	}
}
