package avro

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// transactionNative returns the Avro native form of t (schemas/transaction.avsc).
func transactionNative(t *record.Transaction) map[string]any {
	var vd any
	if t.ValueDate != nil {
		vd = goavroUnion("int.date", time.Unix(int64(*t.ValueDate)*86400, 0).UTC())
	}
	extra := make(map[string]any, len(t.Extra))
	for k, v := range t.Extra {
		extra[k] = v
	}
	refs := make([]any, len(t.TextReferences))
	for i, r := range t.TextReferences {
		refs[i] = r
	}
	return map[string]any{
		"id":                   t.ID,
		"side":                 strings.ToUpper(string(t.Side)),
		"account":              t.Account,
		"currency":             t.Currency,
		"amount":               t.Amount.Rat(),
		"booking_date":         t.BookingDate.Time(),
		"value_date":           vd,
		"reference":            t.Reference,
		"bank_reference":       t.BankReference,
		"counterparty":         t.Counterparty,
		"description":          t.Description,
		"type_code":            t.TypeCode,
		"provisional":          t.Provisional,
		"statement_id":         t.StatementID,
		"source_file":          t.SourceFile,
		"source_digest":        t.SourceDigest,
		"source_position":      t.SourcePosition,
		"ingested_at":          t.IngestedAt.UTC(),
		"extra":                extra,
		"counterparty_account": t.CounterpartyAccount,
		"counterparty_bic":     t.CounterpartyBIC,
		"end_to_end_id":        t.EndToEndID,
		"text_references":      refs,
		"raw_text":             t.RawText,
	}
}

// transactionFromNative maps a decoded Avro Transaction back to a record.
// Fields missing from older writer schemas take their defaults.
func transactionFromNative(m map[string]any) (*record.Transaction, error) {
	t := &record.Transaction{
		ID:                  str(m["id"]),
		Account:             str(m["account"]),
		Currency:            str(m["currency"]),
		Reference:           str(m["reference"]),
		BankReference:       str(m["bank_reference"]),
		Counterparty:        str(m["counterparty"]),
		Description:         str(m["description"]),
		TypeCode:            str(m["type_code"]),
		StatementID:         str(m["statement_id"]),
		SourceFile:          str(m["source_file"]),
		SourcePosition:      i64(m["source_position"]),
		CounterpartyAccount: str(m["counterparty_account"]),
		CounterpartyBIC:     str(m["counterparty_bic"]),
		EndToEndID:          str(m["end_to_end_id"]),
		RawText:             str(m["raw_text"]),
	}
	if refs, ok := m["text_references"].([]any); ok {
		for _, r := range refs {
			t.TextReferences = append(t.TextReferences, str(r))
		}
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

// statementNative returns the Avro native form of s (schemas/statement.avsc).
func statementNative(s *record.Statement) map[string]any {
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

// statementFromNative maps a decoded StatementBalance back to a record.
func statementFromNative(m map[string]any) (*record.Statement, error) {
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

// fileEventNative returns the Avro native form of e.
func fileEventNative(e *record.FileEvent) map[string]any {
	return map[string]any{
		"bucket": e.Bucket, "key": e.Key, "size": e.Size, "etag": e.ETag, "side": e.Side,
		"event_time": e.EventTime.UTC(), "digest": e.Digest, "format": e.Format,
		"outcome": e.Outcome, "reason": e.Reason, "records": e.Records,
		"rejected": e.Rejected, "statements": e.Statements, "statement_digests": strs(e.StatementDigests),
	}
}

func strs(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// fileEventFromNative maps a decoded FileEvent back.
func fileEventFromNative(m map[string]any) *record.FileEvent {
	e := &record.FileEvent{
		Bucket: str(m["bucket"]), Key: str(m["key"]), ETag: str(m["etag"]), Side: str(m["side"]),
		Digest: str(m["digest"]), Format: str(m["format"]), Outcome: str(m["outcome"]),
		Reason: str(m["reason"]), Size: i64(m["size"]), Records: i64(m["records"]),
		Rejected: i64(m["rejected"]), Statements: i64(m["statements"]),
	}
	if ts, ok := m["event_time"].(time.Time); ok {
		e.EventTime = ts
	}
	if list, ok := m["statement_digests"].([]any); ok {
		for _, x := range list {
			e.StatementDigests = append(e.StatementDigests, str(x))
		}
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

func itemNative(it record.Item) map[string]any {
	return map[string]any{
		"id": it.ID, "amount": it.Amount.Rat(), "booking_date": it.BookingDate.Time(),
		"reference": it.Reference, "bank_reference": it.BankReference, "counterparty": it.Counterparty, "description": it.Description,
		"source_file": it.SourceFile, "source_position": it.SourcePosition, "ingested_at": it.IngestedAt.UTC(),
	}
}

func itemFromNative(v any, side record.Side, currency string) (record.Item, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return record.Item{}, fmt.Errorf("match item is not a record")
	}
	it := record.Item{ID: str(m["id"]), Side: side, Currency: currency, Reference: str(m["reference"]), BankReference: str(m["bank_reference"]),
		Counterparty: str(m["counterparty"]), Description: str(m["description"]),
		SourceFile: str(m["source_file"]), SourcePosition: i64(m["source_position"])}
	var err error
	if it.Amount, err = decimal(m["amount"], currency); err != nil {
		return it, fmt.Errorf("item %s: amount: %w", it.ID, err)
	}
	if d, ok := m["booking_date"].(time.Time); ok {
		it.BookingDate = dateOf(d)
	}
	if ts, ok := m["ingested_at"].(time.Time); ok {
		it.IngestedAt = ts
	}
	return it, nil
}

// matchNative returns the Avro native form of m (schemas/match.avsc).
func matchNative(m *record.Match) map[string]any {
	items := func(its []record.Item) []any {
		out := make([]any, len(its))
		for i, it := range its {
			out[i] = itemNative(it)
		}
		return out
	}
	clears := make([]any, len(m.ClearsBreakIDs))
	for i, id := range m.ClearsBreakIDs {
		clears[i] = id
	}
	return map[string]any{
		"match_id": m.MatchID, "rule": m.Rule, "confidence": int32(m.Confidence),
		"status": strings.ToUpper(string(m.Status)), "account": m.Account, "currency": m.Currency,
		"bank": items(m.Bank), "ledger": items(m.Ledger), "difference": m.Difference.Rat(),
		"explanation": m.Explanation, "clears_break_ids": clears, "decided_at": m.DecidedAt.UTC(), "rule_version": m.RuleVersion,
	}
}

// matchFromNative maps a decoded Match back.
func matchFromNative(n map[string]any) (*record.Match, error) {
	m := &record.Match{MatchID: str(n["match_id"]), Rule: str(n["rule"]), Account: str(n["account"]),
		Currency: str(n["currency"]), Explanation: str(n["explanation"]),
		Status: record.MatchStatus(strings.ToLower(str(n["status"])))}
	if c, ok := n["confidence"].(int32); ok {
		m.Confidence = record.Confidence(c)
	}
	var err error
	if m.Difference, err = decimal(n["difference"], m.Currency); err != nil {
		return nil, fmt.Errorf("match %s: difference: %w", m.MatchID, err)
	}
	for _, f := range []struct {
		name string
		side record.Side
		dst  *[]record.Item
	}{{"bank", record.Bank, &m.Bank}, {"ledger", record.Ledger, &m.Ledger}} {
		arr, _ := n[f.name].([]any)
		for _, v := range arr {
			it, err := itemFromNative(v, f.side, m.Currency)
			if err != nil {
				return nil, fmt.Errorf("match %s: %w", m.MatchID, err)
			}
			*f.dst = append(*f.dst, it)
		}
	}
	if arr, ok := n["clears_break_ids"].([]any); ok {
		for _, v := range arr {
			m.ClearsBreakIDs = append(m.ClearsBreakIDs, str(v))
		}
	}
	if ts, ok := n["decided_at"].(time.Time); ok {
		m.DecidedAt = ts
	}
	m.RuleVersion = i64(n["rule_version"])
	return m, nil
}

// breakNative returns the Avro native form of b (schemas/break.avsc).
func breakNative(b *record.Break) map[string]any {
	cands := make([]any, len(b.Candidates))
	for i, c := range b.Candidates {
		cands[i] = map[string]any{"id": c.ID, "amount": c.Amount.Rat(), "booking_date": c.BookingDate.Time(),
			"reference": c.Reference, "score": int32(c.Score), "note": c.Note}
	}
	r := b.Record
	return map[string]any{
		"break_id": b.BreakID, "side": strings.ToUpper(string(b.Side)), "reason": strings.ToUpper(string(b.Reason)),
		"account": b.Account, "currency": b.Currency, "record_id": r.ID, "amount": r.Amount.Rat(),
		"booking_date": r.BookingDate.Time(), "reference": r.Reference, "counterparty": r.Counterparty,
		"description": r.Description, "source_file": r.SourceFile, "source_position": r.SourcePosition,
		"candidates": cands, "window_closed_at": b.WindowClosedAt.Time(), "ingested_at": r.IngestedAt.UTC(),
		"note": b.Note, "rule_version": b.RuleVersion,
	}
}

// breakFromNative maps a decoded Break back.
func breakFromNative(n map[string]any) (*record.Break, error) {
	b := &record.Break{BreakID: str(n["break_id"]), Reason: record.BreakReason(strings.ToLower(str(n["reason"]))),
		Account: str(n["account"]), Currency: str(n["currency"]), Note: str(n["note"]), RuleVersion: i64(n["rule_version"])}
	side, err := record.ParseSide(str(n["side"]))
	if err != nil {
		return nil, fmt.Errorf("break %s: %w", b.BreakID, err)
	}
	b.Side = side
	b.Record = record.Item{ID: str(n["record_id"]), Side: side, Currency: b.Currency, Reference: str(n["reference"]),
		Counterparty: str(n["counterparty"]), Description: str(n["description"]),
		SourceFile: str(n["source_file"]), SourcePosition: i64(n["source_position"])}
	if b.Record.Amount, err = decimal(n["amount"], b.Currency); err != nil {
		return nil, fmt.Errorf("break %s: amount: %w", b.BreakID, err)
	}
	if d, ok := n["booking_date"].(time.Time); ok {
		b.Record.BookingDate = dateOf(d)
	}
	if ts, ok := n["ingested_at"].(time.Time); ok {
		b.Record.IngestedAt = ts
	}
	if d, ok := n["window_closed_at"].(time.Time); ok {
		b.WindowClosedAt = dateOf(d)
	}
	b.Candidates = []record.Candidate{}
	if arr, ok := n["candidates"].([]any); ok {
		for _, v := range arr {
			cm, _ := v.(map[string]any)
			c := record.Candidate{ID: str(cm["id"]), Currency: b.Currency, Reference: str(cm["reference"]), Note: str(cm["note"])}
			if s, ok := cm["score"].(int32); ok {
				c.Score = int(s)
			}
			if c.Amount, err = decimal(cm["amount"], b.Currency); err != nil {
				return nil, fmt.Errorf("break %s: candidate amount: %w", b.BreakID, err)
			}
			if d, ok := cm["booking_date"].(time.Time); ok {
				c.BookingDate = dateOf(d)
			}
			b.Candidates = append(b.Candidates, c)
		}
	}
	return b, nil
}

// resolutionNative returns the Avro native form of r (schemas/resolution.avsc).
func resolutionNative(r *record.Resolution) map[string]any {
	return map[string]any{
		"resolution_id": r.ResolutionID, "action": r.Action.AvroSymbol(), "account": r.Account, "currency": r.Currency,
		"break_ids": strsNative(r.BreakIDs), "match_id": r.MatchID, "record_ids": strsNative(r.RecordIDs), "user": r.User,
		"comment": r.Comment, "decided_at": r.DecidedAt.UTC(), "approved_by": r.ApprovedBy, "reason_code": r.ReasonCode,
		"attachment": r.Attachment,
	}
}

// resolutionFromNative maps a decoded Resolution back.
func resolutionFromNative(n map[string]any) (*record.Resolution, error) {
	r := &record.Resolution{ResolutionID: str(n["resolution_id"]), Action: record.ActionOfSymbol(str(n["action"])),
		Account: str(n["account"]), Currency: str(n["currency"]), BreakIDs: strsOf(n["break_ids"]), MatchID: str(n["match_id"]),
		RecordIDs: strsOf(n["record_ids"]), User: str(n["user"]), Comment: str(n["comment"]), ApprovedBy: str(n["approved_by"]),
		ReasonCode: str(n["reason_code"]), Attachment: str(n["attachment"])}
	if r.Action == "" {
		return nil, fmt.Errorf("resolution %s: action %q unknown", r.ResolutionID, str(n["action"]))
	}
	if ts, ok := n["decided_at"].(time.Time); ok {
		r.DecidedAt = ts
	}
	return r, nil
}

// outcomeNative returns the Avro native form of o (schemas/resolution_outcome.avsc).
func outcomeNative(o *record.Outcome) map[string]any {
	status := "REFUSED"
	if o.Applied {
		status = "APPLIED"
	}
	breaks := make([]any, len(o.Breaks))
	for i, b := range o.Breaks {
		breaks[i] = map[string]any{"break_id": b.BreakID, "record_id": b.RecordID, "status": b.Status}
	}
	return map[string]any{
		"resolution_id": o.ResolutionID, "action": o.Action.AvroSymbol(), "account": o.Account, "currency": o.Currency,
		"status": status, "detail": o.Detail, "match_id": o.MatchID, "match_status": o.MatchStatus, "breaks": breaks,
		"user": o.User, "approved_by": o.ApprovedBy, "reason_code": o.ReasonCode, "comment": o.Comment,
		"decided_at": o.DecidedAt.UTC(),
	}
}

// outcomeFromNative maps a decoded ResolutionOutcome back.
func outcomeFromNative(n map[string]any) (*record.Outcome, error) {
	o := &record.Outcome{ResolutionID: str(n["resolution_id"]), Action: record.ActionOfSymbol(str(n["action"])),
		Account: str(n["account"]), Currency: str(n["currency"]), Applied: str(n["status"]) == "APPLIED",
		Detail: str(n["detail"]), MatchID: str(n["match_id"]), MatchStatus: str(n["match_status"]), User: str(n["user"]),
		ApprovedBy: str(n["approved_by"]), ReasonCode: str(n["reason_code"]), Comment: str(n["comment"])}
	if o.Action == "" {
		return nil, fmt.Errorf("outcome of %s: action %q unknown", o.ResolutionID, str(n["action"]))
	}
	if arr, ok := n["breaks"].([]any); ok {
		for _, v := range arr {
			m, _ := v.(map[string]any)
			o.Breaks = append(o.Breaks, record.BreakState{BreakID: str(m["break_id"]), RecordID: str(m["record_id"]), Status: str(m["status"])})
		}
	}
	if ts, ok := n["decided_at"].(time.Time); ok {
		o.DecidedAt = ts
	}
	return o, nil
}

func strsNative(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func strsOf(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, x := range arr {
		out = append(out, str(x))
	}
	return out
}
