package matcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/decide"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/redisstate"
)

// processBatch decodes recs (records of partition p from any input topic),
// decides them with the partition's window (internal/decide), applies the
// change and its outputs to Redis and publishes the outputs.
func (s *Service) processBatch(ctx context.Context, p int32, recs []*kgo.Record, mv decide.Move) error {
	s.mu.Lock()
	ps := s.owned[p]
	s.mu.Unlock()
	if ps == nil {
		return nil // revoked meanwhile; the new owner takes these records
	}
	if ps.rules != s.active.Load() {
		if err := s.switchRules(ctx, p, ps); err != nil {
			return err
		}
	}
	eng := ps.rules.eng
	// The first batch after a backlog was read looks at the windows that
	// waited for it, even if it does not move time.
	if mv.Wait {
		ps.waited = true
	} else if ps.waited {
		mv.Tick, ps.waited = true, false
	}

	// Decode, skipping what the stored offsets say was applied.
	from, to := map[string]int64{}, map[string]int64{}
	var ins []decide.Input
	var poison []redisstate.OutEntry
	applied := 0
	for _, kr := range recs {
		if kr.Offset < ps.offsets[kr.Topic] {
			continue
		}
		if _, ok := from[kr.Topic]; !ok {
			from[kr.Topic] = max(kr.Offset, ps.offsets[kr.Topic])
		}
		to[kr.Topic] = kr.Offset + 1
		if kr.Attrs.IsControl() {
			continue // a transaction's commit marker: only its offset counts
		}
		applied++
		var in decide.Input
		err := s.checkPlacement(ctx, kr)
		switch {
		case err != nil:
		case kr.Topic == s.topics.stmt:
			in.Statement, err = s.decodeStatement(ctx, kr)
		case kr.Topic == s.topics.res:
			in.Resolution, err = s.decodeResolution(ctx, kr)
		default:
			in.Tx, err = s.decodeTransaction(ctx, kr, eng)
		}
		if err != nil {
			poison = append(poison, s.poison(kr, err))
			continue
		}
		ins = append(ins, in)
	}
	if len(to) == 0 && mv.To == 0 && !mv.Tick && !mv.Final {
		return nil
	}

	tm := decide.Time{StreamTime: ps.streamTime, Clock: ps.clock}
	res := decide.Decide(ps.win, eng, s.decideCfg, tm, ins, mv, s.cfg.Now())
	if len(to) == 0 && !res.Changed(tm) {
		return nil // a tick that found nothing to do
	}
	ch := res.Change
	ch.From, ch.To, ch.RuleVersion = from, to, ps.rules.version
	for _, o := range res.Outputs {
		if o.Match != nil {
			o.Match.RuleVersion = ps.rules.version
		}
		if o.Break != nil {
			o.Break.RuleVersion = ps.rules.version
		}
	}
	out, err := s.encodeOutputs(poison, res.Outputs)
	if err != nil {
		return err
	}

	outIDs, err := s.store.Apply(ctx, p, ps.epoch, ch, out)
	switch {
	case errors.Is(err, redisstate.ErrFenced):
		s.log.Warn("partition fenced by another instance; dropping it", "partition", p)
		s.mu.Lock()
		if s.owned[p] == ps { // not a newer claim of this same instance
			delete(s.owned, p)
		}
		s.mu.Unlock()
		s.m.fenced.Inc()
		return nil
	case errors.Is(err, redisstate.ErrApplied):
		// Another instance of this owner's epoch cannot exist, so this is
		// a retried batch whose first attempt got through (its reply was
		// lost, as in a Redis failover): load the partition again from
		// Redis, and publish the outputs that attempt left in the outbox
		// now rather than at the partition's next claim.
		s.log.Warn("batch already applied; reloading the partition", "partition", p)
		if err := s.reload(ctx, p, ps); err != nil {
			return err
		}
		return s.drainOutbox(ctx, p)
	case err != nil:
		return err
	}
	ps.win.Commit(ch)
	s.mu.Lock()
	for t, o := range ch.To {
		ps.offsets[t] = o
	}
	ps.streamTime, ps.clock = ch.StreamTime, ch.Clock
	s.mu.Unlock()
	s.count(res)
	s.setPending(p, ps.win.Pending())
	if err := s.publish(ctx, p, out, outIDs); err != nil {
		return err
	}
	s.processed.Add(int64(applied)) // counted once its outputs are out
	return nil
}

// count adds a decided batch to the metrics.
func (s *Service) count(res *decide.Result) {
	for side, n := range res.Counts.Records {
		s.m.records.WithLabelValues(string(side)).Add(float64(n))
	}
	for rule, n := range res.Counts.Matches {
		s.m.matches.WithLabelValues(rule).Add(float64(n))
	}
	for reason, n := range res.Counts.Breaks {
		s.m.breaks.WithLabelValues(string(reason)).Add(float64(n))
	}
	for r, n := range res.Counts.Resolutions {
		s.m.resolutions.WithLabelValues(string(r.Action), map[bool]string{true: "applied", false: "refused"}[r.Applied]).Add(float64(n))
	}
	for _, l := range res.Latencies {
		s.m.latency.Observe(l.Seconds())
	}
	now := time.Now()
	for _, o := range res.Outputs {
		if b := o.Break; b != nil {
			s.m.timeToBreak.Observe(now.Sub(b.Record.BookingDate.Time()).Seconds())
		}
	}
}

// encodeOutputs encodes a batch's outputs for the outbox, after its dead
// letters, in the order they were decided.
func (s *Service) encodeOutputs(poison []redisstate.OutEntry, outs []decide.Output) ([]redisstate.OutEntry, error) {
	out := append(make([]redisstate.OutEntry, 0, len(poison)+len(outs)), poison...)
	for _, o := range outs {
		if oc := o.Outcome; oc != nil {
			v, err := s.codecs.out.Encode(nil, oc)
			if err != nil {
				return nil, fmt.Errorf("encode outcome of %s: %w", oc.ResolutionID, err)
			}
			out = append(out, redisstate.OutEntry{Topic: s.topics.outcomes, Key: []byte(record.MatchKey(oc.Account, oc.Currency)), Value: v})
			continue
		}
		if m := o.Match; m != nil {
			v, err := s.codecs.match.Encode(nil, m)
			if err != nil {
				return nil, fmt.Errorf("encode match %s: %w", m.MatchID, err)
			}
			out = append(out, redisstate.OutEntry{Topic: s.topics.matches, Key: []byte(m.MatchID), Value: v})
			continue
		}
		v, err := s.codecs.brk.Encode(nil, o.Break)
		if err != nil {
			return nil, fmt.Errorf("encode break %s: %w", o.Break.BreakID, err)
		}
		out = append(out, redisstate.OutEntry{Topic: s.topics.breaks, Key: []byte(o.Break.BreakID), Value: v})
	}
	return out, nil
}

// poison is the dead letter of an undecodable input record, sent through
// the outbox so that it is published exactly when the batch is applied.
// The copy keeps the producer's headers (a header the DLQ's own names
// replace, and repeats of a name but the last, are not kept).
func (s *Service) poison(kr *kgo.Record, err error) redisstate.OutEntry {
	var mp *misplacedError
	if errors.As(err, &mp) {
		s.log.Warn("record on the wrong partition sent to the DLQ", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset,
			"want_partition", mp.want, "err", err)
		s.m.misplaced.WithLabelValues(kr.Topic).Inc()
	} else {
		s.log.Warn("undecodable input record sent to the DLQ", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "err", err)
	}
	s.m.poison.Inc()
	hs := make(map[string]string, len(kr.Headers)+8)
	for _, h := range kr.Headers {
		hs[h.Key] = string(h.Value)
	}
	for k, v := range (kafka.DLQInfo{Stage: "match", Reason: err.Error()}).From(kr).Headers() {
		hs[k] = v
	}
	return redisstate.OutEntry{Topic: s.topics.dlq, Key: kr.Key, Value: kr.Value, Headers: hs}
}

// misplacedError is a keyed record on another partition than the one
// Kafka's default partitioner gives its key.
type misplacedError struct {
	topic         string
	key           []byte
	got, want, of int32
}

func (e *misplacedError) Error() string {
	return fmt.Sprintf("misplaced: key %q belongs on partition %d of the %d of %s by Kafka's default (murmur2) partitioner, not on %d, "+
		"where its counterparts never arrive; produce with a murmur2 partitioner: the Java client's and kafka-python's default, "+
		"partitioner=murmur2_random for librdkafka-based clients (confluent-kafka, kcat), whose default is CRC32", e.key, e.want, e.of, e.topic, e.got)
}

// checkPlacement refuses a keyed input record on the wrong partition: the
// bank and ledger records of an account meet only on the partition their
// key hashes to.
func (s *Service) checkPlacement(ctx context.Context, kr *kgo.Record) error {
	n := s.partitionCount(ctx, kr.Topic)
	if n == 0 {
		return nil // unknown until the next assignment
	}
	if want := kafka.PartitionOf(kr.Key, n); want != kr.Partition {
		return &misplacedError{topic: kr.Topic, key: kr.Key, got: kr.Partition, want: want, of: n}
	}
	return nil
}

// partitionCount is topic's partition count (0: unknown), read once per
// assignment: a failed read is not retried for every record.
func (s *Service) partitionCount(ctx context.Context, topic string) int32 {
	s.mu.Lock()
	n, ok := s.partitions[topic]
	s.mu.Unlock()
	if ok {
		return n
	}
	tds, err := kadm.NewClient(s.prod).ListTopics(ctx, topic)
	if td, found := tds[topic]; err == nil && found && td.Err == nil {
		n = int32(len(td.Partitions))
	} else {
		s.log.Warn("partition count unknown until the next assignment; placement not checked", "topic", topic, "err", errors.Join(err, td.Err))
	}
	s.mu.Lock()
	s.partitions[topic] = n
	s.mu.Unlock()
	return n
}

func (s *Service) decodeTransaction(ctx context.Context, kr *kgo.Record, eng *engine.Engine) (*engine.Rec, error) {
	t, err := s.codecs.tx.Decode(ctx, kr.Value)
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
	if !money.ValidCode(t.Currency) {
		return nil, fmt.Errorf("currency %q: want an ISO 4217 alphabetic code in upper case (EUR, USD), as schemas/transaction.avsc says", t.Currency)
	}
	if t.Key() != string(kr.Key) {
		return nil, fmt.Errorf("key %q does not match the record's account|currency %q", kr.Key, t.Key())
	}
	if t.Amount.Scale() > money.MaxScale {
		return nil, errors.New("amount scale")
	}
	r := &engine.Rec{Item: record.ItemOf(t), Account: t.Account, Provisional: t.Provisional}
	if err := r.SetOriginal(t.Extra["original_currency"], t.Extra["original_amount"]); err != nil {
		return nil, err
	}
	eng.Prepare(r)
	return r, nil
}

// decodeResolution reads a person's resolution; one on the wrong key (so
// perhaps the wrong partition) or without an id is refused to the DLQ.
func (s *Service) decodeResolution(ctx context.Context, kr *kgo.Record) (*record.Resolution, error) {
	r, err := s.codecs.res.Decode(ctx, kr.Value)
	if err != nil {
		return nil, err
	}
	if r.ResolutionID == "" {
		return nil, errors.New("resolution without resolution_id")
	}
	if k := record.MatchKey(r.Account, r.Currency); k != string(kr.Key) {
		return nil, fmt.Errorf("key %q does not match the resolution's account|currency %q", kr.Key, k)
	}
	return r, nil
}

func (s *Service) decodeStatement(ctx context.Context, kr *kgo.Record) (*record.Statement, error) {
	st, err := s.codecs.stmt.Decode(ctx, kr.Value)
	if err == nil && !money.ValidCode(st.Currency) {
		err = fmt.Errorf("currency %q: want an ISO 4217 alphabetic code in upper case (EUR, USD), as schemas/statement.avsc says", st.Currency)
	}
	return st, err
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
	win, err := s.store.Load(ctx, p, ps.rules.eng.Prepare)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ps.offsets, ps.streamTime, ps.clock, ps.win = st.Offsets, st.StreamTime, st.Clock, win
	s.mu.Unlock()
	s.setPending(p, win.Pending())
	return nil
}

// publish sends a batch's outputs, just applied to partition p's outbox
// under ids, to Kafka and trims them from the outbox once acknowledged.
//
// A fenced instance (a zombie that lost the partition while paused) must
// not publish: the epoch is checked before every publication.
func (s *Service) publish(ctx context.Context, p int32, out []redisstate.OutEntry, ids []string) error {
	if len(out) == 0 || !s.stillOwner(ctx, p) {
		return nil
	}
	return s.send(ctx, p, out, ids)
}

// send produces outbox entries and, once Kafka acknowledged them, trims
// their outbox ids.
func (s *Service) send(ctx context.Context, p int32, out []redisstate.OutEntry, ids []string) error {
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
