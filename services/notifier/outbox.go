package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// The outbox holds every delivery (a break for one route and channel) from
// the moment its break is read until its channel accepted it or it was
// dead-lettered. It lives in Redis under one hash tag, so it survives a
// restart and works on Redis Cluster:
//
//	{prefix:notify}:queue  sorted set: delivery id → when it is due (ms)
//	{prefix:notify}:items  hash: delivery id → the delivery (JSON)
//	{prefix:notify}:done   sorted set: delivery id → when it was delivered
//	                       or dead-lettered (kept for the dedupe TTL)
//
// A delivery id is route|channel|break id, so a break reaches each route's
// channel once however often it is read. Notifiers sharing the outbox
// claim what they send (the delivery's due time moves past the send
// timeout), so two never send one delivery at once, and a delivery whose
// sender died is due again when its claim runs out.
type outbox struct {
	queue, items, done string
	ttl                time.Duration
}

func newOutbox(prefix string, ttl time.Duration) outbox {
	tag := "{" + prefix + ":notify}"
	return outbox{queue: tag + ":queue", items: tag + ":items", done: tag + ":done", ttl: ttl}
}

// delivery is one break on its way to one channel of one route.
type delivery struct {
	ID         string    `json:"-"`
	Route      string    `json:"route"`
	Channel    string    `json:"channel"`
	Recipients []string  `json:"recipients,omitempty"`
	BreakID    string    `json:"break_id"`
	Break      []byte    `json:"break"` // the record as read from recon.breaks (Avro)
	Queued     time.Time `json:"queued"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	due        time.Time // when queued
	b          *record.Break
}

func deliveryID(route, channel, breakID string) string { return route + "|" + channel + "|" + breakID }

// enqueueScript adds the deliveries neither queued nor done.
// KEYS: queue, items, done. ARGV: id, due, payload, id, due, payload, …
var enqueueScript = redis.NewScript(`
local added = 0
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[3], id) == false and redis.call('HEXISTS', KEYS[2], id) == 0 then
    redis.call('HSET', KEYS[2], id, ARGV[i+2])
    redis.call('ZADD', KEYS[1], ARGV[i+1], id)
    added = added + 1
  end
end
return added`)

// finishScript marks deliveries done and forgets done ones older than the
// TTL. KEYS: queue, items, done. ARGV: now (ms), horizon (ms), ids…
var finishScript = redis.NewScript(`
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
return #ARGV - 2`)

// add queues the deliveries not seen before and returns how many it added.
func (o outbox) add(ctx context.Context, rdb redis.Scripter, ds []*delivery) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	args := make([]any, 0, 3*len(ds))
	for _, d := range ds {
		p, err := json.Marshal(d)
		if err != nil {
			return 0, err
		}
		args = append(args, d.ID, d.due.UnixMilli(), p)
	}
	n, err := enqueueScript.Run(ctx, rdb, []string{o.queue, o.items, o.done}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return n, nil
}

// claimScript takes up to ARGV[3] deliveries due at ARGV[1] and makes
// them due again at ARGV[2] (should their sender die), returning id and
// item pairs. KEYS: queue, items.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
    table.insert(out, id)
    table.insert(out, v)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`)

// claim takes up to limit deliveries due at now, earliest first, for
// hold: until then no other notifier sharing the outbox takes them, and
// after it they are due again unless finished or rescheduled.
func (o outbox) claim(ctx context.Context, rdb redis.Scripter, now time.Time, hold time.Duration, limit int) ([]*delivery, error) {
	vals, err := claimScript.Run(ctx, rdb, []string{o.queue, o.items}, now.UnixMilli(), now.Add(hold).UnixMilli(), limit).StringSlice()
	if err != nil || len(vals) == 0 {
		return nil, err
	}
	out := make([]*delivery, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		d := &delivery{ID: vals[i]}
		if err := json.Unmarshal([]byte(vals[i+1]), d); err != nil {
			return nil, fmt.Errorf("outbox item %s: %w", vals[i], err)
		}
		out = append(out, d)
	}
	return out, nil
}

// finish marks the deliveries done.
func (o outbox) finish(ctx context.Context, rdb redis.Scripter, now time.Time, ds []*delivery) error {
	args := []any{now.UnixMilli(), now.Add(-o.ttl).UnixMilli()}
	for _, d := range ds {
		args = append(args, d.ID)
	}
	return finishScript.Run(ctx, rdb, []string{o.queue, o.items, o.done}, args...).Err()
}

// retryLater stores the deliveries' attempts and queues them again at due.
func (o outbox) retryLater(ctx context.Context, rdb redis.Cmdable, ds []*delivery, due time.Time) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range ds {
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			p.HSet(ctx, o.items, d.ID, b)
			p.ZAdd(ctx, o.queue, redis.Z{Score: float64(due.UnixMilli()), Member: d.ID})
		}
		return nil
	})
	return err
}

// backoff is the wait before attempt n+1 (n ≥ 1).
func (r Retry) backoff(n int) time.Duration {
	d := r.Backoff
	for i := 1; i < n && d < r.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.MaxBackoff)
}

// deadLetter writes the deliveries to recon.dlq (stage notify, the
// channel's last error as the reason) before they are marked done, so a
// delivery that never succeeded is kept rather than lost.
func (s *Service) deadLetter(ctx context.Context, ds []*delivery, cause error) error {
	for _, d := range ds {
		body, err := json.Marshal(struct {
			*delivery
			Break *record.Break `json:"break"`
		}{d, d.b})
		if err != nil {
			return err
		}
		info := kafka.DLQInfo{Stage: "notify", Reason: fmt.Sprintf("channel %s (route %s): %d attempt(s), last: %v", d.Channel, d.Route, d.Attempts, cause),
			Error: cause.Error(), SourceTopic: s.topics.breaks}
		r := &kgo.Record{Topic: s.cfg.Kafka.Topic(kafka.TopicDLQ), Key: []byte(d.ID), Value: body, Headers: kafka.RecordHeaders(info.Headers())}
		if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return fmt.Errorf("dead-letter %s: %w", d.ID, err)
		}
		s.m.dead.WithLabelValues(d.Channel).Inc()
		s.log.Error("notification dead-lettered", "delivery", d.ID, "attempts", d.Attempts, "err", cause)
	}
	return nil
}

// errNoChannel: a queued delivery names a channel the routes file no
// longer has.
var errNoChannel = errors.New("the channel is no longer configured")
