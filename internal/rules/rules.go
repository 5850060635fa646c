// Package rules is the rule set as governed, versioned data (DESIGN.md
// §10): the versions on the compacted topic recon.rules (key "rules"),
// read by every matcher and by the console, and written when a change is
// approved or when a matcher seeds the first version from its rules file.
//
// A version only grows. Readers keep the first value they read of each
// version number (two matchers seeding at once both write version 1; the
// log's order decides for everyone) and act on the highest.
package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// Key is the record key of every version on the topic.
const Key = "rules"

// Topic reads (and writes) the versions on recon.rules.
type Topic struct {
	name  string
	cl    *kgo.Client // reads the topic from its start, no consumer group
	prod  *kgo.Client // writes; nil for a reader only
	codec *avro.Codec[record.RuleSet]
	log   *slog.Logger
	// OnVersion is told of each new highest version, in order (set before
	// Run; called from the reading goroutine).
	OnVersion func(*record.RuleSet)

	mu      sync.Mutex
	latest  *record.RuleSet
	next    int64         // the offset after the last one read
	changed chan struct{} // closed (and replaced) when latest or next move
}

// Open returns a reader of cfg's rules topic. prod is the producer
// Publish and Seed write with (nil: read only).
func Open(ctx context.Context, cfg kafka.Config, reg avro.Registry, prod *kgo.Client, log *slog.Logger) (*Topic, error) {
	if log == nil {
		log = slog.Default()
	}
	name := cfg.Topic(kafka.TopicRules)
	codec, err := avro.NewRuleSetCodec(ctx, reg, name+"-value")
	if err != nil {
		return nil, err
	}
	cl, err := kafka.NewClient(cfg, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{name: {0: kgo.NewOffset().AtStart()}}),
		kgo.ClientID(cfg.WithDefaults().ClientID+"-rules"))
	if err != nil {
		return nil, err
	}
	return &Topic{name: name, cl: cl, prod: prod, codec: codec, log: log, changed: make(chan struct{})}, nil
}

// Close stops reading.
func (t *Topic) Close() { t.cl.Close() }

// Latest is the highest version read (nil: none yet).
func (t *Topic) Latest() *record.RuleSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.latest
}

// poll reads what the topic has (waiting for it), once.
func (t *Topic) poll(ctx context.Context) error {
	fs := t.cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs []error
	fs.EachError(func(_ string, _ int32, err error) { errs = append(errs, err) })
	fs.EachRecord(func(r *kgo.Record) {
		rs, err := t.codec.Decode(ctx, r.Value)
		t.mu.Lock()
		t.next = r.Offset + 1
		latest := t.latest
		t.mu.Unlock()
		switch {
		case err != nil:
			t.log.Error("undecodable rule set on the rules topic; skipped", "topic", t.name, "offset", r.Offset, "err", err)
		case latest != nil && rs.Version == latest.Version && rs.Hash != latest.Hash:
			t.log.Error("a second, different value of a rule version on the rules topic; the first one read stands",
				"version", rs.Version, "offset", r.Offset, "kept_hash", latest.Hash, "ignored_hash", rs.Hash)
		case latest == nil || rs.Version > latest.Version:
			// Those told first: whoever waits for the version finds it
			// handled.
			if t.OnVersion != nil {
				t.OnVersion(rs)
			}
			t.mu.Lock()
			t.latest = rs
			t.mu.Unlock()
		}
	})
	if fs.NumRecords() > 0 {
		t.mu.Lock()
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
	}
	return errors.Join(errs...)
}

// CatchUp reads the topic up to its end as of the call: afterwards Latest
// is every version published before it.
func (t *Topic) CatchUp(ctx context.Context) error {
	ends, err := kadm.NewClient(t.cl).ListEndOffsets(ctx, t.name)
	if err != nil {
		return fmt.Errorf("rules: end of %s: %w", t.name, err)
	}
	end, ok := ends.Lookup(t.name, 0)
	if !ok || end.Err != nil {
		return fmt.Errorf("rules: end of %s: %v", t.name, end.Err)
	}
	for {
		t.mu.Lock()
		done := t.next >= end.Offset
		t.mu.Unlock()
		if done {
			return nil
		}
		if err := t.poll(ctx); err != nil && ctx.Err() != nil {
			return err
		} else if err != nil {
			t.log.Warn("reading the rules topic", "err", err)
		}
	}
}

// Run reads new versions until ctx ends.
func (t *Topic) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := t.poll(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("reading the rules topic", "err", err)
			time.Sleep(time.Second)
		}
	}
}

// WaitFor waits until version v (or a later one) was read.
func (t *Topic) WaitFor(ctx context.Context, v int64) (*record.RuleSet, error) {
	for {
		t.mu.Lock()
		l, ch := t.latest, t.changed
		t.mu.Unlock()
		if l != nil && l.Version >= v {
			return l, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("rules: waiting for version %d on %s: %w", v, t.name, ctx.Err())
		}
	}
}

// Publish writes rs (its hash computed if empty) and returns once the
// broker has it.
func (t *Topic) Publish(ctx context.Context, rs *record.RuleSet) error {
	if t.prod == nil {
		return errors.New("rules: a read-only topic cannot publish")
	}
	if rs.Hash == "" {
		rs.Hash = record.RulesHash(rs.YAML, rs.Aliases)
	}
	if rs.Aliases == nil {
		rs.Aliases = []record.Alias{}
	}
	v, err := t.codec.Encode(nil, rs)
	if err != nil {
		return err
	}
	if err := t.prod.ProduceSync(ctx, &kgo.Record{Topic: t.name, Partition: 0, Key: []byte(Key), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("rules: publish version %d: %w", rs.Version, err)
	}
	return nil
}

// Seed reads the topic to its end and, if it holds no version, publishes
// yaml and aliases as version 1 (by author, with comment); it returns the
// version in force afterwards (perhaps another seeder's).
func (t *Topic) Seed(ctx context.Context, yaml string, aliases []record.Alias, author, comment string, now time.Time) (*record.RuleSet, error) {
	if err := t.CatchUp(ctx); err != nil {
		return nil, err
	}
	if l := t.Latest(); l != nil {
		return l, nil
	}
	rs := &record.RuleSet{Version: 1, YAML: record.CanonicalYAML(yaml), Aliases: aliases, Author: author, Comment: comment, ActivatedAt: now.UTC()}
	if err := t.Publish(ctx, rs); err != nil {
		return nil, err
	}
	if err := t.CatchUp(ctx); err != nil {
		return nil, err
	}
	return t.WaitFor(ctx, 1)
}

// Compile is the engine configuration of rs: its YAML and aliases, with
// base's calendars and exchange rates (which come from settings, not from
// the rule set).
func Compile(rs *record.RuleSet, base engine.Config) (engine.Config, error) {
	c, err := engine.ParseConfig([]byte(rs.YAML), fmt.Sprintf("version %d", rs.Version))
	if err != nil {
		return c, err
	}
	c.Calendars, c.Rates, c.Aliases = base.Calendars, base.Rates, rs.Aliases
	return c, nil
}
