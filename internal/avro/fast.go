package avro

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/schemas"
)

// The matcher reads every transaction and writes a match for every pair,
// so those two go through hand-written codecs of the current schemas
// instead of goavro's generic maps (about 10x less CPU, no maps). They
// apply only to values written with this codec's own schema id; anything
// else (an older writer schema, an amount beyond int64) takes the generic
// path. Tests hold both paths to the same bytes and the same records.

// decodeTx reads a framed Transaction value.
func (c *codec) decodeTx(ctx context.Context, b []byte) (*record.Transaction, error) {
	id, body, err := SplitFrame(b)
	if err != nil {
		return nil, err
	}
	if id == c.id && c.name == schemas.Transaction {
		t, err := decodeTransaction(body)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, errGeneric) {
			return nil, fmt.Errorf("avro: decode %s (schema id %d): %w", c.name, id, err)
		}
	}
	m, err := c.Decode(ctx, b)
	if err != nil {
		return nil, err
	}
	return transactionFromNative(m)
}

// encodeMatch appends the framed Match value of m to dst.
func (c *codec) encodeMatch(dst []byte, m *record.Match) ([]byte, error) {
	if c.name == schemas.Match {
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(dst[start+1:], uint32(c.id))
		if out, ok := appendMatch(dst, m); ok {
			return out, nil
		}
		dst = dst[:start]
	}
	return c.Encode(dst, matchNative(m))
}

// errGeneric: the value is valid Avro the fast path does not handle.
var errGeneric = errors.New("not for the fast path")

var errTruncated = errors.New("truncated value")

// errRange: an int or long written with more bits than it has. The Avro
// spec makes that invalid; goavro reads it by wrapping around, the fast
// path refuses it.
var errRange = errors.New("number out of range")

type dec struct {
	b   []byte
	err error
}

func (d *dec) long() int64 {
	if d.err != nil {
		return 0
	}
	u, n := binary.Uvarint(d.b)
	if n < 0 {
		d.err = errRange
		return 0
	}
	if n == 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return int64(u>>1) ^ -int64(u&1) // zig-zag
}

func (d *dec) bytes() []byte {
	n := d.long()
	if d.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(d.b)) {
		d.err = fmt.Errorf("length %d with %d bytes left", n, len(d.b))
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) boolean() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.err = errTruncated
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.err = fmt.Errorf("boolean byte %d", v)
	}
	return v == 1
}

func (d *dec) int32() int32 {
	v := d.long()
	if d.err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		d.err = fmt.Errorf("%w: int %d", errRange, v)
	}
	return int32(v)
}

// decimal6 reads a bytes decimal of scale 6 that fits int64.
func (d *dec) decimal6() int64 {
	b := d.bytes()
	if d.err != nil {
		return 0
	}
	if len(b) == 0 || len(b) > 8 {
		d.err = errGeneric
		return 0
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v
}

func millis(ms int64) time.Time {
	s := ms / 1e3
	return time.Unix(s, (ms-s*1e3)*1e6).UTC()
}

// blocks reads an Avro array or map: blocks of n items (read by item),
// a negative count followed by the block's byte size, ending with 0.
func (d *dec) blocks(item func(n int64)) error {
	for d.err == nil {
		n := d.long()
		if n == 0 || d.err != nil {
			break
		}
		if n < 0 {
			n = -n
			d.long()
		}
		if n > int64(len(d.b)) {
			return fmt.Errorf("block of %d items with %d bytes left", n, len(d.b))
		}
		item(n)
	}
	return d.err
}

// decodeTransaction reads a Transaction body of the current schema.
func decodeTransaction(body []byte) (*record.Transaction, error) {
	d := &dec{b: body}
	t := &record.Transaction{ID: d.str()}
	switch side := d.long(); {
	case d.err != nil:
	case side == 0:
		t.Side = record.Bank
	case side == 1:
		t.Side = record.Ledger
	default:
		return nil, fmt.Errorf("side symbol %d", side)
	}
	t.Account, t.Currency = d.str(), d.str()
	units := d.decimal6()
	t.BookingDate = record.Date(d.int32())
	switch u := d.long(); {
	case d.err != nil:
	case u == 1:
		vd := record.Date(d.int32())
		t.ValueDate = &vd
	case u != 0:
		return nil, fmt.Errorf("value_date union branch %d", u)
	}
	t.Reference, t.BankReference, t.Counterparty, t.Description, t.TypeCode = d.str(), d.str(), d.str(), d.str(), d.str()
	t.Provisional = d.boolean()
	t.StatementID, t.SourceFile = d.str(), d.str()
	_ = d.bytes() // source_digest: not kept in the record
	t.SourcePosition = d.long()
	t.IngestedAt = millis(d.long())
	if err := d.blocks(func(n int64) {
		if t.Extra == nil {
			t.Extra = make(map[string]string, n)
		}
		for i := int64(0); i < n && d.err == nil; i++ {
			k := d.str()
			t.Extra[k] = d.str()
		}
	}); err != nil {
		return nil, err
	}
	t.CounterpartyAccount, t.CounterpartyBIC, t.EndToEndID = d.str(), d.str(), d.str()
	if err := d.blocks(func(n int64) {
		for i := int64(0); i < n && d.err == nil; i++ {
			t.TextReferences = append(t.TextReferences, d.str())
		}
	}); err != nil {
		return nil, err
	}
	t.RawText = d.str()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if t.ID == "" || t.Account == "" || t.Currency == "" {
		return nil, fmt.Errorf("transaction lacks id, account or currency")
	}
	t.Amount = money.New(units, money.MaxScale).Trim(money.MinorUnits(t.Currency))
	return t, nil
}

func appendLong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

// appendDecimal6 writes d as a bytes decimal of scale 6 (minimal two's
// complement, as goavro writes it); false if it does not fit int64.
func appendDecimal6(b []byte, d money.Decimal) ([]byte, bool) {
	f := int64(1)
	for i := d.Scale(); i < money.MaxScale; i++ {
		f *= 10
	}
	hi, lo := bits.Mul64(uint64(abs(d.Units())), uint64(f))
	if hi != 0 || lo > math.MaxInt64 {
		return b, false
	}
	v := d.Units() * f
	n := 1
	for n < 8 && (v < -(1<<(8*n-1)) || v >= 1<<(8*n-1)) {
		n++
	}
	b = appendLong(b, int64(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b, true
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func appendMillis(b []byte, t time.Time) []byte {
	return appendLong(b, t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

var matchStatus = map[record.MatchStatus]int64{record.Auto: 0, record.Proposed: 1, record.Confirmed: 2}

// appendMatch writes m's Match body; false when the generic path must.
func appendMatch(b []byte, m *record.Match) ([]byte, bool) {
	st, ok := matchStatus[m.Status]
	if !ok || m.Confidence < math.MinInt32 || m.Confidence > math.MaxInt32 || m.Difference.Units() == math.MinInt64 {
		return b, false
	}
	b = appendString(b, m.MatchID)
	b = appendString(b, m.Rule)
	b = appendLong(b, int64(m.Confidence))
	b = appendLong(b, st)
	b = appendString(b, m.Account)
	b = appendString(b, m.Currency)
	for _, items := range [2][]record.Item{m.Bank, m.Ledger} {
		if len(items) > 0 {
			b = appendLong(b, int64(len(items)))
			for i := range items {
				it := &items[i]
				if it.Amount.Units() == math.MinInt64 {
					return b, false
				}
				b = appendString(b, it.ID)
				if b, ok = appendDecimal6(b, it.Amount); !ok {
					return b, false
				}
				b = appendLong(b, int64(it.BookingDate))
				b = appendString(b, it.Reference)
				b = appendString(b, it.BankReference)
				b = appendString(b, it.Counterparty)
				b = appendString(b, it.Description)
				b = appendString(b, it.SourceFile)
				b = appendLong(b, it.SourcePosition)
				b = appendMillis(b, it.IngestedAt)
			}
		}
		b = appendLong(b, 0)
	}
	if b, ok = appendDecimal6(b, m.Difference); !ok {
		return b, false
	}
	b = appendString(b, m.Explanation)
	if len(m.ClearsBreakIDs) > 0 {
		b = appendLong(b, int64(len(m.ClearsBreakIDs)))
		for _, id := range m.ClearsBreakIDs {
			b = appendString(b, id)
		}
	}
	b = appendLong(b, 0)
	b = appendMillis(b, m.DecidedAt)
	b = appendLong(b, m.RuleVersion)
	return b, true
}

// decodeMatchValue reads a framed Match value (the loader, the console's
// feed and the notifier read one per match).
func (c *codec) decodeMatchValue(ctx context.Context, b []byte) (*record.Match, error) {
	id, body, err := SplitFrame(b)
	if err != nil {
		return nil, err
	}
	if id == c.id && c.name == schemas.Match {
		m, err := decodeMatch(body)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, errGeneric) {
			return nil, fmt.Errorf("avro: decode %s (schema id %d): %w", c.name, id, err)
		}
	}
	n, err := c.Decode(ctx, b)
	if err != nil {
		return nil, err
	}
	return matchFromNative(n)
}

var matchStatuses = [...]record.MatchStatus{record.Auto, record.Proposed, record.Confirmed}

// decodeMatch reads a Match body of the current schema (appendMatch's
// inverse).
func decodeMatch(body []byte) (*record.Match, error) {
	d := &dec{b: body}
	m := &record.Match{MatchID: d.str(), Rule: d.str()}
	m.Confidence = record.Confidence(d.int32())
	switch st := d.long(); {
	case d.err != nil:
	case st >= 0 && st < int64(len(matchStatuses)):
		m.Status = matchStatuses[st]
	default:
		return nil, fmt.Errorf("status symbol %d", st)
	}
	m.Account, m.Currency = d.str(), d.str()
	minor := money.MinorUnits(m.Currency)
	for _, side := range [2]struct {
		side record.Side
		dst  *[]record.Item
	}{{record.Bank, &m.Bank}, {record.Ledger, &m.Ledger}} {
		if err := d.blocks(func(n int64) {
			for i := int64(0); i < n && d.err == nil; i++ {
				it := record.Item{ID: d.str(), Side: side.side, Currency: m.Currency}
				it.Amount = money.New(d.decimal6(), money.MaxScale).Trim(minor)
				it.BookingDate = record.Date(d.int32())
				it.Reference, it.BankReference, it.Counterparty, it.Description, it.SourceFile = d.str(), d.str(), d.str(), d.str(), d.str()
				it.SourcePosition = d.long()
				it.IngestedAt = millis(d.long())
				*side.dst = append(*side.dst, it)
			}
		}); err != nil {
			return nil, err
		}
	}
	m.Difference = money.New(d.decimal6(), money.MaxScale).Trim(minor)
	m.Explanation = d.str()
	if err := d.blocks(func(n int64) {
		for i := int64(0); i < n && d.err == nil; i++ {
			m.ClearsBreakIDs = append(m.ClearsBreakIDs, d.str())
		}
	}); err != nil {
		return nil, err
	}
	m.DecidedAt = millis(d.long())
	m.RuleVersion = d.long()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return m, nil
}
