package avro

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// TransactionNative returns the Avro native form of t (schemas/transaction.avsc).
func TransactionNative(t *record.Transaction, digest string) map[string]any {
	var vd any
	if t.ValueDate != nil {
		vd = goavroUnion("int.date", time.Unix(int64(*t.ValueDate)*86400, 0).UTC())
	}
	extra := make(map[string]any, len(t.Extra))
	for k, v := range t.Extra {
		extra[k] = v
	}
	return map[string]any{
		"id":              t.ID,
		"side":            strings.ToUpper(string(t.Side)),
		"account":         t.Account,
		"currency":        t.Currency,
		"amount":          t.Amount.Rat(),
		"booking_date":    t.BookingDate.Time(),
		"value_date":      vd,
		"reference":       t.Reference,
		"bank_reference":  t.BankReference,
		"counterparty":    t.Counterparty,
		"description":     t.Description,
		"type_code":       t.TypeCode,
		"provisional":     t.Provisional,
		"statement_id":    t.StatementID,
		"source_file":     t.SourceFile,
		"source_digest":   digest,
		"source_position": t.SourcePosition,
		"ingested_at":     t.IngestedAt.UTC(),
		"extra":           extra,
	}
}

// TransactionFromNative maps a decoded Avro Transaction back to a record.
// Fields missing from older writer schemas take their defaults.
func TransactionFromNative(m map[string]any) (*record.Transaction, error) {
	t := &record.Transaction{
		ID:             str(m["id"]),
		Account:        str(m["account"]),
		Currency:       str(m["currency"]),
		Reference:      str(m["reference"]),
		BankReference:  str(m["bank_reference"]),
		Counterparty:   str(m["counterparty"]),
		Description:    str(m["description"]),
		TypeCode:       str(m["type_code"]),
		StatementID:    str(m["statement_id"]),
		SourceFile:     str(m["source_file"]),
		SourcePosition: i64(m["source_position"]),
	}
	side, err := record.ParseSide(str(m["side"]))
	if err != nil {
		return nil, err
	}
	t.Side = side
	if t.ID == "" || t.Account == "" || t.Currency == "" {
		return nil, fmt.Errorf("transaction lacks id, account or currency")
	}
	amt, err := decimal(m["amount"], t.Currency)
	if err != nil {
		return nil, fmt.Errorf("transaction %s: amount: %w", t.ID, err)
	}
	t.Amount = amt
	bd, ok := m["booking_date"].(time.Time)
	if !ok {
		return nil, fmt.Errorf("transaction %s: booking_date missing", t.ID)
	}
	t.BookingDate = dateOf(bd)
	if vd, ok := unionValue(m["value_date"]).(time.Time); ok {
		d := dateOf(vd)
		t.ValueDate = &d
	}
	if p, ok := m["provisional"].(bool); ok {
		t.Provisional = p
	}
	if ts, ok := m["ingested_at"].(time.Time); ok {
		t.IngestedAt = ts
	}
	if ex, ok := m["extra"].(map[string]any); ok && len(ex) > 0 {
		t.Extra = make(map[string]string, len(ex))
		for k, v := range ex {
			t.Extra[k] = str(v)
		}
	}
	return t, nil
}

// StatementNative returns the Avro native form of s (schemas/statement.avsc).
func StatementNative(s *record.Statement) map[string]any {
	optDate := func(d *record.Date) any {
		if d == nil {
			return nil
		}
		return goavroUnion("int.date", d.Time())
	}
	optDec := func(d *money.Decimal) any {
		if d == nil {
			return nil
		}
		return goavroUnion("bytes.decimal", d.Rat())
	}
	return map[string]any{
		"statement_id":    s.ID,
		"account":         s.Account,
		"currency":        s.Currency,
		"sequence":        s.Sequence,
		"format":          s.Format,
		"opening_date":    optDate(s.OpeningDate),
		"opening_balance": optDec(s.OpeningBalance),
		"closing_date":    optDate(s.ClosingDate),
		"closing_balance": optDec(s.ClosingBalance),
		"entries":         int64(s.Entries),
		"entries_total":   s.EntriesTotal.Rat(),
		"provisional":     s.Provisional,
		"source_file":     s.SourceFile,
		"source_position": s.SourcePosition,
	}
}

// StatementFromNative maps a decoded StatementBalance back to a record.
func StatementFromNative(m map[string]any) (*record.Statement, error) {
	s := &record.Statement{
		ID: str(m["statement_id"]), Account: str(m["account"]), Currency: str(m["currency"]),
		Sequence: str(m["sequence"]), Format: str(m["format"]), Entries: int(i64(m["entries"])),
		SourceFile: str(m["source_file"]), SourcePosition: i64(m["source_position"]),
	}
	if p, ok := m["provisional"].(bool); ok {
		s.Provisional = p
	}
	var err error
	if s.EntriesTotal, err = decimal(m["entries_total"], s.Currency); err != nil {
		return nil, fmt.Errorf("statement %s: entries_total: %w", s.ID, err)
	}
	for _, f := range []struct {
		name string
		dst  **money.Decimal
	}{{"opening_balance", &s.OpeningBalance}, {"closing_balance", &s.ClosingBalance}} {
		if v := unionValue(m[f.name]); v != nil {
			d, err := decimal(v, s.Currency)
			if err != nil {
				return nil, fmt.Errorf("statement %s: %s: %w", s.ID, f.name, err)
			}
			*f.dst = &d
		}
	}
	for _, f := range []struct {
		name string
		dst  **record.Date
	}{{"opening_date", &s.OpeningDate}, {"closing_date", &s.ClosingDate}} {
		if v, ok := unionValue(m[f.name]).(time.Time); ok {
			d := dateOf(v)
			*f.dst = &d
		}
	}
	return s, nil
}

// FileEvent is the Go form of schemas/file_event.avsc.
type FileEvent struct {
	Bucket, Key, ETag, Side, Digest, Format, Outcome, Reason string
	Size, Records, Rejected, Statements                      int64
	EventTime                                                time.Time
}

// Outcomes of ingesting a file.
const (
	OutcomeIngested    = "INGESTED"
	OutcomeDuplicate   = "DUPLICATE"
	OutcomeQuarantined = "QUARANTINED"
)

// FileEventNative returns the Avro native form of e.
func FileEventNative(e *FileEvent) map[string]any {
	return map[string]any{
		"bucket": e.Bucket, "key": e.Key, "size": e.Size, "etag": e.ETag, "side": e.Side,
		"event_time": e.EventTime.UTC(), "digest": e.Digest, "format": e.Format,
		"outcome": e.Outcome, "reason": e.Reason, "records": e.Records,
		"rejected": e.Rejected, "statements": e.Statements,
	}
}

// FileEventFromNative maps a decoded FileEvent back.
func FileEventFromNative(m map[string]any) *FileEvent {
	e := &FileEvent{
		Bucket: str(m["bucket"]), Key: str(m["key"]), ETag: str(m["etag"]), Side: str(m["side"]),
		Digest: str(m["digest"]), Format: str(m["format"]), Outcome: str(m["outcome"]),
		Reason: str(m["reason"]), Size: i64(m["size"]), Records: i64(m["records"]),
		Rejected: i64(m["rejected"]), Statements: i64(m["statements"]),
	}
	if ts, ok := m["event_time"].(time.Time); ok {
		e.EventTime = ts
	}
	return e
}

// goavroUnion wraps a value for a ["null", T] union the way goavro wants it.
func goavroUnion(branch string, v any) map[string]any { return map[string]any{branch: v} }

func unionValue(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, inner := range m {
			return inner
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func i64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	}
	return 0
}

func decimal(v any, currency string) (money.Decimal, error) {
	r, ok := v.(*big.Rat)
	if !ok {
		return money.Decimal{}, fmt.Errorf("not a decimal (%T)", v)
	}
	return money.FromRat(r, money.MinorUnits(currency))
}

func dateOf(t time.Time) record.Date { return record.Date(t.Unix() / 86400) }
