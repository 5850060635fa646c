package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names of a dead-letter record. The record keeps the original key
// and value (or, for a file, a sample of it); these say where it came from
// and why.
const (
	HeaderStage           = "recon.stage"  // file, parse, file-event, match, or the consumer's stage
	HeaderReason          = "recon.reason" // why, in a few words
	HeaderError           = "recon.error"  // the full error (parse errors: file, line, entry, field)
	HeaderFile            = "recon.file"
	HeaderDigest          = "recon.digest" // SHA-256 of the file
	HeaderFormat          = "recon.format"
	HeaderSide            = "recon.side"
	HeaderBucket          = "recon.bucket"
	HeaderTruncated       = "recon.truncated" // "true" when the value is only the file's first bytes
	HeaderLine            = "recon.line"
	HeaderEntry           = "recon.entry"
	HeaderField           = "recon.field"
	HeaderPath            = "recon.path" // XML path of a camt entry
	HeaderSourceTopic     = "recon.source.topic"
	HeaderSourcePartition = "recon.source.partition"
	HeaderSourceOffset    = "recon.source.offset"
)

// DLQInfo is what a dead-letter record says about itself; zero fields are
// not written.
type DLQInfo struct {
	Stage, Reason, Error               string
	File, Digest, Format, Side, Bucket string
	Truncated                          bool
	Line                               int
	Entry                              int64
	Field, Path                        string
	SourceTopic                        string // with the partition and offset below
	SourcePartition                    int32
	SourceOffset                       int64
}

// From sets the source of d to record r.
func (d DLQInfo) From(r *kgo.Record) DLQInfo {
	d.SourceTopic, d.SourcePartition, d.SourceOffset = r.Topic, r.Partition, r.Offset
	return d
}

// Headers are d's header values by name.
func (d DLQInfo) Headers() map[string]string {
	h := map[string]string{}
	for k, v := range map[string]string{HeaderStage: d.Stage, HeaderReason: d.Reason, HeaderError: d.Error,
		HeaderFile: d.File, HeaderDigest: d.Digest, HeaderFormat: d.Format, HeaderSide: d.Side,
		HeaderBucket: d.Bucket, HeaderField: d.Field, HeaderPath: d.Path} {
		if v != "" {
			h[k] = v
		}
	}
	if d.Truncated {
		h[HeaderTruncated] = "true"
	}
	if d.Line > 0 {
		h[HeaderLine] = strconv.Itoa(d.Line)
	}
	if d.Entry > 0 {
		h[HeaderEntry] = strconv.FormatInt(d.Entry, 10)
	}
	if d.SourceTopic != "" {
		h[HeaderSourceTopic] = d.SourceTopic
		h[HeaderSourcePartition] = strconv.Itoa(int(d.SourcePartition))
		h[HeaderSourceOffset] = strconv.FormatInt(d.SourceOffset, 10)
	}
	return h
}

// RecordHeaders are the headers of m as a record carries them, sorted by
// name (the same headers give the same bytes).
func RecordHeaders(m map[string]string) []kgo.RecordHeader {
	if len(m) == 0 {
		return nil
	}
	hs := make([]kgo.RecordHeader, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(m[k])})
	}
	return hs
}

// ParseDLQ reads the headers of a dead-letter record.
func ParseDLQ(hs []kgo.RecordHeader) DLQInfo {
	h := map[string]string{}
	for _, x := range hs {
		h[x.Key] = string(x.Value)
	}
	d := DLQInfo{Stage: h[HeaderStage], Reason: h[HeaderReason], Error: h[HeaderError], File: h[HeaderFile],
		Digest: h[HeaderDigest], Format: h[HeaderFormat], Side: h[HeaderSide], Bucket: h[HeaderBucket],
		Truncated: h[HeaderTruncated] == "true", Field: h[HeaderField], Path: h[HeaderPath], SourceTopic: h[HeaderSourceTopic]}
	d.Line, _ = strconv.Atoi(h[HeaderLine])
	d.Entry, _ = strconv.ParseInt(h[HeaderEntry], 10, 64)
	p, _ := strconv.ParseInt(h[HeaderSourcePartition], 10, 32)
	d.SourcePartition = int32(p)
	d.SourceOffset, _ = strconv.ParseInt(h[HeaderSourceOffset], 10, 64)
	return d
}

// DeadLetter copies r, unchanged and with its headers, to the dead-letter
// topic with headers saying where it came from and why (stage, reason,
// source topic/partition/offset). It retries until the DLQ accepts the
// record or ctx ends: a poison record is never dropped silently.
func DeadLetter(ctx context.Context, cl *kgo.Client, dlqTopic string, r *kgo.Record, stage string, cause error) error {
	out := &kgo.Record{Topic: dlqTopic, Key: r.Key, Value: r.Value, Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
		RecordHeaders((DLQInfo{Stage: stage, Reason: cause.Error()}).From(r).Headers())...)}
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
