package matcher

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/record"
)

// balancer keeps the two sides of a partition in step while a backlog is
// read. Kafka hands out the bank and the ledger topic at whatever pace
// its fetches give (bytes, not records, per partition), so on a backlog
// one side runs ahead and its records wait in the window for
// counterparts that are already on the other topic, unread: the window,
// and with it the heap and every index lookup, grows with the backlog.
// When one side of a partition holds more than lead pending records
// beyond the other while the other side's topic still has unread records,
// the side ahead is paused until the other has caught up to half that
// lead. A side is never paused while the other has nothing to read or has
// delivered nothing for stall (records that never come, an aborted
// transaction's tail), so a partition always moves; and pausing changes
// only the order records arrive in, which the decisions do not depend on.
type balancer struct {
	mu     sync.Mutex // the poll loop and the rebalance callbacks
	lead   int64
	stall  time.Duration
	sides  map[string]record.Side // the two transaction topics
	topics [2]string              // bank, ledger
	parts  map[tp]*sideState
	// writing: since when a transaction has been seen open on a topic
	// partition (a file being produced; see Service.inFlight). Its
	// records are on their way, so the other side is paused as if they
	// were unread, for at most maxInFlightHold.
	writing map[tp]time.Time
}

type tp struct {
	topic string
	p     int32
}

type sideState struct {
	next, end int64     // next offset to read, end of what is readable (last stable offset)
	progress  time.Time // last time records came
	// quiet is how many polls in a row did not deliver this side while it
	// had unread records and was not paused. Under load a poll can take
	// seconds, and a partition can go several polls without its turn, so
	// a side has stalled only after stallPolls such polls and stall.
	quiet  int
	paused bool
}

// stallPolls is how many polls in a row a side with unread records must go
// without delivering (and not paused) before it counts as stalled.
const stallPolls = 32

func newBalancer(lead int64, bank, ledger string) *balancer {
	return &balancer{lead: lead, stall: time.Second, sides: map[string]record.Side{bank: record.Bank, ledger: record.Ledger},
		topics: [2]string{bank, ledger}, parts: map[tp]*sideState{}, writing: map[tp]time.Time{}}
}

func (b *balancer) state(k tp) *sideState {
	s := b.parts[k]
	if s == nil {
		s = &sideState{next: -1, end: -1}
		b.parts[k] = s
	}
	return s
}

// seen takes what a poll returned: each transaction partition's position
// and readable end.
func (b *balancer) seen(f kgo.Fetches, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delivered := map[tp]bool{}
	f.EachPartition(func(p kgo.FetchTopicPartition) {
		if _, ok := b.sides[p.Topic]; !ok {
			return
		}
		s := b.state(tp{p.Topic, p.Partition})
		end := p.LastStableOffset
		if end < 0 {
			end = p.HighWatermark
		}
		s.end = max(s.end, end)
		if n := len(p.Records); n > 0 {
			s.next = p.Records[n-1].Offset + 1
			s.progress, s.quiet = now, 0
			delivered[tp{p.Topic, p.Partition}] = true
		}
	})
	for k, s := range b.parts {
		if !delivered[k] && !s.paused && s.next >= 0 && s.next < s.end {
			s.quiet++
		}
	}
}

// unread reports whether the side has records left to read and has been
// delivering them (see sideState.quiet).
func (s *sideState) unread(now time.Time, stall time.Duration) bool {
	return s != nil && s.next >= 0 && s.next < s.end && (s.quiet < stallPolls || now.Sub(s.progress) < stall)
}

// coming reports whether records of topic partition k are on their way:
// unread, or being written in an open transaction.
func (b *balancer) coming(k tp, now time.Time) bool {
	if b.parts[k].unread(now, b.stall) {
		return true
	}
	since, ok := b.writing[k]
	return ok && now.Sub(since) < maxInFlightHold
}

// wrote takes what the broker said is being written (Service.inFlight).
func (b *balancer) wrote(open map[tp]bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.writing {
		if !open[k] {
			delete(b.writing, k)
		}
	}
	for k := range open {
		if _, ok := b.writing[k]; !ok {
			b.writing[k] = now
		}
	}
}

// uneven reports whether a side of some partition is more than half the
// lead ahead of the other: whether what is being written matters now.
func (b *balancer) uneven(pending map[int32]map[record.Side]int64) bool {
	if b.lead <= 0 {
		return false
	}
	for _, by := range pending {
		if d := by[record.Bank] - by[record.Ledger]; d > b.lead/2 || -d > b.lead/2 {
			return true
		}
	}
	return false
}

// decide returns what to pause and resume given each partition's pending
// counts.
func (b *balancer) decide(pending map[int32]map[record.Side]int64, now time.Time) (pause, resume map[string][]int32) {
	pause, resume = map[string][]int32{}, map[string][]int32{}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lead <= 0 {
		return pause, resume
	}
	for p, by := range pending {
		for i, t := range b.topics {
			other := b.topics[1-i]
			me, them := b.state(tp{t, p}), tp{other, p}
			ahead := by[b.sides[t]] - by[b.sides[other]]
			switch {
			case !me.paused && ahead > b.lead && b.coming(them, now) && !b.state(them).paused:
				me.paused = true
				pause[t] = append(pause[t], p)
			case me.paused && (ahead <= b.lead/2 || !b.coming(them, now)):
				me.paused = false
				resume[t] = append(resume[t], p)
			}
		}
	}
	return pause, resume
}

// drop forgets revoked partitions and returns those of them that were
// paused, to resume.
func (b *balancer) drop(revoked map[string][]int32) map[string][]int32 {
	resume := map[string][]int32{}
	b.mu.Lock()
	defer b.mu.Unlock()
	for t, ps := range revoked {
		for _, p := range ps {
			if s := b.parts[tp{t, p}]; s != nil && s.paused {
				resume[t] = append(resume[t], p)
			}
			delete(b.parts, tp{t, p})
			delete(b.writing, tp{t, p})
		}
	}
	return resume
}

// backlog reports whether either side of partition p is reading a
// backlog: it has committed records beyond those delivered so far, and
// has been delivering them or is paused (a side that stalled is not).
// Its windows wait meanwhile (see decide.Move.Wait): a file is one
// transaction, committed whole and read in the order it was written, not
// in date order, so a counterpart of a waiting record can still be in
// the unread part of the other side's file while that side's time
// already shows the file's last date.
func (b *balancer) backlog(p int32, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.topics {
		if b.parts[tp{t, p}].unread(now, b.stall) {
			return true
		}
	}
	return false
}

// balance pauses and resumes the transaction topics' partitions after a
// round (see balancer) whose fetches the balancer has seen.
func (s *Service) balance(now time.Time) {
	s.mu.Lock()
	pending := make(map[int32]map[record.Side]int64, len(s.pendingBy))
	for p, by := range s.pendingBy {
		pending[p] = by
	}
	s.mu.Unlock()
	if s.bal.uneven(pending) {
		// One side is ahead: is the other side's file being written?
		open, err := s.inFlight(context.Background())
		if err != nil {
			s.log.Warn("balance: could not ask for open transactions", "err", err)
		} else {
			s.bal.wrote(open, now)
		}
	}
	pause, resume := s.bal.decide(pending, now)
	if len(pause) > 0 {
		s.cl.PauseFetchPartitions(pause)
		s.m.paused.Add(float64(count(pause)))
	}
	if len(resume) > 0 {
		s.cl.ResumeFetchPartitions(resume)
	}
}

func count(m map[string][]int32) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}
