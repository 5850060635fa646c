package matcher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
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
	added      []*engine.Rec                   // records put by this batch, still pending
	index      map[window.RefKey][]*engine.Rec // reference key -> records put by this batch
	removed    map[string]bool                 // ids leaving the window in this batch
	seen       map[string]bool                 // ids arriving in this batch
	putIDs     map[string]bool                 // ids put by this batch
	latencies  []float64
	markers    []*engine.Rec // markers of provisional entries matched by this batch
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
		wb: &window.Batch{From: map[string]int64{}, To: map[string]int64{}, CloseAt: make(map[string]record.Date, len(recs)),
			ExpireAt: map[string]record.Date{}},
		removed: make(map[string]bool, len(recs)), seen: make(map[string]bool, len(recs)), putIDs: make(map[string]bool, len(recs)),
		lateIDs: map[string]bool{}, counts: map[string]int{}}

	// Decode, skipping what the stored offsets say was applied.
	var ins []*engine.Rec
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
			ins = append(ins, r)
		}
	}
	if len(b.wb.To) == 0 && mv.to == 0 && !mv.tick && !mv.final {
		return nil
	}
	now := s.cfg.Now()

	// The records already in the window (same id: duplicates; same
	// reference key: candidates) are in ps.win, the partition's window in
	// memory; the records of this batch are indexed as they are put.
	b.index = make(map[window.RefKey][]*engine.Rec, len(ins))

	for _, r := range ins {
		if r.BookingDate > b.streamTime {
			b.streamTime = r.BookingDate
		}
		if r.Side == record.Bank {
			b.counts["records:bank"]++
		} else {
			b.counts["records:ledger"]++
		}
		if ps.win.Get(r.ID) != nil || b.seen[r.ID] {
			b.duplicateOf(r, nil)
			continue
		}
		b.seen[r.ID] = true
		if m := b.markerFor(r); m != nil {
			// The booked entry of a provisional entry already matched.
			b.leave(m)
			b.apply(engine.SupersedeGroup(r, strings.TrimPrefix(m.ID, "pv:")))
			continue
		}
		if !s.cfg.HoldWindows {
			pool := b.pool(r)
			d := s.eng.Match(r, pool)
			if d.Superseded != nil {
				b.apply(d.Superseded)
			}
			if d.Match != nil {
				b.apply(d.Match)
				for _, dup := range d.Duplicates {
					b.duplicateOf(dup, d.Match)
				}
				continue
			}
		}
		r.PendingSince = now
		b.added = append(b.added, r)
		b.indexRec(r)
		b.wb.Put = append(b.wb.Put, r)
		b.putIDs[r.ID] = true
		b.wb.CloseAt[r.ID] = s.eng.CloseDate(r)
		if b.wb.CloseAt[r.ID] <= b.streamTime && !s.cfg.HoldWindows {
			b.lateIDs[r.ID] = true // its window had closed before it arrived
		}
	}
	b.streamTime = max(b.streamTime, mv.to)
	// Windows close only when time moves: the stream time advanced, a tick
	// (records aged past min-pending, idle advancement) or the end of input.
	if b.streamTime > ps.streamTime || mv.tick || mv.final {
		if err := b.closeWindows(mv, now); err != nil {
			return err
		}
	}
	b.wb.StreamTime = b.streamTime
	// Records of this batch that left the window again never reach Redis.
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

	outIDs, err := s.store.Apply(ctx, p, ps.epoch, b.wb)
	switch {
	case errors.Is(err, window.ErrFenced):
		s.log.Warn("partition fenced by another instance; dropping it", "partition", p)
		s.mu.Lock()
		if s.owned[p] == ps { // not a newer claim of this same instance
			delete(s.owned, p)
		}
		s.mu.Unlock()
		s.m.fenced.Inc()
		return nil
	case errors.Is(err, window.ErrApplied):
		// Another instance of this owner's epoch cannot exist, so this is
		// a retried batch whose first attempt got through: load the
		// partition again from Redis.
		s.log.Warn("batch already applied; reloading the partition", "partition", p)
		return s.reload(ctx, p, ps)
	case err != nil:
		return err
	}
	ps.win.Commit(b.wb)
	s.mu.Lock()
	for t, o := range b.wb.To {
		ps.offsets[t] = o
	}
	ps.streamTime = b.streamTime
	s.mu.Unlock()
	for k, n := range b.counts {
		kind, label, _ := strings.Cut(k, ":")
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
	s.setPending(p, ps.win.Pending())
	if err := s.publish(ctx, p, b.wb.Out, outIDs); err != nil {
		return err
	}
	s.processed.Add(int64(applied)) // counted once its outputs are out
	return nil
}

// pool is what r is decided against on arrival: the stored records and the
// ones this batch put, sharing one of r's reference keys, still in the window.
func (b *batch) pool(r *engine.Rec) []*engine.Rec {
	var out []*engine.Rec
	take := func(c *engine.Rec) {
		if b.removed[c.ID] || c.ID == r.ID || c.Marker {
			return
		}
		for _, o := range out { // pools are small: a scan beats a set
			if o == c {
				return
			}
		}
		out = append(out, c)
	}
	for _, k := range r.Keys {
		b.ps.win.ByRef(r.Account, r.Currency, k, take)
		for _, c := range b.index[window.RefKey{Account: r.Account, Currency: r.Currency, Key: k}] {
			take(c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// indexRec makes c a candidate of later arrivals in this batch.
func (b *batch) indexRec(c *engine.Rec) {
	for _, k := range c.Keys {
		key := window.RefKey{Account: c.Account, Currency: c.Currency, Key: k}
		b.index[key] = append(b.index[key], c)
	}
}

// leave takes a record out of the window: a stored one is removed from
// Redis; one put or arriving in this batch simply never gets there.
func (b *batch) leave(r *engine.Rec) {
	if b.removed[r.ID] {
		return
	}
	b.removed[r.ID] = true
	if !b.seen[r.ID] {
		b.wb.Matched = append(b.wb.Matched, r)
	}
}

// markerFor finds the kept marker of a matched provisional entry that the
// booked entry r confirms.
func (b *batch) markerFor(r *engine.Rec) *engine.Rec {
	sig := engine.Signature(r)
	if sig == "" || r.Provisional {
		return nil
	}
	for _, m := range append(b.ps.win.Markers(sig), b.markers...) {
		if !b.removed[m.ID] && engine.Supersedes(r, m) {
			return m
		}
	}
	return nil
}

// markerDays keeps a matched provisional entry's marker this long.
const markerDays = 10

// apply publishes a match and takes its members out of the window. A
// provisional bank entry leaves a marker behind for its booked entry.
func (b *batch) apply(g *engine.Group) {
	if g.Rule != engine.SupersedeRule {
		for _, r := range g.Bank {
			if r.Provisional && engine.Signature(r) != "" {
				m := *r
				m.ID, m.Marker, m.BreakID = "pv:"+r.ID, true, ""
				m.Provisional = true
				b.wb.Put = append(b.wb.Put, &m)
				b.putIDs[m.ID] = true
				b.markers = append(b.markers, &m)
				b.wb.ExpireAt[m.ID] = r.BookingDate + markerDays
			}
		}
	}
	var ids []string
	var clears []string
	var latest int64
	var bank, ledger []record.Item
	decided := record.Date(0)
	for _, r := range append(append([]*engine.Rec(nil), g.Bank...), g.Ledger...) {
		ids = append(ids, r.ID)
		if r.Broken() {
			clears = append(clears, r.BreakID)
		}
		latest = max(latest, r.IngestedAt.UnixMilli())
		decided = max(decided, r.BookingDate)
		b.leave(r)
	}
	for _, r := range g.Bank {
		bank = append(bank, r.Item)
	}
	for _, r := range g.Ledger {
		ledger = append(ledger, r.Item)
	}
	first := g.Bank[0]
	m := &record.Match{MatchID: record.MatchID(ids...), Rule: g.Rule, Confidence: g.Confidence, Status: g.Status,
		Account: first.Account, Currency: first.Currency, Bank: bank, Ledger: ledger, Difference: g.Difference,
		Explanation: g.Explanation, ClearsBreakIDs: clears, DecidedAt: decided.Time()}
	if latest > 0 {
		b.latencies = append(b.latencies, time.Since(time.UnixMilli(latest)).Seconds())
	}
	b.counts["matches:"+g.Rule]++
	v, err := b.s.codecs.match.EncodeMatch(nil, m)
	if err != nil {
		b.s.log.Error("encode match", "err", err)
		return
	}
	b.wb.Out = append(b.wb.Out, window.OutEntry{Topic: b.s.topics.matches, Key: []byte(m.MatchID), Value: v})
}

// duplicateOf reports r as a duplicate break: a record whose id is already
// in the window (g nil), or the twin of a matched record, and takes it out.
func (b *batch) duplicateOf(r *engine.Rec, g *engine.Group) {
	cands := []record.Candidate{}
	if g != nil {
		twin := g.Ledger[0]
		if r.Side == record.Bank {
			twin = g.Bank[0]
		}
		cands = append(cands, record.Candidate{ID: twin.ID, Currency: twin.Currency, Amount: twin.Amount,
			BookingDate: twin.BookingDate, Reference: twin.Reference, Score: 10000, Note: "matched twin of this record"})
		b.leave(r)
	}
	br := &record.Break{BreakID: record.BreakID(r.Item, record.Duplicate), Side: r.Side, Reason: record.Duplicate,
		Account: r.Account, Currency: r.Currency, Record: r.Item, Candidates: cands, WindowClosedAt: r.BookingDate}
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

// closeWindows decides the records whose window closed by the stream time:
// all the pending records of their account and currency are matched as a
// pool (groups, instalments, ties resolved, duplicates), and the due
// records still unmatched become breaks with their reason and closest
// candidates. A record younger than MinPending in the window waits; the end
// of input closes everything. Broken records past retention are forgotten.
func (b *batch) closeWindows(mv timeMove, now time.Time) error {
	s := b.s
	horizon := b.streamTime
	if s.cfg.HoldWindows && !mv.final {
		horizon = 0
	}
	young := func(r *engine.Rec) bool {
		return !mv.final && s.cfg.MinPending > 0 && now.Sub(r.PendingSince) < s.cfg.MinPending
	}
	dueStored := b.ps.win.Due(horizon)
	due := map[string]*engine.Rec{}
	for _, r := range dueStored {
		if !r.Broken() && !b.removed[r.ID] && !young(r) {
			due[r.ID] = r
		}
	}
	for _, r := range b.added {
		if !b.removed[r.ID] && b.wb.CloseAt[r.ID] <= horizon && !young(r) {
			due[r.ID] = r
		}
	}
	// One pool per account and currency with something due.
	type mk struct{ account, currency string }
	var keys []mk
	seenKey := map[mk]bool{}
	for _, r := range due {
		k := mk{r.Account, r.Currency}
		if !seenKey[k] {
			seenKey[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].account != keys[j].account {
			return keys[i].account < keys[j].account
		}
		return keys[i].currency < keys[j].currency
	})
	retention := record.Date(s.cfg.RetentionDays)
	for _, k := range keys {
		stored := b.ps.win.Account(k.account, k.currency)
		byID := map[string]*engine.Rec{}
		for _, r := range stored {
			if !b.removed[r.ID] {
				byID[r.ID] = r
			}
		}
		for _, r := range b.added {
			if !b.removed[r.ID] && r.Account == k.account && r.Currency == k.currency {
				byID[r.ID] = r
			}
		}
		pool := make([]*engine.Rec, 0, len(byID))
		for _, r := range byID {
			if r2, ok := due[r.ID]; ok {
				r = r2
			}
			pool = append(pool, r)
		}
		res := s.eng.MatchPool(pool)
		for _, g := range res.Matches {
			b.apply(g)
		}
		var dups []*engine.Rec
		for d := range res.Duplicates {
			dups = append(dups, d)
		}
		sort.Slice(dups, func(i, j int) bool { return dups[i].ID < dups[j].ID })
		for _, d := range dups {
			if d.Broken() || b.removed[d.ID] {
				continue
			}
			twin := res.Duplicates[d]
			g := &engine.Group{Bank: []*engine.Rec{twin}, Ledger: []*engine.Rec{twin}}
			b.duplicateOf(d, g)
		}
		var closing []*engine.Rec
		for _, r := range due {
			if r.Account == k.account && r.Currency == k.currency && !b.removed[r.ID] {
				closing = append(closing, r)
			}
		}
		sort.Slice(closing, func(i, j int) bool { return closing[i].ID < closing[j].ID })
		for _, r := range closing {
			reason, cands := s.eng.Explain(r, pool, res)
			if reason == record.Unmatched && b.lateIDs[r.ID] {
				reason = record.Late
			}
			closeAt := s.eng.CloseDate(r)
			r.BreakID = record.BreakID(r.Item, reason)
			b.emitBreak(&record.Break{BreakID: r.BreakID, Side: r.Side, Reason: reason, Account: r.Account,
				Currency: r.Currency, Record: r.Item, Candidates: cands, WindowClosedAt: closeAt})
			// Retention counts from when the record broke in stream time, so
			// a jump of the stream time (idle advancement) does not expire
			// a fresh break before its counterpart can arrive.
			b.wb.ExpireAt[r.ID] = max(closeAt, b.streamTime) + retention
			if !b.putIDs[r.ID] {
				b.wb.Broken = append(b.wb.Broken, r) // stored: becomes broken; put ones are stored broken
			}
		}
	}
	var expired []*engine.Rec
	for _, r := range b.ps.win.Expired(horizon) {
		if !b.removed[r.ID] {
			expired = append(expired, r)
		}
	}
	b.wb.Expired = append(b.wb.Expired, expired...)
	return nil
}

// poison sends an undecodable input record to the DLQ through the outbox,
// so it is published exactly when the batch is applied.
func (b *batch) poison(kr *kgo.Record, err error) {
	b.s.log.Warn("undecodable input record sent to the DLQ", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "err", err)
	b.s.m.poison.Inc()
	b.wb.Out = append(b.wb.Out, window.OutEntry{Topic: b.s.topics.dlq, Key: kr.Key, Value: kr.Value, Headers: kafka.DLQInfo{Stage: "match", Reason: err.Error()}.From(kr).Headers()})
}

func (s *Service) decodeTransaction(ctx context.Context, kr *kgo.Record) (*engine.Rec, error) {
	t, err := s.codecs.tx.DecodeTransaction(ctx, kr.Value)
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
	r := &engine.Rec{Item: record.ItemOf(t), Account: t.Account, Provisional: t.Provisional}
	s.eng.Prepare(r)
	return r, nil
}

func (s *Service) decodeStatement(ctx context.Context, kr *kgo.Record) (*record.Statement, error) {
	m, err := s.codecs.stmt.Decode(ctx, kr.Value)
	if err != nil {
		return nil, err
	}
	return avro.StatementFromNative(m)
}

// reload loads partition p again from Redis (offsets, stream time and
// window), keeping its claim.
func (s *Service) reload(ctx context.Context, p int32, ps *partition) error {
	st, err := s.store.Read(ctx, p)
	if err != nil {
		return err
	}
	if st.Epoch != ps.epoch {
		s.mu.Lock()
		if s.owned[p] == ps {
			delete(s.owned, p)
		}
		s.mu.Unlock()
		return nil
	}
	win, err := s.store.Load(ctx, p, s.eng.Prepare)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ps.offsets, ps.streamTime, ps.win = st.Offsets, st.StreamTime, win
	s.mu.Unlock()
	s.setPending(p, win.Pending())
	return nil
}

// publish sends a batch's outputs, just applied to partition p's outbox
// under ids, to Kafka and trims them from the outbox once acknowledged.
//
// A fenced instance (a zombie that lost the partition while paused) must
// not publish: the epoch is checked before every publication.
func (s *Service) publish(ctx context.Context, p int32, out []window.OutEntry, ids []string) error {
	if len(out) == 0 || !s.stillOwner(ctx, p) {
		return nil
	}
	return s.send(ctx, p, out, ids)
}

// send produces outbox entries and, once Kafka acknowledged them, trims
// their outbox ids.
func (s *Service) send(ctx context.Context, p int32, out []window.OutEntry, ids []string) error {
	recs := make([]*kgo.Record, len(out))
	for i, e := range out {
		recs[i] = &kgo.Record{Topic: e.Topic, Key: e.Key, Value: e.Value, Headers: kafka.RecordHeaders(e.Headers)}
	}
	if err := s.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("publish outbox of partition %d: %w", p, err)
	}
	return s.store.Ack(ctx, p, ids...)
}

// drainOutbox publishes what partition p's outbox holds (outputs an
// earlier owner applied but did not see acknowledged) and trims what
// Kafka acknowledged. Run when a partition is claimed.
func (s *Service) drainOutbox(ctx context.Context, p int32) error {
	for {
		if !s.stillOwner(ctx, p) {
			return nil
		}
		entries, err := s.store.Outbox(ctx, p, 2000)
		if err != nil || len(entries) == 0 {
			return err
		}
		var ids []string // entries of one batch share an id
		for _, e := range entries {
			if len(ids) == 0 || ids[len(ids)-1] != e.ID {
				ids = append(ids, e.ID)
			}
		}
		if err := s.send(ctx, p, entries, ids); err != nil {
			return err
		}
	}
}

// stillOwner checks the partition's epoch in Redis against this instance's
// claim; on a mismatch the partition is dropped.
func (s *Service) stillOwner(ctx context.Context, p int32) bool {
	s.mu.Lock()
	ps := s.owned[p]
	s.mu.Unlock()
	if ps == nil {
		return false
	}
	epoch, err := s.store.Epoch(ctx, p)
	if err != nil || epoch == ps.epoch {
		return true // an unreadable epoch is caught by the next fenced Apply
	}
	s.log.Warn("partition claimed by another instance; not publishing", "partition", p, "epoch", ps.epoch, "owner_epoch", epoch)
	s.m.fenced.Inc()
	s.mu.Lock()
	if s.owned[p] == ps {
		delete(s.owned, p)
	}
	s.mu.Unlock()
	return false
}
