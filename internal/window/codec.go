package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// A stored entry is one field of the partition's record hash: the id is
// the field, the value is the record in a compact binary form (about 140
// bytes for a typical bank line, against 300 as JSON):
//
//	byte    format (2)
//	byte    flags: 1 ledger, 2 provisional, 4 marker, 8 held, 16 late
//	uvarint until: the close date of a pending record, the retention end
//	        of a broken record or marker
//	strings account, currency, reference, bank reference, counterparty,
//	        description, source file, break id (uvarint length, bytes)
//	varint  amount units; byte amount scale
//	varint  booking date, source position, ingested at (ms), pending since (ms)
//	        and, with flag 8 (held by a person's decision): byte hold kind,
//	        strings hold id and rule, varint confidence
//	        and, with flag 32 (an original amount in another currency):
//	        string currency, varint units, byte scale
//
// The reference keys are not stored: they are derived again (engine
// Prepare) when a partition is loaded. The JSON form of versions before
// the binary one is no longer read (README, Upgrading).
const formatBinary = 2

const (
	flagLedger = 1 << iota
	flagProvisional
	flagMarker
	flagHeld
	flagLate
	flagOrig
)

// Encode appends the stored form of r, kept until `until`, to dst.
func Encode(dst []byte, r *Entry, until record.Date) []byte {
	var flags byte
	if r.Side == record.Ledger {
		flags |= flagLedger
	}
	if r.Provisional {
		flags |= flagProvisional
	}
	if r.Marker {
		flags |= flagMarker
	}
	if r.Hold != nil {
		flags |= flagHeld
	}
	if r.Late {
		flags |= flagLate
	}
	if r.OrigCurrency != "" {
		flags |= flagOrig
	}
	dst = append(dst, formatBinary, flags)
	dst = binary.AppendVarint(dst, int64(until))
	for _, s := range [...]string{r.Account, r.Currency, r.Reference, r.BankReference, r.Counterparty, r.Description, r.SourceFile, r.BreakID} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendVarint(dst, r.Amount.Units())
	dst = append(dst, byte(r.Amount.Scale()))
	dst = binary.AppendVarint(dst, int64(r.BookingDate))
	dst = binary.AppendVarint(dst, r.SourcePosition)
	dst = binary.AppendVarint(dst, r.IngestedAt.UnixMilli())
	dst = binary.AppendVarint(dst, r.PendingSince.UnixMilli())
	if h := r.Hold; h != nil {
		dst = append(dst, byte(h.Kind))
		for _, s := range [...]string{h.ID, h.Rule} {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
		dst = binary.AppendVarint(dst, int64(h.Confidence))
	}
	if r.OrigCurrency != "" {
		dst = binary.AppendUvarint(dst, uint64(len(r.OrigCurrency)))
		dst = append(dst, r.OrigCurrency...)
		dst = binary.AppendVarint(dst, r.OrigAmount.Units())
		dst = append(dst, byte(r.OrigAmount.Scale()))
	}
	return dst
}

var errShort = errors.New("truncated")

// reader reads the fields of a stored record.
type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	if r.err != nil {
		return ""
	}
	l, n := binary.Uvarint(r.b)
	if n <= 0 || uint64(len(r.b)-n) < l {
		r.err = errShort
		return ""
	}
	s := string(r.b[n : n+int(l)])
	r.b = r.b[n+int(l):]
	return s
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// ErrOldLayout: a stored entry in the JSON form of earlier versions.
var ErrOldLayout = errors.New("stored in the JSON layout of versions before the binary one")

// Decode reads the stored entry id and the date it is kept until.
func Decode(id string, b []byte) (*Entry, record.Date, error) {
	if len(b) > 0 && b[0] == '{' {
		return nil, 0, fmt.Errorf("window: stored record %s: %w", id, ErrOldLayout)
	}
	if len(b) < 2 || b[0] != formatBinary {
		return nil, 0, fmt.Errorf("window: stored record %s: unknown format", id)
	}
	flags := b[1]
	rd := &reader{b: b[2:]}
	until := record.Date(rd.varint())
	r := &Entry{Rec: &engine.Rec{Item: record.Item{ID: id, Side: record.Bank}}}
	if flags&flagLedger != 0 {
		r.Side = record.Ledger
	}
	r.Provisional, r.Marker, r.Late = flags&flagProvisional != 0, flags&flagMarker != 0, flags&flagLate != 0
	r.Account, r.Currency, r.Reference, r.BankReference = rd.str(), rd.str(), rd.str(), rd.str()
	r.Counterparty, r.Description, r.SourceFile, r.BreakID = rd.str(), rd.str(), rd.str(), rd.str()
	units := rd.varint()
	scale := rd.byte()
	r.BookingDate = record.Date(rd.varint())
	r.SourcePosition = rd.varint()
	r.IngestedAt = time.UnixMilli(rd.varint()).UTC()
	r.PendingSince = time.UnixMilli(rd.varint()).UTC()
	if flags&flagHeld != 0 {
		h := &Hold{Kind: HoldKind(rd.byte())}
		h.ID, h.Rule = rd.str(), rd.str()
		h.Confidence = int(rd.varint())
		r.Hold = h
	}
	if flags&flagOrig != 0 {
		r.OrigCurrency = rd.str()
		u := rd.varint()
		sc := rd.byte()
		if int(sc) > money.MaxScale {
			return nil, 0, fmt.Errorf("window: stored record %s: original amount scale %d", id, sc)
		}
		r.OrigAmount = money.New(u, int(sc))
	}
	if rd.err != nil {
		return nil, 0, fmt.Errorf("window: stored record %s: %w", id, rd.err)
	}
	if int(scale) > money.MaxScale {
		return nil, 0, fmt.Errorf("window: stored record %s: amount scale %d", id, scale)
	}
	r.Amount = money.New(units, int(scale))
	r.NormRef = engine.NormalizeRef(r.Reference)
	return r, until, nil
}
