package matcher

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// maxInFlightHold bounds how long an open transaction on an input
// partition can hold back that partition's idle advancement: Kafka's
// default transaction.max.timeout.ms. A broker aborts a transaction
// whose producer went quiet within its timeout, so this cap only matters
// for a transaction that hangs (a broker fault); then windows close
// anyway, and the matcher says so.
const maxInFlightHold = 15 * time.Minute

// inFlight returns the input topic partitions that hold records of a
// transaction that is still open: the high watermark (what has been
// written) is beyond the last stable offset (what a read-committed
// consumer may read). Such a partition is not quiet: a file is being
// produced to it right now (a large file is one transaction, and may take
// longer than idle-advance), so moving its time to today would break the
// records waiting for that file, and reading the other side ahead of it
// only fills the window (see balancer).
//
// The answer is kept for a second: the balancer and the idle advancement
// both ask after a poll (the poll loop's goroutine, one at a time).
func (s *Service) inFlight(ctx context.Context) (map[tp]bool, error) {
	if now := time.Now(); now.Sub(s.inFlightAt) >= time.Second {
		s.inFlightAt = now
		s.inFlightOpen, s.inFlightErr = s.openTransactions(ctx)
	}
	return s.inFlightOpen, s.inFlightErr
}

// openTransactions asks the broker (see inFlight).
func (s *Service) openTransactions(ctx context.Context) (map[tp]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	adm := kadm.NewClient(s.prod)
	topics := []string{s.topics.bank, s.topics.ledger, s.topics.stmt}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	stable, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	open := map[tp]bool{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		if st, ok := stable.Lookup(o.Topic, o.Partition); ok && st.Err == nil && o.Offset > st.Offset {
			open[tp{o.Topic, o.Partition}] = true
		}
	})
	return open, nil
}

// openOn reports whether any input topic of partition p is in open.
func openOn(open map[tp]bool, p int32) bool {
	for k := range open {
		if k.p == p {
			return true
		}
	}
	return false
}
