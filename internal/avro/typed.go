package avro

import (
	"context"

	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/schemas"
)

// Codec is the codec of one record type: Encode writes a *T framed with the
// schema id it registered; Decode reads a value written with any schema id
// the registry knows into a *T. Transactions and matches go through the
// hand-written fast paths of fast.go when the value's schema is the
// codec's own; everything else through goavro. It is safe for concurrent
// use.
type Codec[T any] struct {
	c   *codec
	enc func(c *codec, dst []byte, v *T) ([]byte, error)
	dec func(c *codec, ctx context.Context, b []byte) (*T, error)
}

// Encode appends the framed value of v to dst.
func (t *Codec[T]) Encode(dst []byte, v *T) ([]byte, error) { return t.enc(t.c, dst, v) }

// Decode reads a framed value.
func (t *Codec[T]) Decode(ctx context.Context, b []byte) (*T, error) { return t.dec(t.c, ctx, b) }

// ID is the schema id this codec writes.
func (t *Codec[T]) ID() int { return t.c.id }

// generic builds a codec of T on goavro's native form.
func generic[T any](ctx context.Context, reg Registry, subject, name string,
	native func(*T) map[string]any, from func(map[string]any) (*T, error)) (*Codec[T], error) {
	c, err := newCodec(ctx, reg, subject, name)
	if err != nil {
		return nil, err
	}
	return &Codec[T]{c: c,
		enc: func(c *codec, dst []byte, v *T) ([]byte, error) { return c.Encode(dst, native(v)) },
		dec: func(c *codec, ctx context.Context, b []byte) (*T, error) {
			m, err := c.Decode(ctx, b)
			if err != nil {
				return nil, err
			}
			return from(m)
		}}, nil
}

// NewTransactionCodec is the codec of Transaction values for subject
// (TopicNameStrategy: "<topic>-value"), registering the schema in reg.
func NewTransactionCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Transaction], error) {
	t, err := generic(ctx, reg, subject, schemas.Transaction, transactionNative, transactionFromNative)
	if err != nil {
		return nil, err
	}
	t.dec = (*codec).decodeTx
	return t, nil
}

// NewStatementCodec is the codec of StatementBalance values.
func NewStatementCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Statement], error) {
	return generic(ctx, reg, subject, schemas.Statement, statementNative, statementFromNative)
}

// NewMatchCodec is the codec of Match values.
func NewMatchCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Match], error) {
	t, err := generic(ctx, reg, subject, schemas.Match, matchNative, matchFromNative)
	if err != nil {
		return nil, err
	}
	t.enc = (*codec).encodeMatch
	return t, nil
}

// NewBreakCodec is the codec of Break values.
func NewBreakCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Break], error) {
	return generic(ctx, reg, subject, schemas.Break, breakNative, breakFromNative)
}

// NewFileEventCodec is the codec of FileEvent values.
func NewFileEventCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.FileEvent], error) {
	return generic(ctx, reg, subject, schemas.FileEvent, fileEventNative,
		func(m map[string]any) (*record.FileEvent, error) { return fileEventFromNative(m), nil })
}
