package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/sink"
	"github.com/openrecon/recon/internal/telemetry"
)

// FeedConfig is how the feed consumes.
type FeedConfig struct {
	Kafka          kafka.Config
	Group          string
	SchemaRegistry avro.RegistryConfig
	BatchSize      int
	BatchInterval  time.Duration
}

// FeedDefaults is the feed's configuration to start from.
func FeedDefaults() FeedConfig {
	return FeedConfig{Kafka: kafka.Defaults("recon-console"), Group: "recon-console", BatchSize: 2000, BatchInterval: 200 * time.Millisecond}
}

// Validate reports every mistake at once; it reads nothing.
func (c FeedConfig) Validate() error {
	errs := []error{c.Kafka.Validate()}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.BatchSize <= 0 || c.BatchInterval <= 0 {
		errs = append(errs, errors.New("batch size and interval must be positive"))
	}
	return errors.Join(errs...)
}

// Feed keeps a case store up to date from the topics: breaks, matches,
// resolution outcomes, statement balances and the booked transactions of
// both sides (for the balance view) upserted by id, the offsets in the same transaction, so a restart
// resumes exactly and the store can be rebuilt by reading the topics from
// the start into an empty store.
type Feed struct {
	cfg    FeedConfig
	log    *slog.Logger
	store  feedStore
	sink   *sink.Consumer[*casestore.Batch]
	mc     *avro.Codec[record.Match]
	bc     *avro.Codec[record.Break]
	oc     *avro.Codec[record.Outcome]
	sc     *avro.Codec[record.Statement]
	tc     *avro.Codec[record.Transaction]
	topics struct{ matches, breaks, outcomes, stmts, bank, ledger, dlq string }
}

// feedStore is what the feed needs of the case store: its batches
// applied with their offsets, and the offsets to resume from.
type feedStore interface {
	Apply(ctx context.Context, consumer string, b *casestore.Batch) error
	Offsets(ctx context.Context, consumer string) (map[string]map[int32]int64, error)
}

// NewFeed prepares the feed of store (migrated by the caller).
func NewFeed(ctx context.Context, cfg FeedConfig, store feedStore, log *slog.Logger) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log, _ = telemetry.Defaults(log, nil)
	f := &Feed{cfg: cfg, log: log.With("service", "console-feed"), store: store}
	f.topics.matches, f.topics.breaks, f.topics.dlq = cfg.Kafka.Topic(kafka.TopicMatches), cfg.Kafka.Topic(kafka.TopicBreaks), cfg.Kafka.Topic(kafka.TopicDLQ)
	f.topics.outcomes, f.topics.stmts = cfg.Kafka.Topic(kafka.TopicOutcomes), cfg.Kafka.Topic(kafka.TopicBankStatements)
	f.topics.bank, f.topics.ledger = cfg.Kafka.Topic(kafka.TopicBankTransactions), cfg.Kafka.Topic(kafka.TopicLedgerTransactions)
	reg, err := cfg.SchemaRegistry.Open()
	if err != nil {
		return nil, err
	}
	if f.mc, err = avro.NewMatchCodec(ctx, reg, f.topics.matches+"-value"); err != nil {
		return nil, err
	}
	if f.bc, err = avro.NewBreakCodec(ctx, reg, f.topics.breaks+"-value"); err != nil {
		return nil, err
	}
	if f.oc, err = avro.NewOutcomeCodec(ctx, reg, f.topics.outcomes+"-value"); err != nil {
		return nil, err
	}
	if f.sc, err = avro.NewStatementCodec(ctx, reg, f.topics.stmts+"-value"); err != nil {
		return nil, err
	}
	if f.tc, err = avro.NewTransactionCodec(ctx, reg, f.topics.bank+"-value"); err != nil {
		return nil, err
	}
	f.sink, err = sink.New(sink.Config{Kafka: cfg.Kafka, Group: cfg.Group,
		Topics:    []string{f.topics.matches, f.topics.breaks, f.topics.outcomes, f.topics.stmts, f.topics.bank, f.topics.ledger},
		BatchSize: cfg.BatchSize, BatchInterval: cfg.BatchInterval, ClientID: cfg.Kafka.WithDefaults().ClientID + "-feed"},
		(*feedSink)(f), f.log)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Run feeds until ctx ends.
func (f *Feed) Run(ctx context.Context) error { return f.sink.Run(ctx) }

// Applied is the number of records (dead letters included) applied since start.
func (f *Feed) Applied() int64 { return f.sink.Written() }

// LastErr is the error of the last write to the case store.
func (f *Feed) LastErr() error { return f.sink.LastErr() }

// feedSink is the feed as the sink's store.
type feedSink Feed

func (s *feedSink) Offsets(ctx context.Context, group string) (map[string]map[int32]int64, error) {
	return s.store.Offsets(ctx, group)
}

// Decode turns records into a case store batch; an undecodable record goes
// to the DLQ and its offset is stored with the batch.
func (s *feedSink) Decode(ctx context.Context, recs []*kgo.Record, next []sink.Offset) (*casestore.Batch, error) {
	b := &casestore.Batch{}
	for _, r := range recs {
		var err error
		switch r.Topic {
		case s.topics.matches:
			var m *record.Match
			if m, err = s.mc.Decode(ctx, r.Value); err == nil {
				b.Matches = append(b.Matches, m)
			}
		case s.topics.breaks:
			var br *record.Break
			if br, err = s.bc.Decode(ctx, r.Value); err == nil {
				b.Breaks = append(b.Breaks, br)
			}
		case s.topics.outcomes:
			var o *record.Outcome
			if o, err = s.oc.Decode(ctx, r.Value); err == nil {
				b.Outcomes = append(b.Outcomes, casestore.Outcome{Outcome: o, Seq: r.Offset})
			}
		case s.topics.stmts:
			var st *record.Statement
			if st, err = s.sc.Decode(ctx, r.Value); err == nil {
				b.Statements = append(b.Statements, st)
			}
		case s.topics.bank, s.topics.ledger:
			var t *record.Transaction
			if t, err = s.tc.Decode(ctx, r.Value); err == nil {
				b.Records = append(b.Records, t)
			}
		default:
			return nil, fmt.Errorf("record from unexpected topic %s", r.Topic)
		}
		if err != nil {
			s.log.Error("undecodable record sent to the DLQ", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			if err := kafka.DeadLetter(ctx, s.sink.Client(), s.topics.dlq, r, "console", err); err != nil {
				return nil, err
			}
		}
	}
	for _, o := range next {
		b.Offsets = append(b.Offsets, casestore.Offset{Topic: o.Topic, Partition: o.Partition, Next: o.Next})
	}
	return b, nil
}

func (s *feedSink) Write(ctx context.Context, b *casestore.Batch) error {
	return s.store.Apply(ctx, s.cfg.Group, b)
}
