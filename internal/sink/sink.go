// Package sink is the consume loop of a service that stores what it reads
// in a database together with the offsets it covers: the loader (the
// warehouse) and the console (its case store). It reads with
// read_committed, gathers batches by size and time, decodes each batch once
// and writes it, retrying the write with backoff until it succeeds (the
// poll waits meanwhile: backpressure, memory bounded by one batch).
// Offsets are never committed to Kafka: on assignment every partition
// resumes from the offset stored in the database, so a crash between the
// write and anything after it loses and duplicates nothing.
package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
)

// Offset is the next offset of a partition, stored with a batch.
type Offset struct {
	Topic     string
	Partition int32
	Next      int64
}

// Store is what a sink writes to.
type Store[B any] interface {
	// Offsets returns the stored next offsets of group: topic -> partition -> offset.
	Offsets(ctx context.Context, group string) (map[string]map[int32]int64, error)
	// Decode turns a batch of records into what Write stores, with next,
	// the offsets after them. It runs once per batch: an undecodable
	// record is dead-lettered here, not again on a retried write.
	Decode(ctx context.Context, recs []*kgo.Record, next []Offset) (B, error)
	// Write stores b and its offsets in one transaction; it is idempotent
	// (a batch read again after a crash changes nothing).
	Write(ctx context.Context, b B) error
}

// Config is how a sink consumes.
type Config struct {
	Kafka         kafka.Config
	Group         string
	Topics        []string
	BatchSize     int
	BatchInterval time.Duration
	ClientID      string // the Kafka client id
	// OnWriteError is called for every failed write before its retry
	// (from several goroutines when Writers > 1).
	OnWriteError func(error)
	// Writers splits each batch by partition number into this many
	// shares, decoded and written concurrently, each in its own
	// transaction with the offsets of its own partitions (0 or 1: one).
	// The store must take concurrent writes.
	Writers int
}

// Consumer is a running sink.
type Consumer[B any] struct {
	cfg   Config
	store Store[B]
	log   *slog.Logger
	cl    *kgo.Client

	written atomic.Int64 // records whose batch was written

	mu      sync.Mutex
	lastErr error
}

// New prepares the consumer.
func New[B any](cfg Config, store Store[B], log *slog.Logger) (*Consumer[B], error) {
	c := &Consumer[B]{cfg: cfg, store: store, log: log}
	cl, err := kafka.NewClient(cfg.Kafka,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(c.resume),
		kgo.ClientID(cfg.ClientID),
	)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	return c, nil
}

// Client is the consumer's Kafka client (to send dead letters with).
func (c *Consumer[B]) Client() *kgo.Client { return c.cl }

// Written is the number of records (dead letters included) whose batch
// was written since start.
func (c *Consumer[B]) Written() int64 { return c.written.Load() }

// LastErr is the error of the last write (nil once one succeeded).
func (c *Consumer[B]) LastErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// resume starts every assigned partition at the stored offset (or the
// start, when none is stored).
func (c *Consumer[B]) resume(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	stored, err := c.store.Offsets(ctx, c.cfg.Group)
	if err != nil {
		return nil, err
	}
	for t, ps := range offs {
		for p := range ps {
			if o, ok := stored[t][p]; ok {
				ps[p] = kgo.NewOffset().At(o).WithEpoch(-1)
			} else {
				ps[p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return offs, nil
}

// Run consumes until ctx ends; the batch in hand is written before it
// returns. It closes the client.
func (c *Consumer[B]) Run(ctx context.Context) error {
	defer c.cl.Close()
	for ctx.Err() == nil {
		recs := c.poll(ctx)
		if len(recs) > 0 {
			if err := c.writeWithRetry(ctx, recs); err != nil {
				c.cl.AllowRebalance()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		c.cl.AllowRebalance()
	}
	return nil
}

// poll gathers up to BatchSize records, waiting at most BatchInterval once
// the first record is in hand.
func (c *Consumer[B]) poll(ctx context.Context) []*kgo.Record {
	var recs []*kgo.Record
	deadline := time.Time{}
	for len(recs) < c.cfg.BatchSize {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			pctx, cancel = context.WithDeadline(ctx, deadline)
		}
		f := c.cl.PollRecords(pctx, c.cfg.BatchSize-len(recs))
		cancel()
		f.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				c.log.Error("fetch failed", "topic", t, "partition", p, "err", err)
			}
		})
		f.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		if len(recs) > 0 && deadline.IsZero() {
			deadline = time.Now().Add(c.cfg.BatchInterval)
		}
		if len(recs) == 0 && f.Empty() {
			break
		}
	}
	return recs
}

// NextOffsets are the offsets after recs, one per partition.
func NextOffsets(recs []*kgo.Record) []Offset {
	next := map[string]map[int32]int64{}
	for _, r := range recs {
		if next[r.Topic] == nil {
			next[r.Topic] = map[int32]int64{}
		}
		next[r.Topic][r.Partition] = r.Offset + 1
	}
	var out []Offset
	for t, ps := range next {
		for p, o := range ps {
			out = append(out, Offset{Topic: t, Partition: p, Next: o})
		}
	}
	return out
}

// writeWithRetry writes a polled batch: whole, or split by partition
// number into Writers shares written concurrently. A partition's records
// (of every topic) stay in one share, in their order, so each share's
// transaction stores exactly the offsets of what it wrote.
func (c *Consumer[B]) writeWithRetry(ctx context.Context, recs []*kgo.Record) error {
	if c.cfg.Writers <= 1 {
		return c.writeShare(ctx, recs)
	}
	shares := make([][]*kgo.Record, c.cfg.Writers)
	for _, r := range recs {
		i := int(r.Partition) % c.cfg.Writers
		shares[i] = append(shares[i], r)
	}
	errs := make([]error, len(shares))
	var wg sync.WaitGroup
	for i, sh := range shares {
		if len(sh) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.writeShare(ctx, sh)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeShare decodes records once and writes them, retrying failures
// with backoff (200 ms doubling to 30 s) until it succeeds or ctx ends.
func (c *Consumer[B]) writeShare(ctx context.Context, recs []*kgo.Record) error {
	b, err := c.store.Decode(ctx, recs, NextOffsets(recs))
	if err != nil {
		return err
	}
	backoff := 200 * time.Millisecond
	for {
		err := c.store.Write(ctx, b)
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		if err == nil {
			c.written.Add(int64(len(recs)))
			return nil
		}
		if c.cfg.OnWriteError != nil {
			c.cfg.OnWriteError(err)
		}
		c.log.Warn("write failed, retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}
