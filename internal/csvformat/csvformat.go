// Package csvformat parses the canonical bank and ledger CSV layouts of
// DESIGN.md §6:
//
//	ledger: id,account,currency,booking_date,amount,reference,counterparty,description
//	bank:   account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description
//
// Columns are found by header name in any order; more columns are allowed and
// kept in Transaction.Extra. The delimiter (, ; tab |) is read off the header.
// Amounts are plain decimals with '.' and optional ',' grouping in threes;
// dates are YYYY-MM-DD. A bad row is rejected with its line and field and the
// rest of the file goes on; a file without the required header is an error.
package csvformat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Required and known columns per side.
var (
	ledgerRequired = []string{"id", "account", "currency", "booking_date", "amount"}
	bankRequired   = []string{"account", "currency", "booking_date", "amount"}
	knownColumns   = map[string]bool{
		"id": true, "account": true, "currency": true, "booking_date": true, "value_date": true,
		"amount": true, "reference": true, "bank_reference": true, "counterparty": true,
		"description": true, "type_code": true, "provisional": true,
	}
)

// MaxFieldLen bounds any one field; longer ones are rejected, not truncated.
const MaxFieldLen = 4096

// Parser reads canonical CSV. The zero value is ready to use.
type Parser struct{}

var _ format.Parser = Parser{}

// Detect reports whether head (the start of a file) is a canonical CSV
// header, and for which side: a header with an "id" column and the ledger's
// required columns is a ledger file, one with the bank's required columns
// (and no "id") a bank file.
func Detect(head []byte) format.Kind {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	line := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		line = head[:i]
	}
	cols, err := splitFields(nil, trimEOL(line), detectDelimiter(line))
	if err != nil {
		return format.Unknown
	}
	have := map[string]bool{}
	for _, c := range cols {
		have[normalizeHeader(c)] = true
	}
	if hasAll(have, ledgerRequired) {
		return format.LedgerCSV
	}
	if hasAll(have, bankRequired) {
		return format.BankCSV
	}
	return format.Unknown
}

func hasAll(have map[string]bool, cols []string) bool {
	for _, c := range cols {
		if !have[c] {
			return false
		}
	}
	return true
}

func normalizeHeader(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
}

// columns maps the canonical names to their index in a row (-1 if absent).
type columns struct {
	id, account, currency, bookingDate, valueDate, amount, reference,
	bankReference, counterparty, description, typeCode, provisional int
	extra map[int]string
	n     int
}

func mapColumns(header []string, side record.Side) (*columns, error) {
	c := &columns{extra: map[int]string{}, n: len(header)}
	idx := map[string]int{}
	for i, h := range header {
		name := normalizeHeader(h)
		if name == "" {
			continue
		}
		if _, dup := idx[name]; dup && knownColumns[name] {
			return nil, fmt.Errorf("column %q appears twice", name)
		}
		idx[name] = i
		if !knownColumns[name] {
			c.extra[i] = name
		}
	}
	required := bankRequired
	if side == record.Ledger {
		required = ledgerRequired
	}
	var missing []string
	for _, r := range required {
		if _, ok := idx[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("header lacks required column(s) %s (a %s CSV needs %s)",
			strings.Join(missing, ", "), side, strings.Join(required, ","))
	}
	get := func(name string) int {
		if i, ok := idx[name]; ok {
			return i
		}
		return -1
	}
	c.id, c.account, c.currency = get("id"), get("account"), get("currency")
	c.bookingDate, c.valueDate, c.amount = get("booking_date"), get("value_date"), get("amount")
	c.reference, c.bankReference = get("reference"), get("bank_reference")
	c.counterparty, c.description = get("counterparty"), get("description")
	c.typeCode, c.provisional = get("type_code"), get("provisional")
	return c, nil
}

// Parse implements format.Parser. src.Side decides the layout; when it is
// empty the header decides.
func (Parser) Parse(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) error {
	rr := newRowReader(r, ',')
	fileErr := func(line int, reason string) error {
		return &format.ParseError{File: src.Name, Line: line, Reason: reason}
	}
	var headerRaw []byte
	var headerLine int
	for {
		raw, line, err := rr.next()
		if err == io.EOF {
			return fileErr(0, "empty file: no header row")
		}
		if err != nil {
			return fileErr(line, "header: "+err.Error())
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			headerRaw, headerLine = append([]byte(nil), raw...), line
			break
		}
	}
	rr.delim = detectDelimiter(headerRaw)
	header, err := splitFields(nil, headerRaw, rr.delim)
	if err != nil {
		return fileErr(headerLine, "header: "+err.Error())
	}
	side := src.Side
	if side == "" {
		switch Detect(headerRaw) {
		case format.LedgerCSV:
			side = record.Ledger
		default:
			side = record.Bank
		}
	}
	cols, err := mapColumns(header, side)
	if err != nil {
		return fileErr(headerLine, err.Error())
	}

	var fields []string
	var position int64
	for {
		if position%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		raw, line, err := rr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, errUnclosedQuote) {
			return fileErr(line, err.Error())
		}
		if err == nil && len(bytes.TrimSpace(raw)) == 0 {
			continue // blank line
		}
		position++
		reject := func(field, reason string) error {
			return sink.Reject(&format.ParseError{
				File: src.Name, Line: line, Entry: position, Field: field, Reason: reason,
				Raw: append([]byte(nil), raw...),
			})
		}
		if err != nil {
			if rerr := reject("", err.Error()); rerr != nil {
				return rerr
			}
			continue
		}
		fields, err = splitFields(fields, raw, rr.delim)
		if err != nil {
			if rerr := reject("", err.Error()); rerr != nil {
				return rerr
			}
			continue
		}
		if len(fields) != cols.n {
			if rerr := reject("", fmt.Sprintf("row has %d fields, the header has %d", len(fields), cols.n)); rerr != nil {
				return rerr
			}
			continue
		}
		t, field, reason := buildTransaction(fields, cols, side, src, position)
		if err := deliver(sink, t, field, reason, reject); err != nil {
			return err
		}
	}
}

// buildTransaction validates one row. On failure it returns the field and
// the reason.
func buildTransaction(f []string, c *columns, side record.Side, src format.Source, pos int64) (*record.Transaction, string, string) {
	for i, v := range f {
		if len(v) > MaxFieldLen {
			return nil, headerName(c, i), fmt.Sprintf("longer than %d bytes", MaxFieldLen)
		}
		if !utf8.ValidString(v) {
			f[i] = latin1ToUTF8(v)
		}
	}
	get := func(i int) string {
		if i < 0 {
			return ""
		}
		return strings.TrimSpace(f[i])
	}
	t := &record.Transaction{
		Side:           side,
		Account:        get(c.account),
		Currency:       strings.ToUpper(get(c.currency)),
		Reference:      get(c.reference),
		BankReference:  get(c.bankReference),
		Counterparty:   get(c.counterparty),
		Description:    get(c.description),
		TypeCode:       get(c.typeCode),
		SourceFile:     src.Name,
		SourcePosition: pos,
	}
	if side == record.Ledger {
		t.ID = get(c.id)
		if t.ID == "" {
			return nil, "id", "empty (a ledger row needs its posting id)"
		}
	} else {
		t.ID = record.ID("b", src.Digest, pos, 0)
	}
	if t.Account == "" {
		return nil, "account", "empty"
	}
	if !money.KnownCurrency(t.Currency) {
		return nil, "currency", fmt.Sprintf("%q is not an ISO 4217 currency code", get(c.currency))
	}
	d, err := record.ParseDate(get(c.bookingDate))
	if err != nil {
		return nil, "booking_date", err.Error()
	}
	t.BookingDate = d
	if v := get(c.valueDate); v != "" {
		vd, err := record.ParseDate(v)
		if err != nil {
			return nil, "value_date", err.Error()
		}
		t.ValueDate = &vd
	}
	amt, err := money.ParseFormat(get(c.amount), '.', ',')
	if err != nil {
		return nil, "amount", fmt.Sprintf("%q: %v", get(c.amount), unwrapReason(err))
	}
	t.Amount = amt
	if v := strings.ToLower(get(c.provisional)); v != "" {
		switch v {
		case "true", "1", "yes", "y":
			t.Provisional = true
		case "false", "0", "no", "n":
		default:
			return nil, "provisional", fmt.Sprintf("%q: want true or false", v)
		}
	}
	if len(c.extra) > 0 {
		t.Extra = make(map[string]string, len(c.extra))
		for i, name := range c.extra {
			if v := strings.TrimSpace(f[i]); v != "" {
				t.Extra[name] = v
			}
		}
		if len(t.Extra) == 0 {
			t.Extra = nil
		}
	}
	return t, "", ""
}

func unwrapReason(err error) string {
	switch {
	case errors.Is(err, money.ErrScale):
		return money.ErrScale.Error()
	case errors.Is(err, money.ErrOverflow):
		return money.ErrOverflow.Error()
	}
	return "not a decimal amount (want e.g. -1234.56)"
}

func headerName(c *columns, i int) string {
	names := map[int]string{c.id: "id", c.account: "account", c.currency: "currency",
		c.bookingDate: "booking_date", c.valueDate: "value_date", c.amount: "amount",
		c.reference: "reference", c.bankReference: "bank_reference", c.counterparty: "counterparty",
		c.description: "description", c.typeCode: "type_code", c.provisional: "provisional"}
	if n, ok := names[i]; ok {
		return n
	}
	return c.extra[i]
}

// latin1ToUTF8 reads s as ISO-8859-1 (what a CSV that is not UTF-8 almost
// always is) so no byte is lost.
func latin1ToUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }

// deliver hands a built row to the sink: its transaction, or its reject
// (reason set) for field.
func deliver(sink format.Sink, t *record.Transaction, field, reason string, reject func(field, reason string) error) error {
	if reason != "" {
		return reject(field, reason)
	}
	return sink.Transaction(t)
}
