package kafka

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetter copies r, unchanged, to the dead-letter topic with headers
// saying where it came from and why (recon.stage, recon.reason,
// recon.source.topic/partition/offset). It retries until the DLQ accepts
// the record or ctx ends: a poison record is never dropped silently.
func DeadLetter(ctx context.Context, cl *kgo.Client, dlqTopic string, r *kgo.Record, stage string, cause error) error {
	out := &kgo.Record{Topic: dlqTopic, Key: r.Key, Value: r.Value, Headers: append([]kgo.RecordHeader(nil), r.Headers...)}
	for k, v := range map[string]string{
		"recon.stage": stage, "recon.reason": cause.Error(), "recon.source.topic": r.Topic,
		"recon.source.partition": strconv.Itoa(int(r.Partition)), "recon.source.offset": strconv.FormatInt(r.Offset, 10),
	} {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	backoff := 200 * time.Millisecond
	for {
		err := cl.ProduceSync(ctx, out).FirstErr()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dead-letter %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
