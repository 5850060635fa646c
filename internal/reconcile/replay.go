package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/decide"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// ReplayConfig is one `recon replay`: re-decide a period of a running
// system's transaction topics with other rules, on throwaway state, and
// compare with what the system decided (DESIGN.md §6).
type ReplayConfig struct {
	// Live is the running system's Kafka (brokers, topic prefix, TLS and
	// SASL): its transaction and statement topics are read, never written.
	Live     kafka.Config
	Registry avro.RegistryConfig // the live topics' Schema Registry (empty: embedded ids)
	// DatabaseURL is the live warehouse: what the system decided.
	DatabaseURL string
	// RedisURL holds the replay's window state under a prefix of its own,
	// deleted at the end (empty: an in-process Redis).
	RedisURL string
	Rules    engine.Config
	// From and To bound the booking dates replayed (inclusive; To 0: no
	// end). Statements count by their closing date.
	From, To record.Date
	Out      string

	Progress io.Writer
	Log      *slog.Logger
}

// Validate reports bad arguments.
func (c ReplayConfig) Validate() error {
	var errs []error
	if len(c.Live.Brokers) == 0 {
		errs = append(errs, errors.New("no --kafka-brokers: the running system's Kafka is needed"))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("no --database-url: the live warehouse says what the system decided"))
	}
	if len(c.Rules.Rules) == 0 {
		errs = append(errs, errors.New("no --rules: give the rules file to try"))
	}
	if c.From == 0 {
		errs = append(errs, errors.New("no --from date"))
	}
	if c.To != 0 && c.To < c.From {
		errs = append(errs, fmt.Errorf("--to %s is before --from %s", c.To, c.From))
	}
	if c.Out == "" {
		errs = append(errs, errors.New("no --out folder"))
	}
	return errors.Join(errs...)
}

func (c ReplayConfig) inPeriod(d record.Date) bool {
	return d >= c.From && (c.To == 0 || d <= c.To)
}

// Replay copies the period's records from the live topics into an
// in-process Kafka, runs the matcher over them with cfg.Rules as a batch
// (every window open until the end of the period's input), writes its
// matches, breaks and summary to cfg.Out as `recon reconcile` does, and
// beside them diff.jsonl and diff-summary.json: what the new rules would
// decide differently from the live system (also returned). Nothing of the live system is
// written: no topic, no consumer group (the live topics are read by
// partition), no Redis key, no warehouse row.
func Replay(ctx context.Context, cfg ReplayConfig) (*Diff, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := prepareRun(cfg.Out, &cfg.Progress, &cfg.Log); err != nil {
		return nil, err
	}
	start := time.Now()
	run := "replay-" + strconv.FormatInt(start.UnixNano(), 36)
	kc, rdb, closeServers, err := servers(nil, cfg.RedisURL, "", 4)
	if err != nil {
		return nil, err
	}
	defer closeServers()
	if cfg.RedisURL != "" {
		// The run's keys go when it ends, whatever happens.
		defer func() {
			ctx := context.WithoutCancel(ctx)
			iter := rdb.Scan(ctx, 0, "reconcile-"+run+"*", 1000).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		}()
	}
	n, err := copyPeriod(ctx, cfg, kc)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "replaying %d records booked %s\n", n, describePeriod(cfg))
	if err := matchAll(ctx, kc, rdb, cfg.Rules, run, n, cfg.Progress, cfg.Log); err != nil {
		return nil, err
	}
	replayed, err := collect(ctx, kc)
	if err != nil {
		return nil, err
	}
	sum := &Summary{Files: []FileSummary{}}
	if err := write(cfg.Out, replayed, sum); err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(cfg.Out, "summary.json"), sum); err != nil {
		return nil, err
	}
	live, err := liveDecisions(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	d := diffOutputs(live, replayed, cfg.inPeriod)
	d.Summary.From, d.Summary.Records = cfg.From, n
	if cfg.To != 0 {
		d.Summary.To = &cfg.To
	}
	if err := writeLines(filepath.Join(cfg.Out, "diff.jsonl"), len(d.Lines), func(i int) any { return d.Lines[i] }); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(cfg.Out, "diff-summary.json"), d.Summary); err != nil {
		return nil, err
	}
	d.Summary.Print(cfg.Progress, cfg.Out)
	return d, nil
}

func describePeriod(cfg ReplayConfig) string {
	if cfg.To == 0 {
		return "from " + cfg.From.String()
	}
	return cfg.From.String() + " to " + cfg.To.String()
}

// copyPeriod reads the live transaction and statement topics from their
// start to their end as the replay began, and produces the records of the
// period to kc's topics (keyed as they were, so each account's records
// keep their order). Values are decoded with the live registry and
// written with the embedded schema ids. It returns how many it copied.
func copyPeriod(ctx context.Context, cfg ReplayConfig, kc kafka.Config) (int64, error) {
	live := cfg.Live
	topics := []string{live.Topic(kafka.TopicBankTransactions), live.Topic(kafka.TopicLedgerTransactions), live.Topic(kafka.TopicBankStatements)}
	cl, err := kafka.NewClient(live, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("live topics: %w", err)
	}
	remaining := map[string]int64{}
	var missing []string
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			missing = append(missing, o.Topic)
		} else if o.Offset > 0 {
			remaining[o.Topic+"/"+strconv.Itoa(int(o.Partition))] = o.Offset
		}
	})
	if len(missing) > 0 {
		return 0, fmt.Errorf("live topics %v cannot be read (is --kafka-topic-prefix right?)", missing)
	}
	reg, err := cfg.Registry.Open()
	if err != nil {
		return 0, err
	}
	if _, embedded := reg.(avro.Embedded); !embedded {
		reg = lookupOnly{reg} // the replay registers nothing in the live registry
	}
	txc, err := avro.NewTransactionCodec(ctx, reg, topics[0]+"-value")
	if err != nil {
		return 0, err
	}
	stc, err := avro.NewStatementCodec(ctx, reg, topics[2]+"-value")
	if err != nil {
		return 0, err
	}
	kc.Provision = true
	prod, err := kafka.NewProducer(ctx, kc)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	out := map[string]string{topics[0]: kc.Topic(kafka.TopicBankTransactions), topics[1]: kc.Topic(kafka.TopicLedgerTransactions),
		topics[2]: kc.Topic(kafka.TopicBankStatements)}
	etx, err := avro.NewTransactionCodec(ctx, avro.Embedded{}, out[topics[0]]+"-value")
	if err != nil {
		return 0, err
	}
	est, err := avro.NewStatementCodec(ctx, avro.Embedded{}, out[topics[2]]+"-value")
	if err != nil {
		return 0, err
	}
	var copied, read int64
	var failed error
	t0, shown := time.Now(), time.Now()
	for len(remaining) > 0 && failed == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		f := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err := f.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("read live topics: %w", err)
		}
		if f.Empty() {
			break // the rest are transaction markers
		}
		var batch []*kgo.Record
		f.EachRecord(func(r *kgo.Record) {
			key := r.Topic + "/" + strconv.Itoa(int(r.Partition))
			if r.Offset+1 >= remaining[key] {
				delete(remaining, key)
			}
			if r.Attrs.IsControl() || failed != nil {
				return
			}
			read++
			var v []byte
			switch r.Topic {
			case topics[2]:
				st, err := stc.Decode(ctx, r.Value)
				if err != nil {
					failed = fmt.Errorf("%s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
					return
				}
				if st.ClosingDate == nil || !cfg.inPeriod(*st.ClosingDate) {
					return
				}
				v, err = est.Encode(nil, st)
				failed = err
			default:
				t, err := txc.Decode(ctx, r.Value)
				if err != nil {
					failed = fmt.Errorf("%s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
					return
				}
				if !cfg.inPeriod(t.BookingDate) {
					return
				}
				v, err = etx.Encode(nil, t)
				failed = err
			}
			batch = append(batch, &kgo.Record{Topic: out[r.Topic], Key: r.Key, Value: v})
		})
		if failed != nil {
			break
		}
		if err := prod.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return 0, fmt.Errorf("replay topics: %w", err)
		}
		copied += int64(len(batch))
		if time.Since(shown) >= 2*time.Second {
			shown = time.Now()
			fmt.Fprintf(cfg.Progress, "reading the live topics: %d records, %d in the period (%.0f/s)\n", read, copied, float64(read)/time.Since(t0).Seconds())
		}
	}
	if failed != nil {
		return 0, failed
	}
	return copied, nil
}

// liveDecisions reads what the running system decided from its
// warehouse: the matches that stand and every break it reported that a
// later match did not clear (a person's resolution of a break, a write-off
// or a manual match, does not change what the rules decided).
func liveDecisions(ctx context.Context, databaseURL string) (*outputs, error) {
	ex, err := warehouseExport(ctx, databaseURL, true)
	if err != nil {
		return nil, err
	}
	out := &outputs{}
	clearedByRule := map[string]bool{}
	for _, m := range ex.Matches {
		if m.Rule == decide.ManualRule {
			continue // a person's, not the rules'
		}
		out.matches = append(out.matches, m)
		for _, id := range m.ClearsBreakIDs {
			clearedByRule[id] = true
		}
	}
	for _, b := range ex.Breaks {
		if clearedByRule[b.BreakID] {
			continue
		}
		out.breaks = append(out.breaks, &record.Break{BreakID: b.BreakID, Side: b.Side, Reason: b.Reason, Account: b.Account,
			Currency: b.Currency, Record: b.Record, WindowClosedAt: b.WindowClosedAt, Note: b.Note})
	}
	return out, nil
}

// lookupOnly is a Schema Registry used for reading only: Register writes
// nothing (the codec it gives never encodes) and lookups by id go through.
type lookupOnly struct{ avro.Registry }

func (lookupOnly) Register(context.Context, string, string) (int, error) { return -1, nil }
