// Package loader sinks matches and breaks into the warehouse. It reads both
// topics with read_committed, batches by size and time, and writes each
// batch and the offsets it covers in one database transaction. Offsets are
// never committed to Kafka: on assignment the loader resumes from the
// offsets stored in the warehouse, so a crash between the write and any
// acknowledgement loses and duplicates nothing.
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/internal/warehouse"
)

// Config is the loader's configuration. Start from Defaults.
type Config struct {
	Kafka          kafka.Config
	Group          string
	SchemaRegistry avro.RegistryConfig
	// DatabaseURL: postgres://…, redshift://… or sqlite:PATH.
	DatabaseURL string
	// BatchSize and BatchInterval bound a batch: whichever comes first.
	BatchSize     int
	BatchInterval time.Duration
}

// Defaults is the configuration the settings, `recon up` and the tests
// start from.
func Defaults() Config {
	return Config{Kafka: kafka.Defaults("recon-loader"), Group: "recon-loader", BatchSize: 5000, BatchInterval: time.Second}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *Config) Register(l *config.Loader) {
	c.Kafka.Register(l)
	c.SchemaRegistry.Register(l)
	l.String(&c.Group, "group", c.Group, "consumer group over matches and breaks")
	l.String(&c.DatabaseURL, "database-url", c.DatabaseURL, "warehouse: postgres://…, redshift://… or sqlite:PATH")
	l.Int(&c.BatchSize, "batch-size", c.BatchSize, "records per warehouse transaction at most")
	l.Duration(&c.BatchInterval, "batch-interval", c.BatchInterval, "longest wait to fill a batch")
}

// Validate reports every configuration mistake at once. It reads no file
// and changes nothing.
func (c Config) Validate() error {
	errs := []error{c.Kafka.Validate()}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database-url is empty"))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, errors.New("batch-size must be positive"))
	}
	if c.BatchInterval <= 0 {
		errs = append(errs, errors.New("batch-interval must be positive"))
	}
	return errors.Join(errs...)
}

// Deps are what the loader is given.
type Deps struct {
	Log     *slog.Logger
	Metrics prometheus.Registerer // Prometheus registry of the service's metrics
	// Store overrides DatabaseURL.
	Store warehouse.Store
}

// Service is a running loader.
type Service struct {
	cfg     Config
	log     *slog.Logger
	store   warehouse.Store
	cl      *kgo.Client
	mc      *avro.Codec[record.Match]
	bc      *avro.Codec[record.Break]
	topics  struct{ matches, breaks string }
	m       *metrics
	ready   atomic.Bool
	loaded  atomic.Int64
	mu      sync.Mutex
	lastErr error
}

type metrics struct {
	rows     *prometheus.CounterVec
	batches  prometheus.Counter
	duration prometheus.Histogram
	errors   prometheus.Counter
	poison   prometheus.Counter
}

// New opens the warehouse, migrates it and prepares the consumer.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	deps.Log, deps.Metrics = telemetry.Defaults(deps.Log, deps.Metrics)
	s := &Service{cfg: cfg, log: deps.Log.With("service", "loader"), store: deps.Store}
	s.topics.matches, s.topics.breaks = cfg.Kafka.Topic(kafka.TopicMatches), cfg.Kafka.Topic(kafka.TopicBreaks)
	s.m = &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_loader_rows_total",
			Help: "Rows written to the warehouse, by table (replays included)."}, []string{"table"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_loader_batches_total",
			Help: "Batches committed to the warehouse."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recon_loader_batch_duration_seconds",
			Help: "Time to write one batch.", Buckets: prometheus.ExponentialBuckets(0.002, 2.5, 12)}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_loader_errors_total",
			Help: "Failed batch writes (retried)."}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_loader_poison_records_total",
			Help: "Undecodable records sent to the DLQ."}),
	}
	for _, c := range []prometheus.Collector{s.m.rows, s.m.batches, s.m.duration, s.m.errors, s.m.poison} {
		if err := deps.Metrics.Register(c); err != nil {
			return nil, err
		}
	}
	if s.store == nil {
		st, err := warehouse.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		s.store = st
	}
	if err := s.store.Migrate(ctx); err != nil {
		return nil, err
	}
	reg, err := cfg.SchemaRegistry.Open()
	if err != nil {
		return nil, err
	}
	if s.mc, err = avro.NewMatchCodec(ctx, reg, s.topics.matches+"-value"); err != nil {
		return nil, err
	}
	if s.bc, err = avro.NewBreakCodec(ctx, reg, s.topics.breaks+"-value"); err != nil {
		return nil, err
	}
	s.cl, err = kafka.NewClient(cfg.Kafka,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(s.topics.matches, s.topics.breaks),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.resume),
		kgo.ClientID(cfg.Kafka.WithDefaults().ClientID+"-loader"),
	)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// resume starts every assigned partition at the offset stored in the
// warehouse (or the start, when none is stored).
func (s *Service) resume(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	stored, err := s.store.Offsets(ctx, s.cfg.Group)
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

// Loaded is the number of records (matches and breaks) written since start.
func (s *Service) Loaded() int64 { return s.loaded.Load() }

// Ready reports whether the loader consumes and its last write worked.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("not consuming")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Run loads until ctx ends; the batch in hand is written before it returns.
func (s *Service) Run(ctx context.Context) error {
	defer s.store.Close()
	defer s.cl.Close()
	s.ready.Store(true)
	defer s.ready.Store(false)
	for ctx.Err() == nil {
		recs := s.poll(ctx)
		if len(recs) > 0 {
			if err := s.writeWithRetry(ctx, recs); err != nil {
				s.cl.AllowRebalance()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		s.cl.AllowRebalance()
	}
	return nil
}

// poll gathers up to BatchSize records, waiting at most BatchInterval once
// the first record is in hand.
func (s *Service) poll(ctx context.Context) []*kgo.Record {
	var recs []*kgo.Record
	deadline := time.Time{}
	for len(recs) < s.cfg.BatchSize {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			pctx, cancel = context.WithDeadline(ctx, deadline)
		}
		f := s.cl.PollRecords(pctx, s.cfg.BatchSize-len(recs))
		cancel()
		f.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.log.Error("fetch failed", "topic", t, "partition", p, "err", err)
			}
		})
		f.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		if len(recs) > 0 && deadline.IsZero() {
			deadline = time.Now().Add(s.cfg.BatchInterval)
		}
		if len(recs) == 0 && f.Empty() {
			break
		}
	}
	return recs
}

// writeWithRetry writes the batch, retrying transient database failures with
// backoff. Consumption waits meanwhile (backpressure), so memory stays
// bounded by one batch.
func (s *Service) writeWithRetry(ctx context.Context, recs []*kgo.Record) error {
	b, err := s.batch(ctx, recs)
	if err != nil {
		return err
	}
	backoff := 200 * time.Millisecond
	for {
		start := time.Now()
		err := s.store.Write(ctx, s.cfg.Group, b)
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		if err == nil {
			s.m.duration.Observe(time.Since(start).Seconds())
			s.m.batches.Inc()
			m, it, br, cl := b.Rows()
			s.m.rows.WithLabelValues("recon_matches").Add(float64(m))
			s.m.rows.WithLabelValues("recon_match_items").Add(float64(it))
			s.m.rows.WithLabelValues("recon_breaks").Add(float64(br))
			s.m.rows.WithLabelValues("recon_break_clears").Add(float64(cl))
			s.loaded.Add(int64(len(recs)))
			return nil
		}
		s.m.errors.Inc()
		s.log.Warn("warehouse write failed, retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// batch decodes records into a warehouse batch with the offsets after them.
// An undecodable record cannot be loaded: it goes to the DLQ (and its
// offset is stored with the batch, so the partition does not stall).
func (s *Service) batch(ctx context.Context, recs []*kgo.Record) (*warehouse.Batch, error) {
	b := &warehouse.Batch{}
	next := map[string]map[int32]int64{}
	for _, r := range recs {
		if next[r.Topic] == nil {
			next[r.Topic] = map[int32]int64{}
		}
		next[r.Topic][r.Partition] = r.Offset + 1
		switch r.Topic {
		case s.topics.matches:
			m, err := s.mc.Decode(ctx, r.Value)
			if err != nil {
				if err := s.deadLetter(ctx, r, err); err != nil {
					return nil, err
				}
				continue
			}
			b.Matches = append(b.Matches, m)
		case s.topics.breaks:
			br, err := s.bc.Decode(ctx, r.Value)
			if err != nil {
				if err := s.deadLetter(ctx, r, err); err != nil {
					return nil, err
				}
				continue
			}
			b.Breaks = append(b.Breaks, br)
		default:
			return nil, fmt.Errorf("record from unexpected topic %s", r.Topic)
		}
	}
	for t, ps := range next {
		for p, o := range ps {
			b.Offsets = append(b.Offsets, warehouse.Offset{Topic: t, Partition: p, Next: o})
		}
	}
	return b, nil
}

func (s *Service) deadLetter(ctx context.Context, r *kgo.Record, cause error) error {
	s.log.Error("undecodable record sent to the DLQ", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", cause)
	s.m.poison.Inc()
	return kafka.DeadLetter(ctx, s.cl, s.cfg.Kafka.Topic(kafka.TopicDLQ), r, "load", cause)
}
