// Package bai2 parses BAI2 cash management balance reports (and BTRS, the
// X9.121 revision that carries version 3): logical records joined across 88
// continuations before fields are split, records with or without the "/"
// terminator and several to a line, detail text holding "/" and ",", funds
// types 0/1/2/S/V/D/Z with their variable field counts, amounts with the
// implied decimals of their currency, type codes mapped to credit or debit,
// as-of-date modifiers (intraday vs prior-day), and the control totals and
// record counts of the 49/98/99 trailers. In lenient mode (the default) a
// control mismatch is reported as a rejected entry naming the record and the
// transactions stay; in strict mode it fails the file.
package bai2

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Parser reads BAI2/BTRS files.
type Parser struct {
	// Strict fails the whole file on a control total or count mismatch.
	Strict bool
	// Directions maps bank-defined type codes (700–999) to +1 (credit) or
	// -1 (debit). Unlisted ones count as credits and are flagged.
	Directions map[string]int
}

var _ format.Parser = Parser{}

type account struct {
	g                *group
	number, currency string
	line             int
	opening, closing *money.Decimal
	control          *big // sum of 03 and 16 amounts as written
	records          int
	entries          []*record.Transaction
	stmtPos          int64
}

type group struct {
	currency string
	asOf     record.Date
	modifier string
	control  *big
	records  int
	accounts int
	line     int
}

type parser struct {
	p       Parser
	src     format.Source
	sink    format.Sink
	version string
	header  bool
	trailer bool
	g       *group
	a       *account
	fileSum *big
	records int
	groups  int
	pos     int64
	stmts   int64
}

// Parse implements format.Parser.
func (p Parser) Parse(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) error {
	st := &parser{p: p, src: src, sink: sink, fileSum: newBig()}
	sp := newSplitter(r)
	var cur *rawRecord
	n := 0
	for {
		pc, ok, err := sp.next()
		if err != nil {
			return st.fileErr(sp.line, "", "read: "+err.Error())
		}
		if !ok {
			break
		}
		if n++; n%8192 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if pc.cont {
			if cur == nil {
				return st.fileErr(pc.line, "", fmt.Sprintf("not a BAI2 record: %q (records start with 01, 02, 03, 16, 49, 88, 98 or 99 and a comma)", clip(pc.text)))
			}
			last := len(cur.parts) - 1
			cur.parts[last] += " " + body(pc.text)
			cur.raw = append(cur.raw, pc.text)
			continue
		}
		code := pc.text[:2]
		if code == "88" {
			if cur == nil {
				return st.fileErr(pc.line, "88", "continuation record before any record")
			}
			cur.parts = append(cur.parts, body(pc.text))
			cur.raw = append(cur.raw, pc.text)
			cur.count++
			continue
		}
		if cur != nil {
			if err := st.record(cur); err != nil {
				return err
			}
		}
		cur = &rawRecord{code: code, line: pc.line, parts: []string{body(pc.text)}, raw: []string{pc.text}, count: 1}
	}
	if cur != nil {
		if err := st.record(cur); err != nil {
			return err
		}
	}
	if !st.header {
		return st.fileErr(0, "01", "no file header (01) record")
	}
	if st.a != nil {
		if err := st.problem(st.a.line, "49", "account "+st.a.number+" has no trailer (49)"); err != nil {
			return err
		}
		if err := st.flushAccount(); err != nil {
			return err
		}
	}
	if !st.trailer {
		return st.problem(sp.line, "99", "no file trailer (99): the file may be truncated")
	}
	return nil
}

func (st *parser) fileErr(line int, field, reason string) error {
	return &format.ParseError{File: st.src.Name, Line: line, Field: field, Reason: reason}
}

// problem is a control or structure mismatch: strict mode fails the file,
// lenient mode reports it and goes on.
func (st *parser) problem(line int, field, reason string) error {
	if st.p.Strict {
		return st.fileErr(line, field, reason)
	}
	return st.sink.Reject(&format.ParseError{File: st.src.Name, Line: line, Field: field, Reason: reason})
}

func (st *parser) reject(rec *rawRecord, field, reason string) error {
	return st.sink.Reject(&format.ParseError{File: st.src.Name, Line: rec.line, Entry: st.pos, Field: field, Reason: reason,
		Raw: []byte(strings.Join(rec.raw, "\n"))})
}

// fields splits a record and its continuations into one field list.
func fields(rec *rawRecord) []string {
	var out []string
	for _, p := range rec.parts {
		out = append(out, strings.Split(p, ",")...)
	}
	return out
}

func (st *parser) record(rec *rawRecord) error {
	st.records += rec.count
	if st.g != nil {
		st.g.records += rec.count
	}
	if st.a != nil {
		st.a.records += rec.count
	}
	if !st.header && rec.code != "01" {
		return st.fileErr(rec.line, rec.code, "the file does not start with a file header (01)")
	}
	f := fields(rec)
	switch rec.code {
	case "01":
		if st.header {
			return st.fileErr(rec.line, "01", "a second file header")
		}
		if len(f) < 3 {
			return st.fileErr(rec.line, "01", "file header has too few fields")
		}
		if len(f) >= 8 {
			st.version = strings.TrimSpace(f[7])
		}
		if st.version != "" && st.version != "2" && st.version != "3" {
			return st.fileErr(rec.line, "01 version", fmt.Sprintf("version %q: want 2 (BAI2) or 3 (BTRS)", st.version))
		}
		st.header = true
	case "02":
		if st.g != nil {
			if err := st.problem(st.g.line, "98", "group has no trailer (98)"); err != nil {
				return err
			}
		}
		g := &group{control: newBig(), records: rec.count, line: rec.line, currency: "USD"}
		if len(f) < 4 {
			return st.fileErr(rec.line, "02", "group header has too few fields")
		}
		d, err := yymmdd(at(f, 3))
		if err != nil {
			return st.fileErr(rec.line, "02 as-of date", err.Error())
		}
		g.asOf = d
		if c := strings.TrimSpace(at(f, 5)); c != "" {
			if !money.KnownCurrency(c) {
				return st.fileErr(rec.line, "02 currency", fmt.Sprintf("%q is not an ISO 4217 code", c))
			}
			g.currency = c
		}
		g.modifier = strings.TrimSpace(at(f, 6))
		st.g = g
		st.groups++
	case "03":
		if st.g == nil {
			return st.fileErr(rec.line, "03", "account record outside a group")
		}
		if st.a != nil {
			if err := st.problem(st.a.line, "49", "account "+st.a.number+" has no trailer (49)"); err != nil {
				return err
			}
			if err := st.flushAccount(); err != nil {
				return err
			}
		}
		return st.account(rec, f)
	case "16":
		if st.a == nil {
			st.pos++
			return st.reject(rec, "16", "transaction detail outside an account")
		}
		return st.detail(rec)
	case "49":
		if st.a == nil {
			return st.problem(rec.line, "49", "account trailer without an account")
		}
		if err := st.checkControl(rec.line, "49 account control total", at(f, 0), st.a.control, st.a.currency); err != nil {
			return err
		}
		if err := st.checkCount(rec.line, "49 number of records", at(f, 1), st.a.records); err != nil {
			return err
		}
		st.a.g.control.add(st.a.control)
		return st.flushAccount()
	case "98":
		if st.g == nil {
			return st.problem(rec.line, "98", "group trailer without a group")
		}
		if st.a != nil {
			if err := st.problem(st.a.line, "49", "account "+st.a.number+" has no trailer (49)"); err != nil {
				return err
			}
			if err := st.flushAccount(); err != nil {
				return err
			}
		}
		if err := st.checkControl(rec.line, "98 group control total", at(f, 0), st.g.control, st.g.currency); err != nil {
			return err
		}
		if err := st.checkCount(rec.line, "98 number of accounts", at(f, 1), st.g.accounts); err != nil {
			return err
		}
		if err := st.checkCount(rec.line, "98 number of records", at(f, 2), st.g.records); err != nil {
			return err
		}
		st.fileSum.add(st.g.control)
		st.g = nil
	case "99":
		st.trailer = true
		if err := st.checkControl(rec.line, "99 file control total", at(f, 0), st.fileSum, "USD"); err != nil {
			return err
		}
		if err := st.checkCount(rec.line, "99 number of groups", at(f, 1), st.groups); err != nil {
			return err
		}
		return st.checkCount(rec.line, "99 number of records", at(f, 2), st.records)
	}
	return nil
}

func (st *parser) checkControl(line int, field, stated string, got *big, currency string) error {
	stated = strings.TrimSpace(stated)
	if stated == "" {
		return nil // some banks leave control totals blank
	}
	want, err := parseBig(stated)
	if err != nil {
		return st.problem(line, field, fmt.Sprintf("%q is not a number", stated))
	}
	if want.cmp(got) != 0 {
		return st.problem(line, field, fmt.Sprintf("stated %s, the records add up to %s", stated, got))
	}
	return nil
}

func (st *parser) checkCount(line int, field, stated string, got int) error {
	stated = strings.TrimSpace(stated)
	if stated == "" {
		return nil
	}
	n, err := strconv.Atoi(stated)
	if err != nil {
		return st.problem(line, field, fmt.Sprintf("%q is not a count", stated))
	}
	if n != got {
		return st.problem(line, field, fmt.Sprintf("stated %d, counted %d", n, got))
	}
	return nil
}

// account reads an 03 record: account number, currency, then summary and
// status triplets (type code, amount, item count, funds type + its fields).
func (st *parser) account(rec *rawRecord, f []string) error {
	st.g.accounts++
	st.stmts++
	a := &account{g: st.g, number: strings.TrimSpace(at(f, 0)), currency: st.g.currency, line: rec.line, control: newBig(),
		records: rec.count, stmtPos: st.stmts}
	if c := strings.TrimSpace(at(f, 1)); c != "" {
		if !money.KnownCurrency(c) {
			return st.fileErr(rec.line, "03 currency", fmt.Sprintf("%q is not an ISO 4217 code", c))
		}
		a.currency = c
	}
	st.a = a
	if a.number == "" {
		return st.fileErr(rec.line, "03 account", "empty account number")
	}
	i := 2
	for i < len(f) {
		code := strings.TrimSpace(f[i])
		if code == "" { // a stray empty field ("…,,,/" then "88,040,…"): every group starts with a type code
			i++
			continue
		}
		amt := strings.TrimSpace(at(f, i+1))
		funds := strings.TrimSpace(at(f, i+3))
		next, err := skipFunds(f, i+4, funds)
		if err != nil {
			return st.fileErr(rec.line, "03 funds type", fmt.Sprintf("type code %s: %v", code, err))
		}
		i = next
		if amt == "" {
			continue
		}
		b, err := parseBig(amt)
		if err != nil {
			return st.fileErr(rec.line, "03 amount", fmt.Sprintf("type code %s: amount %q: not a number", code, amt))
		}
		a.control.add(b)
		d, err := implied(amt, a.currency)
		if err != nil {
			return st.fileErr(rec.line, "03 amount", fmt.Sprintf("type code %s: %v", code, err))
		}
		switch code {
		case "010":
			a.opening = &d
		case "015":
			a.closing = &d
		}
	}
	return nil
}

// skipFunds returns the index after the funds type's variable fields.
func skipFunds(f []string, i int, funds string) (int, error) {
	switch strings.ToUpper(funds) {
	case "", "0", "1", "2", "Z":
		return i, nil
	case "S":
		return i + 3, nil
	case "V":
		return i + 2, nil
	case "D":
		n, err := strconv.Atoi(strings.TrimSpace(at(f, i)))
		if err != nil || n < 0 || n > 99 {
			return 0, fmt.Errorf("distribution count %q: not a number", at(f, i))
		}
		return i + 1 + 2*n, nil
	}
	return 0, fmt.Errorf("funds type %q: want 0, 1, 2, S, V, D or Z", funds)
}

// detail reads a 16 record: type code, amount, funds type (+ fields), bank
// reference, customer reference, then free text to the record's end.
func (st *parser) detail(rec *rawRecord) error {
	st.pos++
	a := st.a
	// Walk the fields of the record and its continuations; once the text is
	// reached, everything else is text, each continuation on its own line.
	c := &cursor{s: rec.parts[0], cont: rec.parts[1:]}
	take := c.take
	code := strings.TrimSpace(take())
	amt := strings.TrimSpace(take())
	funds := strings.TrimSpace(take())
	var valueDate *record.Date
	switch strings.ToUpper(funds) {
	case "S":
		take()
		take()
		take()
	case "V":
		d := strings.TrimSpace(take())
		take()
		if d != "" {
			vd, err := yymmdd(d)
			if err != nil {
				return st.reject(rec, "16 value date", err.Error())
			}
			valueDate = &vd
		}
	case "D":
		nStr := strings.TrimSpace(take())
		n, err := strconv.Atoi(nStr)
		if err != nil || n < 0 || n > 99 {
			return st.reject(rec, "16 funds type", fmt.Sprintf("distribution count %q: not a number", nStr))
		}
		for j := 0; j < 2*n; j++ {
			take()
		}
	case "", "0", "1", "2", "Z":
	default:
		return st.reject(rec, "16 funds type", fmt.Sprintf("%q: want 0, 1, 2, S, V, D or Z", funds))
	}
	bankRef := strings.TrimSpace(take())
	custRef := strings.TrimSpace(take())
	// The rest is text: the remainder of the record, then each continuation
	// on its own line.
	textParts := []string{}
	if t := strings.TrimSpace(c.s); t != "" && !c.end {
		textParts = append(textParts, t)
	}
	for _, part := range c.cont {
		if t := strings.TrimSpace(part); t != "" {
			textParts = append(textParts, t)
		}
	}
	if len(code) != 3 || !isDigits(code) {
		return st.reject(rec, "16 type code", fmt.Sprintf("%q: want three digits", code))
	}
	if amt == "" {
		return st.reject(rec, "16 amount", "empty")
	}
	if b, err := parseBig(amt); err == nil {
		a.control.add(b)
	} else {
		return st.reject(rec, "16 amount", fmt.Sprintf("%q: not a number", amt))
	}
	d, err := implied(amt, a.currency)
	if err != nil {
		return st.reject(rec, "16 amount", err.Error())
	}
	dir, known := st.direction(code)
	if dir == 0 {
		return nil // a status or summary code in a detail record carries no money movement
	}
	if dir < 0 {
		if d, err = d.Neg(); err != nil {
			return st.reject(rec, "16 amount", err.Error())
		}
	}
	t := &record.Transaction{ID: record.ID("b", st.src.Digest, st.pos, 0), Side: record.Bank, Account: a.number,
		Currency: a.currency, Amount: d, BookingDate: a.g.asOf, ValueDate: valueDate, BankReference: bankRef,
		Reference: custRef, TypeCode: code, SourceFile: st.src.Name, SourcePosition: st.pos,
		StatementID: record.ID("s", st.src.Digest, a.stmtPos, 0), Provisional: a.g.modifier == "1" || a.g.modifier == "3"}
	t.Extra = map[string]string{}
	if funds != "" {
		t.Extra["funds_type"] = funds
	}
	if !known {
		t.Extra["direction"] = "assumed credit (bank-defined type code)"
	}
	applyText(t, textParts)
	if len(t.Extra) == 0 {
		t.Extra = nil
	}
	a.entries = append(a.entries, t)
	return nil
}

// cursor reads comma-separated fields across a record and its 88
// continuations: a field missing at the end of one part is read from the next.
type cursor struct {
	s    string
	end  bool // the current part is used up
	cont []string
}

func (c *cursor) take() string {
	if c.end {
		if len(c.cont) == 0 {
			return ""
		}
		c.s, c.cont, c.end = c.cont[0], c.cont[1:], false
	}
	i := strings.IndexByte(c.s, ',')
	if i < 0 {
		v := c.s
		c.s, c.end = "", true
		return v
	}
	v := c.s[:i]
	c.s = c.s[i+1:]
	return v
}

// direction maps a detail type code to +1 credit, -1 debit, 0 none.
func (st *parser) direction(code string) (int, bool) {
	if d, ok := st.p.Directions[code]; ok {
		return d, true
	}
	n, _ := strconv.Atoi(code)
	switch {
	case n < 100 || n == 100 || n == 400 || n == 890:
		return 0, true // status, totals, non-monetary information
	case n <= 399:
		return 1, true
	case n <= 699:
		return -1, true
	}
	return 1, false
}

// applyText fills reference, counterparty and description from the detail
// text and its "KEY: value" / "KEY:=value" continuation lines.
func applyText(t *record.Transaction, parts []string) {
	kv := map[string]string{}
	var free []string
	for _, p := range parts {
		k, v, ok := keyValue(p)
		if ok {
			kv[k] = v
			t.Extra[strings.ToLower(strings.ReplaceAll(k, " ", "_"))] = v
			continue
		}
		free = append(free, p)
	}
	t.Description = strings.Join(parts, "\n")
	for _, k := range []string{"EREF", "OBI", "REMI", "CREF", "TRID"} {
		if v := kv[k]; v != "" && t.Reference == "" {
			t.Reference = v
		}
	}
	if v := kv["EREF"]; v != "" {
		t.Reference = v
	}
	names := []string{"DBNM", "ORG", "ORIG CO NAME", "BNF NAME", "CRNM", "FR", "BO1"}
	if t.Amount.Sign() < 0 {
		names = []string{"CRNM", "BNF NAME", "BENEFICIARY", "DBNM", "ORG", "BO1"}
	}
	for _, k := range names {
		if v := kv[k]; v != "" {
			t.Counterparty = v
			break
		}
	}
	_ = free
}

// keyValue recognises "EREF: 1111", "BNF NAME:=X", "FR:FP SIP".
func keyValue(s string) (string, string, bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 20 {
		return "", "", false
	}
	k := strings.TrimSpace(s[:i])
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ') {
			return "", "", false
		}
	}
	v := strings.TrimPrefix(s[i+1:], "=")
	return k, strings.TrimSpace(v), true
}

func (st *parser) flushAccount() error {
	a := st.a
	st.a = nil
	if a == nil {
		return nil
	}
	total := money.New(0, 0)
	for _, t := range a.entries {
		if s, err := total.Add(t.Amount); err == nil {
			total = s
		}
		if err := st.sink.Transaction(t); err != nil {
			return err
		}
	}
	asOf := a.g.asOf
	stmt := &record.Statement{ID: record.ID("s", st.src.Digest, a.stmtPos, 0), Account: a.number, Currency: a.currency,
		Entries: len(a.entries), EntriesTotal: total, Format: "bai2", SourceFile: st.src.Name, SourcePosition: a.stmtPos,
		OpeningBalance: a.opening, ClosingBalance: a.closing, Provisional: a.g.modifier == "1" || a.g.modifier == "3"}
	if a.opening != nil {
		stmt.OpeningDate = &asOf
	}
	if a.closing != nil {
		stmt.ClosingDate = &asOf
	}
	return st.sink.Statement(stmt)
}

// implied reads an amount in minor units ("+4350000" USD = 43500.00).
func implied(s, currency string) (money.Decimal, error) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || !isDigits(s) {
		return money.Decimal{}, fmt.Errorf("amount %q: want digits in minor units", s)
	}
	u, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return money.Decimal{}, fmt.Errorf("amount %q: %v", s, err)
	}
	if neg {
		u = -u
	}
	return money.New(u, money.MinorUnits(currency)), nil
}

// yymmdd reads a BAI2 date.
func yymmdd(s string) (record.Date, error) {
	s = strings.TrimSpace(s)
	if len(s) != 6 || !isDigits(s) {
		return 0, fmt.Errorf("date %q: want YYMMDD", s)
	}
	y, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[2:4])
	d, _ := strconv.Atoi(s[4:])
	if y < 80 {
		y += 2000
	} else {
		y += 1900
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || t.Day() != d {
		return 0, fmt.Errorf("date %q does not exist", s)
	}
	return record.MakeDate(y, time.Month(m), d), nil
}

func at(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
