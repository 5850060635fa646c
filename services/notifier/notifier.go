// Package notifier tells people about breaks and escalations. It consumes
// recon.breaks and routes each break by its account, currency, reason,
// side and amount (a routes file) to channels: a webhook (JSON signed with
// HMAC-SHA256), Slack (Block Kit), AWS SNS (message attributes for
// filtering), email over SMTP, and the log. A break bound for a route's
// channel becomes a delivery in a Redis outbox before its offset is
// committed; the outbox holds it through quiet hours and digests, retries
// it with backoff, and dead-letters it to recon.dlq after the last
// attempt, so each break reaches each route once, across restarts. It
// consumes recon.escalations (the console's: breaks past their SLA,
// requests waiting for an approver) and sends what it reads as one digest
// per recipient on the webhook and one message to the team channel (a
// Slack-compatible incoming webhook). A break or escalation is notified
// once: its id is recorded in Redis after the channels accepted it and
// checked before sending, so restarts and replays do not notify twice;
// every message also carries an idempotency key for receivers that dedupe.
//
// Without a routes file the webhook settings make one route, "default",
// to a channel named "webhook".
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
	"log/slog"
	"net/http"
	"os"
	"slices"
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
	"github.com/openrecon/recon/internal/redisconn"
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

	// RoutesFile is the routing of breaks to channels (see Routing); it
	// replaces webhook-url for breaks.
	RoutesFile string
	routing    *Routing
	// ConsoleURL is the console's address, for links in messages.
	ConsoleURL string
	// SendTimeout bounds one send; a delivery whose sender died is due
	// again 15 s after it.
	SendTimeout time.Duration
}

// Defaults is the configuration the settings, `recon up` and the tests
// start from.
func Defaults() Config {
	return Config{Kafka: kafka.Defaults("recon-notifier"), Group: "recon-notifier", RedisURL: "redis://localhost:6379/0",
		RedisPrefix: "recon", DedupeTTL: 90 * 24 * time.Hour, Log: true, SendTimeout: 30 * time.Second}
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
	l.String(&c.RoutesFile, "routes-file", c.RoutesFile, "YAML file routing breaks to channels (webhook, slack, sns, email, log) with retries, quiet hours and digests")
	l.Duration(&c.SendTimeout, "send-timeout", c.SendTimeout, "bound of one send to a channel; a delivery whose notifier died is sent again 15s after it")
	l.String(&c.ConsoleURL, "console-url", c.ConsoleURL, "the console's external URL, for links to a break in messages")
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
	if c.WebhookURL == "" && !c.Log && c.RoutesFile == "" {
		errs = append(errs, errors.New("no channel: set routes-file, webhook-url or log-breaks"))
	}
	if c.RoutesFile != "" && (c.WebhookURL != "" || c.Digest > 0) {
		errs = append(errs, errors.New("routes-file and webhook-url (or digest) are both set: declare the webhook as a channel in the routes file"))
	}
	if c.WebhookURL != "" && c.WebhookSecretFile == "" && len(c.webhookSecret) == 0 {
		errs = append(errs, errors.New("the webhook needs a secret (webhook-secret-file) to sign with"))
	}
	if c.SendTimeout < time.Second {
		errs = append(errs, errors.New("send-timeout must be at least 1s"))
	}
	if c.DedupeTTL <= 0 {
		errs = append(errs, errors.New("the dedupe TTL must be positive"))
	}
	if c.RedisPrefix == "" {
		errs = append(errs, errors.New("redis-prefix is empty"))
	}
	return errors.Join(errs...)
}

// Load reads what the settings point at: the routes file, the webhook
// secret and channel URL files.
func (c *Config) Load() error {
	if err := c.loadRouting(); err != nil {
		return err
	}
	if c.ChannelURLFile != "" {
		b, err := os.ReadFile(c.ChannelURLFile)
		if err != nil {
			return fmt.Errorf("channel-url-file: %w", err)
		}
		if c.channelURL = strings.TrimSpace(string(b)); !strings.HasPrefix(c.channelURL, "https://") && !strings.HasPrefix(c.channelURL, "http://") {
			return fmt.Errorf("channel-url-file %s: want an http(s) URL", c.ChannelURLFile)
		}
	}
	if c.WebhookSecretFile != "" {
		b, err := os.ReadFile(c.WebhookSecretFile)
		if err != nil {
			return fmt.Errorf("webhook-secret-file: %w", err)
		}
		if c.webhookSecret = bytes.TrimRight(b, "\r\n"); len(c.webhookSecret) == 0 {
			return fmt.Errorf("webhook-secret-file %s is empty", c.WebhookSecretFile)
		}
	}
	if c.RoutesFile == "" && c.WebhookURL != "" {
		c.routing.Channels["webhook"].secret = c.webhookSecret
	}
	return nil
}

// loadRouting reads the routes file and its channels' files, or makes the
// route of the webhook settings.
func (c *Config) loadRouting() error {
	if c.RoutesFile != "" {
		r, err := LoadRouting(c.RoutesFile)
		if err != nil {
			return err
		}
		for _, ch := range r.Channels {
			if err := ch.load(); err != nil {
				return fmt.Errorf("routes-file %s: %w", c.RoutesFile, err)
			}
		}
		c.routing = r
		return nil
	}
	c.routing = &Routing{Channels: map[string]*ChannelConfig{},
		Retry: Retry{Attempts: c.MaxAttempts, Backoff: 250 * time.Millisecond, MaxBackoff: time.Minute}}
	if c.WebhookURL != "" {
		c.routing.Channels["webhook"] = &ChannelConfig{Type: ChannelWebhook, URL: c.WebhookURL, Digest: c.Digest, name: "webhook"}
		c.routing.Routes = []*Route{{Name: "default", Channels: []string{"webhook"}}}
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
	cfg   Config
	log   *slog.Logger
	rdb   redis.UniversalClient
	http  *http.Client
	cl    *kgo.Client
	codec *avro.Codec[record.Break]
	// routing, its channels' senders and the outbox of deliveries
	routing *Routing
	senders map[string]sender
	outbox  outbox
	wake    chan struct{}
	esc     *avro.Codec[record.Escalation]
	topics  struct{ breaks, escalations string }
	m       struct {
		sent, skipped, failed, dead *prometheus.CounterVec
		escalations                 *prometheus.CounterVec
		queued                      prometheus.GaugeFunc
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
	s := &Service{cfg: cfg, log: deps.Log.With("service", "notifier"), rdb: deps.Redis, http: deps.HTTP,
		routing: cfg.routing, senders: map[string]sender{}, outbox: newOutbox(cfg.RedisPrefix, cfg.DedupeTTL), wake: make(chan struct{}, 1)}
	if s.http == nil {
		s.http = &http.Client{Timeout: 15 * time.Second}
	}
	if s.routing == nil { // a Config that did not pass Load
		if err := cfg.loadRouting(); err != nil {
			return nil, err
		}
		s.routing = cfg.routing
	}
	for name, c := range s.routing.Channels {
		snd, err := newSender(ctx, c, s.http, cfg.ConsoleURL, s.log.With("channel", name))
		if err != nil {
			return nil, err
		}
		s.senders[name] = snd
	}
	s.m.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notifications_total",
		Help: "Breaks notified, by channel."}, []string{"channel"})
	s.m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notifications_skipped_total",
		Help: "Breaks not notified again because they already were, by channel."}, []string{"channel"})
	s.m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notification_failures_total",
		Help: "Failed delivery attempts (retried), by channel."}, []string{"channel"})
	s.m.dead = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_notifications_dead_lettered_total",
		Help: "Deliveries given up after their last attempt (or refused) and written to the DLQ, by channel."}, []string{"channel"})
	s.m.escalations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_escalations_notified_total",
		Help: "Escalations notified, by kind and level."}, []string{"kind", "level"})
	s.m.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "recon_notifications_queued",
		Help: "Deliveries in the outbox: waiting for quiet hours or a digest, or for their next attempt."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, _ := s.rdb.ZCard(ctx, s.outbox.queue).Result()
		return float64(n)
	})
	// The series of the enabled channels exist from the start, at zero.
	on := map[string]bool{"log": cfg.Log, "channel": cfg.ChannelURLFile != ""}
	for name := range s.routing.Channels {
		on[name] = true
	}
	for ch, on := range on {
		if on {
			s.m.sent.WithLabelValues(ch)
			s.m.failed.WithLabelValues(ch)
			s.m.dead.WithLabelValues(ch)
		}
	}
	s.m.skipped.WithLabelValues("all")
	for _, k := range []record.EscalationKind{record.EscalateBreak, record.EscalateApproval, record.EscalateStatement} {
		s.m.escalations.WithLabelValues(string(k), "1")
	}
	for _, c := range []prometheus.Collector{s.m.sent, s.m.skipped, s.m.failed, s.m.dead, s.m.escalations, s.m.queued} {
		if err := deps.Metrics.Register(c); err != nil {
			return nil, err
		}
	}
	if s.rdb == nil {
		rdb, err := redisconn.Open(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		s.rdb = rdb
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
	sendDone := make(chan struct{})
	go func() { defer close(sendDone); s.sendLoop(ctx) }()
	defer func() { <-sendDone }()
	for ctx.Err() == nil {
		f := s.cl.PollRecords(ctx, 1000)
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
		raws := make([][]byte, 0, len(recs))
		for _, r := range recs {
			b, err := s.codec.Decode(ctx, r.Value)
			if err != nil {
				s.log.Error("undecodable break sent to the DLQ", "partition", r.Partition, "offset", r.Offset, "err", err)
				if err := kafka.DeadLetter(ctx, s.cl, s.cfg.Kafka.Topic(kafka.TopicDLQ), r, "notify", err); err != nil {
					return err
				}
				continue
			}
			breaks, raws = append(breaks, b), append(raws, r.Value)
		}
		if err := s.route(ctx, breaks, raws); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(recs) > 0 {
			if err := s.cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				s.log.Warn("offset commit failed; breaks will be re-read and skipped as queued", "err", err)
			}
		}
	}
	return nil
}

// route logs the breaks (log-breaks) and queues one delivery per matching
// route and channel in the outbox, due now, at the end of the route's
// quiet hours, or at the channel's next digest.
func (s *Service) route(ctx context.Context, breaks []*record.Break, raws [][]byte) error {
	if len(breaks) == 0 {
		return nil
	}
	if s.cfg.Log {
		for _, b := range breaks {
			s.log.Info("break", "break_id", b.BreakID, "side", string(b.Side), "reason", string(b.Reason),
				"currency", b.Currency, "amount", b.Record.Amount.String(), "booking_date", b.Record.BookingDate.String(),
				"reference", b.Record.Reference, "record_id", b.Record.ID)
		}
		s.m.sent.WithLabelValues("log").Add(float64(len(breaks)))
	}
	now := time.Now()
	var ds []*delivery
	for i, b := range breaks {
		for _, rt := range s.routing.routesFor(b) {
			due := now
			if rt.QuietHours != nil {
				due = rt.QuietHours.Until(now)
			}
			for _, ch := range rt.Channels {
				d := &delivery{ID: deliveryID(rt.Name, ch, b.BreakID), Route: rt.Name, Channel: ch, Recipients: rt.Recipients,
					BreakID: b.BreakID, Break: raws[i], Queued: now, due: due}
				if dg := s.routing.Channels[ch].Digest; dg > 0 { // the end of the digest interval it falls in
					d.due = time.UnixMilli((due.UnixMilli()/dg.Milliseconds() + 1) * dg.Milliseconds())
				}
				ds = append(ds, d)
			}
		}
	}
	for len(ds) > 0 {
		n := min(len(ds), 300)
		added, err := s.outbox.add(ctx, s.rdb, ds[:n])
		if err != nil {
			return err
		}
		if skipped := n - added; skipped > 0 {
			s.m.skipped.WithLabelValues("all").Add(float64(skipped))
		}
		ds = ds[n:]
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// sendLoop sends the outbox's due deliveries until ctx ends.
func (s *Service) sendLoop(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
		for {
			n, err := s.sendDue(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.log.Warn("sending from the outbox failed; retrying", "err", err)
				break
			}
			if n == 0 {
				break
			}
		}
	}
}

// sendDue sends what is due now: one message per delivery, or per
// channel and recipients for a digest channel. It returns how many
// deliveries it handled.
func (s *Service) sendDue(ctx context.Context) (int, error) {
	now := time.Now()
	ds, err := s.outbox.claim(ctx, s.rdb, now, s.cfg.SendTimeout+15*time.Second, 500)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	var order []string
	groups := map[string][]*delivery{}
	for _, d := range ds {
		if d.b, err = s.codec.Decode(ctx, d.Break); err != nil {
			d.Attempts++
			if err := s.giveUp(ctx, []*delivery{d}, fmt.Errorf("undecodable break: %w", err)); err != nil {
				return 0, err
			}
			continue
		}
		key := d.ID
		if c := s.routing.Channels[d.Channel]; c != nil && c.Digest > 0 {
			key = d.Channel + "\x00" + strings.Join(d.Recipients, ",")
		}
		if groups[key] == nil {
			order = append(order, key)
		}
		groups[key] = append(groups[key], d)
	}
	for _, key := range order {
		if err := s.sendGroup(ctx, groups[key]); err != nil {
			return 0, err
		}
	}
	return len(ds), nil
}

// sendGroup sends deliveries of one channel as one message and records
// the outcome: done, queued again after a backoff, or dead-lettered.
func (s *Service) sendGroup(ctx context.Context, ds []*delivery) error {
	first := ds[0]
	snd := s.senders[first.Channel]
	if snd == nil {
		for _, d := range ds {
			d.Attempts++
		}
		return s.giveUp(ctx, ds, fmt.Errorf("channel %q: %w", first.Channel, errNoChannel))
	}
	m := outMessage{Key: first.BreakID, Ref: first.ID, Recipients: first.Recipients, Digest: len(ds) > 1 || s.routing.Channels[first.Channel].Digest > 0}
	ids, breakIDs := make([]string, len(ds)), make([]string, len(ds))
	for i, d := range ds {
		m.Breaks = append(m.Breaks, d.b)
		ids[i], breakIDs[i] = d.ID, d.BreakID
		if !slices.Contains(m.Routes, d.Route) {
			m.Routes = append(m.Routes, d.Route)
		}
	}
	if len(ds) > 1 {
		m.Key, m.Ref = idsKey("digest-", breakIDs), idsKey("digest-", ids)
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	err := snd.send(sctx, m)
	cancel()
	if err == nil {
		if err := s.outbox.finish(ctx, s.rdb, time.Now(), ds); err != nil {
			return err
		}
		s.m.sent.WithLabelValues(first.Channel).Add(float64(len(ds)))
		s.notified.Add(int64(len(ds)))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.m.failed.WithLabelValues(first.Channel).Inc()
	attempts := 0
	for _, d := range ds {
		d.Attempts++
		d.LastError = err.Error()
		attempts = max(attempts, d.Attempts)
	}
	if errors.Is(err, errRefused) || (s.routing.Retry.Attempts > 0 && attempts >= s.routing.Retry.Attempts) {
		return s.giveUp(ctx, ds, err)
	}
	wait := s.routing.Retry.backoff(attempts)
	s.log.Warn("delivery failed, retrying", "channel", first.Channel, "key", m.Key, "attempt", attempts, "backoff", wait, "err", err)
	return s.outbox.retryLater(ctx, s.rdb, ds, time.Now().Add(wait))
}

// giveUp dead-letters deliveries and marks them done.
func (s *Service) giveUp(ctx context.Context, ds []*delivery, cause error) error {
	if err := s.deadLetter(ctx, ds, cause); err != nil {
		return err
	}
	return s.outbox.finish(ctx, s.rdb, time.Now(), ds)
}

// errRefused marks a webhook answer that retrying cannot change (4xx).
var errRefused = errors.New("refused")

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

// postTo sends body to url (signed for the webhook), retrying 429, 5xx
// and network errors with exponential backoff up to max-attempts.
func (s *Service) postTo(ctx context.Context, channel, url, key string, body []byte, sign bool) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var h http.Header
		if sign {
			h = signed(s.cfg.webhookSecret, body)
		}
		err := postJSON(ctx, s.http, url, key, body, h)
		if err == nil || errors.Is(err, errRefused) {
			return err
		}
		s.m.failed.WithLabelValues(channel).Inc()
		if s.cfg.MaxAttempts > 0 && attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("%s %s: gave up after %d attempts (last: %v)", channel, key, attempt, err)
		}
		s.log.Warn("delivery failed, retrying", "channel", channel, "key", key, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}
