// Package notifier tells people about breaks and escalations. It consumes
// recon.breaks and sends each break to its channels: a webhook (JSON signed
// with HMAC-SHA256, retried with backoff), a digest mode (at most one
// webhook message per interval carrying many breaks), and the log. It
// consumes recon.escalations (the console's: breaks past their SLA,
// requests waiting for an approver) and sends what it reads as one digest
// per recipient on the webhook and one message to the team channel (a
// Slack-compatible incoming webhook). A break or escalation is notified
// once: its id is recorded in Redis after the channels accepted it and
// checked before sending, so restarts and replays do not notify twice;
// every message also carries an idempotency key for receivers that dedupe.
package notifier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/telemetry"
)

// Headers of a webhook request.
const (
	HeaderTimestamp   = "X-Recon-Timestamp"
	HeaderSignature   = "X-Recon-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// Config is the notifier's configuration. Start from Defaults.
type Config struct {
	Kafka          kafka.Config
	Group          string
	SchemaRegistry avro.RegistryConfig

	RedisURL    string
	RedisPrefix string
	// DedupeTTL is how long a notified break id is remembered.
	DedupeTTL time.Duration

	// WebhookURL enables the webhook channel; the secret signs the body.
	WebhookURL        string
	WebhookSecretFile string // read by Load
	webhookSecret     []byte
	// Digest > 0 sends at most one webhook message per interval.
	Digest time.Duration
	// MaxAttempts bounds delivery tries of one message (0: until it succeeds).
	MaxAttempts int
	// Log enables the log channel (one line per break).
	Log bool
	// ChannelURLFile holds the URL of the team channel's incoming webhook
	// (Slack, Mattermost, Teams workflows: {"text": ...}); escalations go
	// there as one message per batch. The URL is a secret, hence a file.
	ChannelURLFile string
	channelURL     string
}

// Defaults is the configuration the settings, `recon up` and the tests
// start from.
func Defaults() Config {
	return Config{Kafka: kafka.Defaults("recon-notifier"), Group: "recon-notifier", RedisURL: "redis://localhost:6379/0",
		RedisPrefix: "recon", DedupeTTL: 90 * 24 * time.Hour, Log: true}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *Config) Register(l *config.Loader) {
	c.Kafka.Register(l)
	c.SchemaRegistry.Register(l)
	l.String(&c.Group, "group", c.Group, "consumer group over breaks")
	l.String(&c.RedisURL, "redis-url", c.RedisURL, "Redis remembering notified breaks")
	l.String(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of the Redis keys")
	l.String(&c.WebhookURL, "webhook-url", c.WebhookURL, "POST breaks here (JSON, HMAC-SHA256 signed)")
	l.String(&c.WebhookSecretFile, "webhook-secret-file", c.WebhookSecretFile, "file holding the webhook signing secret")
	l.Duration(&c.Digest, "digest", c.Digest, "send at most one webhook message per interval carrying many breaks (0: one per break)")
	l.Int(&c.MaxAttempts, "max-attempts", c.MaxAttempts, "delivery tries per message (0: until delivered)")
	l.Bool(&c.Log, "log-breaks", c.Log, "log one line per break")
	l.String(&c.ChannelURLFile, "channel-url-file", c.ChannelURLFile, "file holding the team channel's incoming-webhook URL (Slack-compatible {\"text\": …}) for escalations")
}

// WithChannelURL sets the channel's URL directly (tests, embedded mode).
func (c Config) WithChannelURL(u string) Config {
	c.channelURL = u
	return c
}

// WithSecret sets the webhook secret directly (tests, embedded mode).
func (c Config) WithSecret(secret string) Config {
	c.webhookSecret = []byte(secret)
	return c
}

// Validate reports every configuration mistake at once. It reads no file
// and changes nothing.
func (c Config) Validate() error {
	errs := []error{c.Kafka.Validate()}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.WebhookURL == "" && !c.Log {
		errs = append(errs, errors.New("no channel: set webhook-url or log"))
	}
	if c.WebhookURL != "" && c.WebhookSecretFile == "" && len(c.webhookSecret) == 0 {
		errs = append(errs, errors.New("the webhook needs a secret (webhook-secret-file) to sign with"))
	}
	if c.DedupeTTL <= 0 {
		errs = append(errs, errors.New("the dedupe TTL must be positive"))
	}
	if c.RedisPrefix == "" {
		errs = append(errs, errors.New("redis-prefix is empty"))
	}
	return errors.Join(errs...)
}

// Load reads what the settings point at: the webhook secret and channel
// URL files.
func (c *Config) Load() error {
	if c.ChannelURLFile != "" {
		b, err := os.ReadFile(c.ChannelURLFile)
		if err != nil {
			return fmt.Errorf("channel-url-file: %w", err)
		}
		if c.channelURL = strings.TrimSpace(string(b)); !strings.HasPrefix(c.channelURL, "https://") && !strings.HasPrefix(c.channelURL, "http://") {
			return fmt.Errorf("channel-url-file %s: want an http(s) URL", c.ChannelURLFile)
		}
	}
	if c.WebhookSecretFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.WebhookSecretFile)
	if err != nil {
		return fmt.Errorf("webhook-secret-file: %w", err)
	}
	if c.webhookSecret = bytes.TrimRight(b, "\r\n"); len(c.webhookSecret) == 0 {
		return fmt.Errorf("webhook-secret-file %s is empty", c.WebhookSecretFile)
	}
	return nil
}

// Deps are what the notifier is given.
type Deps struct {
	Log     *slog.Logger
	Metrics prometheus.Registerer // Prometheus registry of the service's metrics
	Redis   redis.UniversalClient
	HTTP    *http.Client
}

// Service is a running notifier.
type Service struct {
	cfg    Config
	log    *slog.Logger
	rdb    redis.UniversalClient
	http   *http.Client
	cl     *kgo.Client
	codec  *avro.Codec[record.Break]
	esc    *avro.Codec[record.Escalation]
	topics struct{ breaks, escalations string }
	m      struct {
		sent, skipped, failed *prometheus.CounterVec
		escalations           *prometheus.CounterVec
	}
	ready     atomic.Bool
	notified  atomic.Int64
	escalated atomic.Int64
}

// New prepares the notifier.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	deps.Log, deps.Metrics = telemetry.Defaults(deps.Log, deps.Metrics)
	s := &Service{cfg: cfg, log: deps.Log.With("service", "notifier"), rdb: deps.Redis, http: deps.HTTP}
	if s.http == nil {
		s.http = &http.Client{Timeout: 15 * time.Second}
	}
	s.m.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notifications_total",
		Help: "Breaks notified, by channel."}, []string{"channel"})
	s.m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notifications_skipped_total",
		Help: "Breaks not notified again because they already were, by channel."}, []string{"channel"})
	s.m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notification_failures_total",
		Help: "Failed delivery attempts (retried), by channel."}, []string{"channel"})
	s.m.escalations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_escalations_notified_total",
		Help: "Escalations notified, by kind and level."}, []string{"kind", "level"})
	// The series of the enabled channels exist from the start, at zero.
	for ch, on := range map[string]bool{"log": cfg.Log, "webhook": cfg.WebhookURL != "", "channel": cfg.ChannelURLFile != ""} {
		if on {
			s.m.sent.WithLabelValues(ch)
			s.m.failed.WithLabelValues(ch)
		}
	}
	s.m.skipped.WithLabelValues("all")
	for _, k := range []record.EscalationKind{record.EscalateBreak, record.EscalateApproval, record.EscalateStatement} {
		s.m.escalations.WithLabelValues(string(k), "1")
	}
	for _, c := range []prometheus.Collector{s.m.sent, s.m.skipped, s.m.failed, s.m.escalations} {
		if err := deps.Metrics.Register(c); err != nil {
			return nil, err
		}
	}
	if s.rdb == nil {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		s.rdb = redis.NewClient(opt)
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	reg, err := cfg.SchemaRegistry.Open()
	if err != nil {
		return nil, err
	}
	s.topics.breaks, s.topics.escalations = cfg.Kafka.Topic(kafka.TopicBreaks), cfg.Kafka.Topic(kafka.TopicEscalations)
	if s.codec, err = avro.NewBreakCodec(ctx, reg, s.topics.breaks+"-value"); err != nil {
		return nil, err
	}
	if s.esc, err = avro.NewEscalationCodec(ctx, reg, s.topics.escalations+"-value"); err != nil {
		return nil, err
	}
	s.cl, err = kafka.NewClient(cfg.Kafka,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(s.topics.breaks, s.topics.escalations),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.ClientID(cfg.Kafka.WithDefaults().ClientID+"-notifier"),
	)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Notified is the number of breaks notified since start.
func (s *Service) Notified() int64 { return s.notified.Load() }

// Ready reports whether the notifier consumes.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("not consuming")
	}
	return nil
}

// Run notifies until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.cl.Close()
	s.ready.Store(true)
	defer s.ready.Store(false)
	var pending []*record.Break // digest mode: breaks waiting for the next message
	var pendingRecs []*kgo.Record
	nextDigest := time.Now().Add(s.cfg.Digest)
	for ctx.Err() == nil {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if s.cfg.Digest > 0 {
			pctx, cancel = context.WithDeadline(ctx, nextDigest)
		}
		f := s.cl.PollRecords(pctx, 1000)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		var recs, escRecs []*kgo.Record
		f.EachRecord(func(r *kgo.Record) {
			if r.Topic == s.topics.escalations {
				escRecs = append(escRecs, r)
			} else {
				recs = append(recs, r)
			}
		})
		if err := s.escalate(ctx, escRecs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(escRecs) > 0 {
			if err := s.cl.CommitRecords(ctx, escRecs...); err != nil && ctx.Err() == nil {
				s.log.Warn("offset commit failed; escalations will be re-read and skipped as notified", "err", err)
			}
		}
		breaks := make([]*record.Break, 0, len(recs))
		for _, r := range recs {
			b, err := s.codec.Decode(ctx, r.Value)
			if err != nil {
				s.log.Error("undecodable break sent to the DLQ", "partition", r.Partition, "offset", r.Offset, "err", err)
				if err := kafka.DeadLetter(ctx, s.cl, s.cfg.Kafka.Topic(kafka.TopicDLQ), r, "notify", err); err != nil {
					return err
				}
				continue
			}
			breaks = append(breaks, b)
		}
		if s.cfg.Digest > 0 {
			pending = append(pending, breaks...)
			pendingRecs = append(pendingRecs, recs...)
			if time.Now().Before(nextDigest) {
				continue
			}
			breaks, recs = pending, pendingRecs
			pending, pendingRecs = nil, nil
			nextDigest = time.Now().Add(s.cfg.Digest)
		}
		if err := s.deliver(ctx, breaks); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(recs) > 0 {
			if err := s.cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				s.log.Warn("offset commit failed; breaks will be re-read and skipped as notified", "err", err)
			}
		}
	}
	return nil
}

func (s *Service) dedupeKey(breakID string) string {
	return s.cfg.RedisPrefix + ":notified:" + breakID
}

// deliver sends the breaks not yet notified to every channel and records
// them as notified.
func (s *Service) deliver(ctx context.Context, breaks []*record.Break) error {
	if len(breaks) == 0 {
		return nil
	}
	fresh, err := s.unnotified(ctx, breaks)
	if err != nil {
		return err
	}
	if len(fresh) == 0 {
		return nil
	}
	if s.cfg.Log {
		for _, b := range fresh {
			s.log.Info("break", "break_id", b.BreakID, "side", string(b.Side), "reason", string(b.Reason),
				"currency", b.Currency, "amount", b.Record.Amount.String(), "booking_date", b.Record.BookingDate.String(),
				"reference", b.Record.Reference, "record_id", b.Record.ID)
		}
		s.m.sent.WithLabelValues("log").Add(float64(len(fresh)))
	}
	if s.cfg.WebhookURL == "" {
		return s.markAll(ctx, fresh)
	}
	if s.cfg.Digest > 0 {
		err := s.post(ctx, digestKey(fresh), Message{Type: "breaks.digest", Breaks: fresh})
		if err != nil && !errors.Is(err, errRefused) {
			return err
		}
		if err != nil {
			s.log.Error("webhook refused a digest; its breaks are not notified again", "breaks", len(fresh), "err", err)
		} else {
			s.m.sent.WithLabelValues("webhook").Add(float64(len(fresh)))
		}
		return s.markAll(ctx, fresh)
	}
	for _, b := range fresh {
		err := s.post(ctx, b.BreakID, Message{Type: "break", Breaks: []*record.Break{b}})
		if err != nil && !errors.Is(err, errRefused) {
			return err
		}
		if err != nil {
			s.log.Error("webhook refused a break; it is not notified again", "break_id", b.BreakID, "err", err)
		} else {
			s.m.sent.WithLabelValues("webhook").Inc()
			s.notified.Add(1)
		}
		if err := s.markNotified(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// markAll records breaks as notified.
func (s *Service) markAll(ctx context.Context, bs []*record.Break) error {
	pipe := s.rdb.Pipeline()
	for _, b := range bs {
		pipe.Set(ctx, s.dedupeKey(b.BreakID), "1", s.cfg.DedupeTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("dedupe record: %w", err)
	}
	s.notified.Add(int64(len(bs)))
	return nil
}

// errRefused marks a webhook answer that retrying cannot change (4xx).
var errRefused = errors.New("refused")

func (s *Service) unnotified(ctx context.Context, breaks []*record.Break) ([]*record.Break, error) {
	return unseen(ctx, s, breaks, func(b *record.Break) string { return s.dedupeKey(b.BreakID) })
}

// unseen keeps the items whose dedupe key (key) Redis does not hold, each
// once.
func unseen[T any](ctx context.Context, s *Service, items []T, key func(T) string) ([]T, error) {
	if len(items) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(items))
	for i, it := range items {
		cmds[i] = pipe.Exists(ctx, key(it))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("dedupe lookup: %w", err)
	}
	var fresh []T
	seen := map[string]bool{}
	for i, it := range items {
		k := key(it)
		if cmds[i].Val() > 0 || seen[k] {
			s.m.skipped.WithLabelValues("all").Inc()
			continue
		}
		seen[k] = true
		fresh = append(fresh, it)
	}
	return fresh, nil
}

func (s *Service) markNotified(ctx context.Context, b *record.Break) error {
	return s.rdb.Set(ctx, s.dedupeKey(b.BreakID), "1", s.cfg.DedupeTTL).Err()
}

func digestKey(bs []*record.Break) string {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.BreakID
	}
	return idsKey("digest-", ids)
}

// idsKey is the idempotency key of a message carrying the ids.
func idsKey(prefix string, ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:12])
}

// Message is the webhook body.
type Message struct {
	Type   string          `json:"type"` // "break", "breaks.digest" or "escalations.digest"
	Breaks []*record.Break `json:"breaks,omitempty"`
	// Recipient and Escalations: an escalation digest for one recipient
	// (an assignee or a team), to forward to them.
	Recipient   string               `json:"recipient,omitempty"`
	Escalations []*record.Escalation `json:"escalations,omitempty"`
}

// Sign returns the signature header value for body sent at ts:
// "v1=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func Sign(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a received webhook: the signature matches and the
// timestamp is within tolerance of now (replay protection). Receivers can
// use it as the reference implementation.
func Verify(secret []byte, tsHeader, sigHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside tolerance")
	}
	want := Sign(secret, ts, body)
	for _, part := range strings.Split(sigHeader, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(part)), []byte(want)) {
			return nil
		}
	}
	return errors.New("signature mismatch")
}

// post sends one message to the webhook, retrying 429/5xx and network
// errors with exponential backoff; other 4xx answers are permanent.
func (s *Service) post(ctx context.Context, key string, msg Message) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.postTo(ctx, "webhook", s.cfg.WebhookURL, key, body, true)
}

// postTo sends body to url (signed for the webhook), retrying like post.
func (s *Service) postTo(ctx context.Context, channel, url, key string, body []byte, sign bool) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ts := time.Now().Unix()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "recon-notifier")
		if sign {
			req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
			req.Header.Set(HeaderSignature, Sign(s.cfg.webhookSecret, ts, body))
		}
		req.Header.Set(HeaderIdempotency, key)
		resp, err := s.http.Do(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if status >= 200 && status < 300 {
				return nil
			}
			if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
				return fmt.Errorf("%s %s: HTTP %d: %w", channel, key, status, errRefused)
			}
		}
		s.m.failed.WithLabelValues(channel).Inc()
		if s.cfg.MaxAttempts > 0 && attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("%s %s: gave up after %d attempts (last: status %d, %v)", channel, key, attempt, status, err)
		}
		s.log.Warn("delivery failed, retrying", "channel", channel, "key", key, "status", status, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}
