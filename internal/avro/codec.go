// Package avro encodes and decodes topic values: Avro bodies (goavro) in the
// Confluent wire format (magic byte 0, big-endian 4-byte schema id, body),
// with schema ids from a Schema Registry or from the embedded id table, and
// the mapping between the canonical Go records and their Avro form. It also
// checks schema evolution (CheckBackward).
package avro

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/openrecon/recon/schemas"
)

// goavro allocates an array or map of the block count a value claims
// before reading its items (up to 2^31 by default), so one corrupt or
// hostile record could exhaust a consumer's memory. Every array and map of
// our schemas is small (a match's members, a record's extra fields), and a
// Kafka value is bounded by the broker's message size.
func init() {
	goavro.MaxBlockCount = 1 << 16
	goavro.MaxBlockSize = 64 << 20
}

// ErrNotFramed means a value does not start with the Confluent magic byte.
var ErrNotFramed = errors.New("avro: value is not in the Confluent wire format (magic byte 0 + schema id)")

// Registry gives schema ids for writing and schemas for reading.
type Registry interface {
	// Register returns the id of schema under subject, registering it if new.
	Register(ctx context.Context, subject, schema string) (int, error)
	// Schema returns the schema text of id.
	Schema(ctx context.Context, id int) (string, error)
}

// codec writes one schema and reads any schema the registry knows.
// It is safe for concurrent use.
type codec struct {
	name  string
	id    int
	codec *goavro.Codec
	reg   Registry

	mu      sync.RWMutex
	readers map[int]*goavro.Codec
}

// newCodec prepares the embedded schema name for subject (TopicNameStrategy:
// "<topic>-value"), registering it in reg.
func newCodec(ctx context.Context, reg Registry, subject, name string) (*codec, error) {
	text, err := schemas.Get(name)
	if err != nil {
		return nil, err
	}
	gc, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("avro: schema %s: %w", name, err)
	}
	id, err := reg.Register(ctx, subject, text)
	if err != nil {
		return nil, fmt.Errorf("avro: register %s as %s: %w", name, subject, err)
	}
	return &codec{name: name, id: id, codec: gc, reg: reg, readers: map[int]*goavro.Codec{id: gc}}, nil
}

// ID is the schema id this codec writes.
func (c *codec) ID() int { return c.id }

// Encode appends the framed Avro encoding of native to dst.
func (c *codec) Encode(dst []byte, native map[string]any) ([]byte, error) {
	dst = append(dst, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(c.id))
	out, err := c.codec.BinaryFromNative(dst, native)
	if err != nil {
		return nil, fmt.Errorf("avro: encode %s: %w", c.name, err)
	}
	return out, nil
}

// Decode reads a framed value written with any schema id the registry knows
// and returns its native form (a map of field names).
func (c *codec) Decode(ctx context.Context, b []byte) (map[string]any, error) {
	id, body, err := SplitFrame(b)
	if err != nil {
		return nil, err
	}
	gc, err := c.reader(ctx, id)
	if err != nil {
		return nil, err
	}
	v, rest, err := gc.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("avro: decode %s (schema id %d): %w", c.name, id, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("avro: decode %s (schema id %d): %d trailing bytes", c.name, id, len(rest))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("avro: decode %s: not a record", c.name)
	}
	return m, nil
}

func (c *codec) reader(ctx context.Context, id int) (*goavro.Codec, error) {
	c.mu.RLock()
	gc := c.readers[id]
	c.mu.RUnlock()
	if gc != nil {
		return gc, nil
	}
	text, err := c.reg.Schema(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("avro: schema id %d: %w", id, err)
	}
	gc, err = goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("avro: schema id %d: %w", id, err)
	}
	c.mu.Lock()
	c.readers[id] = gc
	c.mu.Unlock()
	return gc, nil
}

// SplitFrame returns the schema id and Avro body of a framed value.
func SplitFrame(b []byte) (int, []byte, error) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, ErrNotFramed
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}
