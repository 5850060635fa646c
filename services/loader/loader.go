// Package loader sinks matches, breaks, the outcomes of people's
// resolutions and period sign-offs into the warehouse. It reads the topics with read_committed, batches by size and time, and writes each
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
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/sink"
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
	// Writers is how many transactions write a batch concurrently, each
	// over its share of the partitions (PostgreSQL only: SQLite takes one
	// writer, and Redshift's serializable transactions would conflict).
	Writers int
	// Staging (Redshift): batches go as gzip CSV objects with a manifest
	// under this S3 location and are loaded with COPY; empty: staged
	// INSERTs.
	Staging warehouse.Staging
}

// Defaults is the configuration the settings, `recon up` and the tests
// start from.
func Defaults() Config {
	return Config{Kafka: kafka.Defaults("recon-loader"), Group: "recon-loader", BatchSize: 50000, BatchInterval: time.Second, Writers: 2}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *Config) Register(l *config.Loader) {
	c.Kafka.Register(l)
	c.SchemaRegistry.Register(l)
	l.String(&c.Group, "group", c.Group, "consumer group over matches and breaks")
	l.String(&c.DatabaseURL, "database-url", c.DatabaseURL, "warehouse: postgres://…, redshift://… or sqlite:PATH")
	l.Int(&c.BatchSize, "batch-size", c.BatchSize, "records per warehouse transaction at most")
	l.Duration(&c.BatchInterval, "batch-interval", c.BatchInterval, "longest wait to fill a batch")
	l.String(&c.Staging.URL, "redshift-staging", c.Staging.URL, "Redshift bulk path: s3://bucket/prefix where each batch is staged as gzip CSV with a manifest and loaded with COPY (empty: staged INSERTs)")
	l.String(&c.Staging.IAMRole, "redshift-iam-role", c.Staging.IAMRole, "ARN of the IAM role Redshift assumes to read the staged objects (COPY … IAM_ROLE)")
	l.String(&c.Staging.Region, "redshift-staging-region", c.Staging.Region, "region of the staging bucket (empty: the AWS default)")
	l.String(&c.Staging.Endpoint, "redshift-staging-endpoint", c.Staging.Endpoint, "S3 endpoint of the staging bucket for S3-compatible stores (empty: AWS)")
	l.Bool(&c.Staging.PathStyle, "redshift-staging-path-style", c.Staging.PathStyle, "path-style addressing of the staging bucket")
	l.Int(&c.Writers, "writers", c.Writers, "concurrent warehouse transactions per batch, each over its share of the partitions (PostgreSQL; SQLite and Redshift: 1)")
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
	if c.Staging.URL != "" && !strings.HasPrefix(c.DatabaseURL, "redshift://") {
		errs = append(errs, errors.New("redshift-staging is for a redshift:// database-url"))
	}
	if c.Staging.URL != "" && c.Staging.IAMRole == "" {
		errs = append(errs, errors.New("redshift-staging needs redshift-iam-role (the role Redshift reads the staged objects with)"))
	}
	if c.Writers <= 0 {
		errs = append(errs, errors.New("writers must be positive"))
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
	cfg    Config
	log    *slog.Logger
	store  warehouse.Store
	sink   *sink.Consumer[*warehouse.Batch]
	mc     *avro.Codec[record.Match]
	bc     *avro.Codec[record.Break]
	oc     *avro.Codec[record.Outcome]
	sc     *avro.Codec[record.SignOff]
	topics struct{ matches, breaks, outcomes, signoffs string }
	m      *metrics
	ready  atomic.Bool
}

type metrics struct {
	rows     *prometheus.CounterVec
	batches  prometheus.Counter
	duration prometheus.Histogram
	errors   prometheus.Counter
	poison   prometheus.Counter
	// lag: records of each topic not yet in the warehouse (the topic's
	// end offsets minus the offsets stored with the data).
	lag *prometheus.GaugeVec
}

// New opens the warehouse, migrates it and prepares the consumer.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	deps.Log, deps.Metrics = telemetry.Defaults(deps.Log, deps.Metrics)
	s := &Service{cfg: cfg, log: deps.Log.With("service", "loader"), store: deps.Store}
	s.topics.matches, s.topics.breaks = cfg.Kafka.Topic(kafka.TopicMatches), cfg.Kafka.Topic(kafka.TopicBreaks)
	s.topics.outcomes, s.topics.signoffs = cfg.Kafka.Topic(kafka.TopicOutcomes), cfg.Kafka.Topic(kafka.TopicSignoffs)
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
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recon_loader_lag_records",
			Help: "Records of each topic not yet in the warehouse: the topic's end offsets minus the offsets stored with the data (every 10 s)."}, []string{"topic"}),
	}
	for _, t := range []string{s.topics.matches, s.topics.breaks, s.topics.outcomes, s.topics.signoffs} {
		s.m.lag.WithLabelValues(t)
	}
	for _, c := range []prometheus.Collector{s.m.rows, s.m.batches, s.m.duration, s.m.errors, s.m.poison, s.m.lag} {
		if err := deps.Metrics.Register(c); err != nil {
			return nil, err
		}
	}
	if s.store == nil {
		var o warehouse.Options
		if cfg.Staging.URL != "" {
			stg := cfg.Staging
			o.Staging = &stg
		}
		st, err := warehouse.OpenWith(ctx, cfg.DatabaseURL, o)
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
	if s.oc, err = avro.NewOutcomeCodec(ctx, reg, s.topics.outcomes+"-value"); err != nil {
		return nil, err
	}
	if s.sc, err = avro.NewSignOffCodec(ctx, reg, s.topics.signoffs+"-value"); err != nil {
		return nil, err
	}
	s.sink, err = sink.New(sink.Config{Kafka: cfg.Kafka, Group: cfg.Group,
		Topics:    []string{s.topics.matches, s.topics.breaks, s.topics.outcomes, s.topics.signoffs},
		BatchSize: cfg.BatchSize, BatchInterval: cfg.BatchInterval, ClientID: cfg.Kafka.WithDefaults().ClientID + "-loader",
		OnWriteError: func(error) { s.m.errors.Inc() }, Writers: writers(cfg, s.store)}, (*warehouseSink)(s), s.log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// writers is how many transactions write concurrently: Writers where the
// warehouse takes concurrent writes (PostgreSQL), one elsewhere.
func writers(cfg Config, st warehouse.Store) int {
	if warehouse.ConcurrentWrites(st) {
		return cfg.Writers
	}
	return 1
}

// Loaded is the number of records (matches and breaks) written since start.
func (s *Service) Loaded() int64 { return s.sink.Written() }

// Ready reports whether the loader consumes and its last write worked.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("not consuming")
	}
	return s.sink.LastErr()
}

// Run loads until ctx ends; the batch in hand is written before it returns.
func (s *Service) Run(ctx context.Context) error {
	defer s.store.Close()
	s.ready.Store(true)
	defer s.ready.Store(false)
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go s.watchLag(lagCtx)
	return s.sink.Run(ctx)
}

// watchLag sets recon_loader_lag_records every 10 seconds until ctx ends.
func (s *Service) watchLag(ctx context.Context) {
	cl, err := kafka.NewClient(s.cfg.Kafka, kgo.ClientID(s.cfg.Kafka.WithDefaults().ClientID+"-loader-lag"))
	if err != nil {
		s.log.Warn("no loader lag metric", "err", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := []string{s.topics.matches, s.topics.breaks, s.topics.outcomes, s.topics.signoffs}
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		if err := s.updateLag(ctx, adm, topics); err != nil && ctx.Err() == nil {
			s.log.Debug("loader lag", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) updateLag(ctx context.Context, adm *kadm.Client, topics []string) error {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(lctx, topics...)
	if err != nil {
		return err
	}
	done, err := s.store.Offsets(lctx, s.cfg.Group)
	if err != nil {
		return err
	}
	lag := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			lag[o.Topic] += max(o.Offset-done[o.Topic][o.Partition], 0)
		}
	})
	for _, t := range topics {
		s.m.lag.WithLabelValues(t).Set(float64(lag[t]))
	}
	return nil
}

// warehouseSink is the loader as the sink's store: matches and breaks
// decoded into a warehouse batch, written with its offsets.
type warehouseSink Service

func (w *warehouseSink) Offsets(ctx context.Context, group string) (map[string]map[int32]int64, error) {
	return w.store.Offsets(ctx, group)
}

// Decode turns records into a warehouse batch with the offsets after them.
// An undecodable record cannot be loaded: it goes to the DLQ (and its
// offset is stored with the batch, so the partition does not stall).
func (w *warehouseSink) Decode(ctx context.Context, recs []*kgo.Record, next []sink.Offset) (*warehouse.Batch, error) {
	s := (*Service)(w)
	b := &warehouse.Batch{}
	for _, r := range recs {
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
		case s.topics.outcomes:
			o, err := s.oc.Decode(ctx, r.Value)
			if err != nil {
				if err := s.deadLetter(ctx, r, err); err != nil {
					return nil, err
				}
				continue
			}
			b.Outcomes = append(b.Outcomes, warehouse.Outcome{Outcome: o, Seq: r.Offset})
		case s.topics.signoffs:
			so, err := s.sc.Decode(ctx, r.Value)
			if err != nil {
				if err := s.deadLetter(ctx, r, err); err != nil {
					return nil, err
				}
				continue
			}
			b.SignOffs = append(b.SignOffs, so)
		default:
			return nil, fmt.Errorf("record from unexpected topic %s", r.Topic)
		}
	}
	for _, o := range next {
		b.Offsets = append(b.Offsets, warehouse.Offset{Topic: o.Topic, Partition: o.Partition, Next: o.Next})
	}
	return b, nil
}

// Write stores a batch and counts it.
func (w *warehouseSink) Write(ctx context.Context, b *warehouse.Batch) error {
	start := time.Now()
	if err := w.store.Write(ctx, w.cfg.Group, b); err != nil {
		return err
	}
	w.m.duration.Observe(time.Since(start).Seconds())
	w.m.batches.Inc()
	for table, n := range warehouse.Written(w.store, b) {
		w.m.rows.WithLabelValues(table).Add(float64(n))
	}
	return nil
}

func (s *Service) deadLetter(ctx context.Context, r *kgo.Record, cause error) error {
	s.log.Error("undecodable record sent to the DLQ", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", cause)
	s.m.poison.Inc()
	return kafka.DeadLetter(ctx, s.sink.Client(), s.cfg.Kafka.Topic(kafka.TopicDLQ), r, "load", cause)
}
