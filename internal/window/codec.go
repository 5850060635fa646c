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
// the field, the value is the record in a compact binary form (about 100
// bytes for a typical bank line, against 300 as JSON):
//
//	byte    format (3)
//	byte    flags: 1 ledger, 2 provisional, 4 marker, 8 held, 16 late
//	uvarint until: the close date of a pending record, the retention end
//	        of a broken record or marker
//	uvarint account, currency, source file: indexes into the partition's
//	        string table (Strings), which holds each of them once
//	strings reference, bank reference, counterparty, description, break id
//	        (uvarint length, bytes)
//	varint  amount units; byte amount scale
//	varint  booking date, source position, ingested at (ms), pending since
//	        (ms after ingested at)
//	        and, with flag 8 (held by a person's decision): byte hold kind,
//	        strings hold id and rule, varint confidence
//	        and, with flag 32 (an original amount in another currency):
//	        string currency, varint units, byte scale
//
// Format 2, which versions before the string table wrote, is read still:
// it holds account, currency and source file inline (in the order
// account, currency, reference, bank reference, counterparty,
// description, source file, break id) and pending since in full.
//
// The reference keys are not stored: they are derived again (engine
// Prepare) when a partition is loaded. The JSON form of versions before
// the binary one is no longer read (README, Upgrading).
const (
	formatInline = 2 // every string inline
	formatTable  = 3 // account, currency and source file in the string table
)

const (
	flagLedger = 1 << iota
	flagProvisional
	flagMarker
	flagHeld
	flagLate
	flagOrig
)

// Encode appends the stored form of r, kept until `until`, to dst. Its
// account, currency and source file are named by their index in tab,
// which takes the ones it did not hold yet (Strings.Unsaved).
func Encode(dst []byte, r *Entry, until record.Date, tab *Strings) []byte {
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
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = append(dst, formatTable, flags)
	dst = binary.AppendVarint(dst, int64(until))
	for _, s := range [...]string{r.Account, r.Currency, r.SourceFile} {
		dst = binary.AppendUvarint(dst, tab.index(s))
	}
	for _, s := range [...]string{r.Reference, r.BankReference, r.Counterparty, r.Description, r.BreakID} {
		str(s)
	}
	dst = binary.AppendVarint(dst, r.Amount.Units())
	dst = append(dst, byte(r.Amount.Scale()))
	dst = binary.AppendVarint(dst, int64(r.BookingDate))
	dst = binary.AppendVarint(dst, r.SourcePosition)
	dst = binary.AppendVarint(dst, r.IngestedAt.UnixMilli())
	dst = binary.AppendVarint(dst, r.PendingSince.UnixMilli()-r.IngestedAt.UnixMilli())
	if h := r.Hold; h != nil {
		dst = append(dst, byte(h.Kind))
		str(h.ID)
		str(h.Rule)
		dst = binary.AppendVarint(dst, int64(h.Confidence))
	}
	if r.OrigCurrency != "" {
		str(r.OrigCurrency)
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

// shared reads an index into tab and returns its string.
func (r *reader) shared(tab *Strings) string {
	if r.err != nil {
		return ""
	}
	i, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return ""
	}
	r.b = r.b[n:]
	s, ok := tab.get(i)
	if !ok {
		r.err = fmt.Errorf("string %d is not in the partition's string table", i)
	}
	return s
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// ErrOldLayout: a stored entry in the JSON form of earlier versions.
var ErrOldLayout = errors.New("stored in the JSON layout of versions before the binary one")

// Decode reads the stored entry id and the date it is kept until; tab
// is the partition's string table.
func Decode(id string, b []byte, tab *Strings) (*Entry, record.Date, error) {
	if len(b) > 0 && b[0] == '{' {
		return nil, 0, fmt.Errorf("window: stored record %s: %w", id, ErrOldLayout)
	}
	if len(b) < 2 || (b[0] != formatInline && b[0] != formatTable) {
		return nil, 0, fmt.Errorf("window: stored record %s: unknown format", id)
	}
	format, flags := b[0], b[1]
	rd := &reader{b: b[2:]}
	until := record.Date(rd.varint())
	r := &Entry{Rec: &engine.Rec{Item: record.Item{ID: id, Side: record.Bank}}}
	if flags&flagLedger != 0 {
		r.Side = record.Ledger
	}
	r.Provisional, r.Marker, r.Late = flags&flagProvisional != 0, flags&flagMarker != 0, flags&flagLate != 0
	if format == formatInline {
		r.Account, r.Currency, r.Reference, r.BankReference = rd.str(), rd.str(), rd.str(), rd.str()
		r.Counterparty, r.Description, r.SourceFile, r.BreakID = rd.str(), rd.str(), rd.str(), rd.str()
	} else {
		r.Account, r.Currency, r.SourceFile = rd.shared(tab), rd.shared(tab), rd.shared(tab)
		r.Reference, r.BankReference, r.Counterparty = rd.str(), rd.str(), rd.str()
		r.Description, r.BreakID = rd.str(), rd.str()
	}
	units := rd.varint()
	scale := rd.byte()
	r.BookingDate = record.Date(rd.varint())
	r.SourcePosition = rd.varint()
	ingested := rd.varint()
	r.IngestedAt = time.UnixMilli(ingested).UTC()
	if format == formatInline {
		r.PendingSince = time.UnixMilli(rd.varint()).UTC()
	} else {
		r.PendingSince = time.UnixMilli(ingested + rd.varint()).UTC()
	}
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
