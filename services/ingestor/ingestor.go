// Package ingestor turns statement and ledger files into transaction
// records. Files arrive as S3 event notifications on recon.file-events or
// on an SQS queue (read from S3 or an S3-compatible store), or in a local
// inbox folder; each file is
// detected by content, parsed, and produced in one Kafka transaction: its
// records keyed by account|currency, its bad entries to recon.dlq, and its
// outcome to recon.files. A file whose digest was already ingested is
// skipped, so a file delivered twice is ingested once.
package ingestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/csvformat"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/parse"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/s3event"
	"github.com/openrecon/recon/internal/telemetry"
)

// Deps are what the ingestor is given rather than builds.
type Deps struct {
	Log     *slog.Logger
	Metrics prometheus.Registerer // Prometheus registry of the service's metrics
	// Store overrides the S3 client built from Config.S3 (tests).
	Store objectStore
	// BeforeSQSDelete runs after an SQS message's files (one or more)
	// committed and
	// before the message is deleted; an error stops the ingestor there
	// (tests: a crash between the two).
	BeforeSQSDelete func(messageID string) error
}

// Service is a running ingestor.
type Service struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	store objectStore

	prod   *kgo.Client // transactional producer
	codecs struct {
		tx   *avro.Codec[record.Transaction]
		stmt *avro.Codec[record.Statement]
		file *avro.Codec[record.FileEvent]
	}

	ledger   *fileLedger
	detector *parse.Detector
	ready    atomic.Bool
	mu       sync.Mutex // one file at a time through the transactional producer

	beforeDelete func(messageID string) error
}

// New connects to Kafka, provisions topics and loads the file ledger.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	deps.Log, deps.Metrics = telemetry.Defaults(deps.Log, deps.Metrics)
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: deps.Log.With("service", "ingestor"), m: m, store: deps.Store, beforeDelete: deps.BeforeSQSDelete}
	var profiles []*csvformat.Profile
	if cfg.CSVProfiles != "" {
		if profiles, err = csvformat.LoadProfiles(cfg.CSVProfiles); err != nil {
			return nil, err
		}
	}
	s.detector = parse.NewDetector(profiles...)
	if s.store == nil && (cfg.ConsumeEvents || cfg.SQS.QueueURL != "") {
		st, err := newS3Store(ctx, cfg.S3)
		if err != nil {
			return nil, err
		}
		s.store = st
	}
	s.prod, err = kafka.NewProducer(ctx, cfg.Kafka,
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(50_000),
	)
	if err != nil {
		return nil, err
	}
	reg, err := cfg.SchemaRegistry.Open()
	if err != nil {
		s.prod.Close()
		return nil, err
	}
	subject := func(topic string) string { return s.cfg.Kafka.Topic(topic) + "-value" }
	if s.codecs.tx, err = avro.NewTransactionCodec(ctx, reg, subject(kafka.TopicBankTransactions)); err == nil {
		_, err = avro.NewTransactionCodec(ctx, reg, subject(kafka.TopicLedgerTransactions))
	}
	if err == nil {
		s.codecs.stmt, err = avro.NewStatementCodec(ctx, reg, subject(kafka.TopicBankStatements))
	}
	if err == nil {
		s.codecs.file, err = avro.NewFileEventCodec(ctx, reg, subject(kafka.TopicFiles))
	}
	if err != nil {
		s.prod.Close()
		return nil, err
	}
	s.ledger, err = loadFileLedger(ctx, cfg.Kafka, s.codecs.file, s.log)
	if err != nil {
		s.prod.Close()
		return nil, err
	}
	return s, nil
}

// Ready reports whether the service has loaded its state and is consuming.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("starting")
	}
	return nil
}

// Close releases the Kafka clients; Run calls it on return.
func (s *Service) Close() {
	s.ledger.close()
	s.prod.Close()
}

// Run consumes file events and watches the inbox until ctx ends, then
// finishes the file in hand and returns.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	if s.cfg.ConsumeEvents {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- s.consumeEvents(ctx) }()
	}
	if s.cfg.SQS.QueueURL != "" {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- s.consumeSQS(ctx) }()
	}
	if s.cfg.Inbox != "" {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- s.watchInbox(ctx) }()
	}
	s.ready.Store(true)
	s.log.Info("ingestor started", "inbox", s.cfg.Inbox, "consume_events", s.cfg.ConsumeEvents, "sqs_queue", s.cfg.SQS.QueueURL)
	var first error
	go func() { wg.Wait(); close(errc) }()
	for err := range errc {
		if err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
	}
	s.ready.Store(false)
	return first
}

// consumeEvents reads recon.file-events and ingests every object announced,
// committing an event's offset only once all its files are done.
func (s *Service) consumeEvents(ctx context.Context) error {
	cl, err := kafka.NewClient(s.cfg.Kafka,
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Kafka.Topic(kafka.TopicFileEvents)),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID(s.cfg.Kafka.ClientID+"-events"),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.log.Error("fetch failed", "topic", t, "partition", p, "err", err)
		})
		var done []*kgo.Record
		var stop error
		fetches.EachRecord(func(r *kgo.Record) {
			if stop != nil {
				return
			}
			if err := s.handleEvent(ctx, r); err != nil {
				stop = err
				return
			}
			done = append(done, r)
		})
		if len(done) > 0 {
			if err := cl.CommitRecords(context.WithoutCancel(ctx), done...); err != nil {
				s.log.Warn("commit failed; events will be redelivered and recognised as duplicates", "err", err)
			}
		}
		if stop != nil {
			return stop
		}
	}
}

// handleEvent ingests the objects of one event. Undecodable events go to
// the DLQ; transient fetch or produce failures are retried until ctx ends.
func (s *Service) handleEvent(ctx context.Context, r *kgo.Record) error {
	objs, err := decodeEvent(r.Value, s.codecs.file, ctx)
	if err != nil {
		s.log.Warn("bad file event", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return s.retry(ctx, "dlq", func() error {
			return s.publishDLQ(ctx, r.Key, r.Value, kafka.DLQInfo{Stage: "file-event", Reason: err.Error()}.From(r).Headers())
		})
	}
	return s.ingestObjects(ctx, objs)
}

// ingestObjects ingests the objects an event announced, one after the
// other, each retried until it is done or ctx ends.
func (s *Service) ingestObjects(ctx context.Context, objs []s3event.Object) error {
	for _, o := range objs {
		job := &job{name: o.Key, bucket: o.Bucket, key: o.Key, side: SideOf(o.Key), etag: o.ETag, size: o.Size, eventTime: o.EventTime}
		job.open = func(ctx context.Context) (io.ReadCloser, error) { return s.store.Get(ctx, o.Bucket, o.Key) }
		job.quarantine = func(ctx context.Context, reason string) (string, error) {
			return s.store.Quarantine(ctx, o.Bucket, o.Key, reason)
		}
		if _, err := s.ingestWithRetry(ctx, job); err != nil {
			return err
		}
	}
	return nil
}

// decodeEvent accepts an S3 notification (JSON) or an Avro FileEvent.
func decodeEvent(v []byte, fc *avro.Codec[record.FileEvent], ctx context.Context) ([]s3event.Object, error) {
	if len(v) > 0 && v[0] == 0 {
		fe, err := fc.Decode(ctx, v)
		if err != nil {
			return nil, err
		}
		if fe.Key == "" || fe.Bucket == "" {
			return nil, errors.New("file event without bucket or key")
		}
		return []s3event.Object{{Bucket: fe.Bucket, Key: fe.Key, Size: fe.Size, ETag: fe.ETag, EventTime: fe.EventTime}}, nil
	}
	return s3event.Decode(v)
}

// retry runs fn until it succeeds, fails permanently or ctx ends, backing
// off from 200 ms to 30 s.
func (s *Service) retry(ctx context.Context, stage string, fn func() error) error {
	backoff := 200 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var perm errPermanent
		if errors.As(err, &perm) {
			return err
		}
		s.m.retries.WithLabelValues(stage).Inc()
		s.log.Warn("transient failure, retrying", "stage", stage, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// job is one file to ingest.
type job struct {
	name              string // source_file of its records
	bucket, key, etag string
	side              record.Side
	size              int64
	eventTime         time.Time
	open              func(context.Context) (io.ReadCloser, error)
	quarantine        func(ctx context.Context, reason string) (string, error)
}

// Result is the outcome of one file.
type Result = record.FileEvent

func (s *Service) ingestWithRetry(ctx context.Context, j *job) (*Result, error) {
	var res *Result
	err := s.retry(ctx, "ingest", func() error {
		var err error
		res, err = s.ingest(ctx, j)
		return err
	})
	return res, err
}

// spool copies the file to a temp file, hashing it on the way, so that the
// digest (the seed of every record id) is known before parsing starts.
func (s *Service) spool(ctx context.Context, j *job) (*os.File, string, int64, error) {
	rc, err := j.open(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(s.cfg.TempDir, "recon-ingest-*")
	if err != nil {
		return nil, "", 0, fmt.Errorf("spool: %w", err)
	}
	_ = os.Remove(f.Name()) // unlinked: disappears with the handle
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, s.cfg.MaxFileSize+1))
	if err != nil {
		f.Close()
		return nil, "", 0, fmt.Errorf("read %s: %w", j.name, err)
	}
	if n > s.cfg.MaxFileSize {
		f.Close()
		return nil, "", n, errPermanent{fmt.Errorf("file is larger than the %d MiB limit (max-file-mb)", s.cfg.MaxFileSize>>20)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, "", 0, err
	}
	return f, hex.EncodeToString(h.Sum(nil)), n, nil
}
