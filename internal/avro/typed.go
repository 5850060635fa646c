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

// typed builds a codec of T on goavro's native form; a non-nil fast
// encoder or decoder takes its place.
func typed[T any](ctx context.Context, reg Registry, subject, name string,
	native func(*T) map[string]any, from func(map[string]any) (*T, error),
	fastEnc func(*codec, []byte, *T) ([]byte, error), fastDec func(*codec, context.Context, []byte) (*T, error)) (*Codec[T], error) {
	c, err := newCodec(ctx, reg, subject, name)
	if err != nil {
		return nil, err
	}
	t := &Codec[T]{c: c, enc: fastEnc, dec: fastDec}
	if t.enc == nil {
		t.enc = func(c *codec, dst []byte, v *T) ([]byte, error) { return c.Encode(dst, native(v)) }
	}
	if t.dec == nil {
		t.dec = func(c *codec, ctx context.Context, b []byte) (*T, error) {
			m, err := c.Decode(ctx, b)
			if err != nil {
				return nil, err
			}
			return from(m)
		}
	}
	return t, nil
}

// NewTransactionCodec is the codec of Transaction values for subject
// (TopicNameStrategy: "<topic>-value"), registering the schema in reg.
func NewTransactionCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Transaction], error) {
	return typed(ctx, reg, subject, schemas.Transaction, transactionNative, transactionFromNative, nil, (*codec).decodeTx)
}

// NewStatementCodec is the codec of StatementBalance values.
func NewStatementCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Statement], error) {
	return typed(ctx, reg, subject, schemas.Statement, statementNative, statementFromNative, nil, nil)
}

// NewMatchCodec is the codec of Match values.
func NewMatchCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Match], error) {
	return typed(ctx, reg, subject, schemas.Match, matchNative, matchFromNative, (*codec).encodeMatch, (*codec).decodeMatchValue)
}

// NewBreakCodec is the codec of Break values.
func NewBreakCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Break], error) {
	return typed(ctx, reg, subject, schemas.Break, breakNative, breakFromNative, nil, nil)
}

// NewFileEventCodec is the codec of FileEvent values.
func NewFileEventCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.FileEvent], error) {
	return typed(ctx, reg, subject, schemas.FileEvent, fileEventNative,
		func(m map[string]any) (*record.FileEvent, error) { return fileEventFromNative(m), nil }, nil, nil)
}

// NewResolutionCodec is the codec of Resolution values.
func NewResolutionCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Resolution], error) {
	return typed(ctx, reg, subject, schemas.Resolution, resolutionNative, resolutionFromNative, nil, nil)
}

// NewOutcomeCodec is the codec of ResolutionOutcome values.
func NewOutcomeCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Outcome], error) {
	return typed(ctx, reg, subject, schemas.Outcome, outcomeNative, outcomeFromNative, nil, nil)
}
