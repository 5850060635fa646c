// Package mt940 parses SWIFT MT940 customer statements and MT942 interim
// (intraday) reports, with or without SWIFT blocks, in the dialects banks
// write: multi-message statements (:28C:, :60M:/:62M:), the full :61:
// grammar, :86: information in ?NN, /TAG/ and >NN dialects, ',' and '.'
// decimals, UTF-8 or single-byte code pages, CRLF. The file is read line by
// line; only a known tag at the start of a line begins a field.
package mt940

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Parser reads MT940/MT942. The zero value is ready to use.
type Parser struct{}

var _ format.Parser = Parser{}

// knownTags begin a field when they open a line.
var knownTags = map[string]bool{
	"20": true, "21": true, "25": true, "25P": true, "28": true, "28C": true, "60F": true, "60M": true,
	"61": true, "62F": true, "62M": true, "64": true, "65": true, "86": true, "34F": true, "13": true,
	"13D": true, "90D": true, "90C": true, "NS": true, "940": true, "942": true,
}

// field is one tag and its lines.
type field struct {
	tag   string
	lines []string
	line  int // first line number
}

// balance is a :60:/:62: value.
type balance struct {
	amount   money.Decimal
	date     record.Date
	currency string
}

// statement collects one message.
type statement struct {
	pos       int64
	id        string
	ref       string
	account   string
	currency  string
	sequence  string
	opening   *balance
	closing   *balance
	mt942     bool
	entries   []*record.Transaction
	lastEntry *record.Transaction
	lastInfo  []string // :86: lines of lastEntry so far (banks may write several :86:)
	info      []string
	line      int
}

type state struct {
	src   format.Source
	sink  format.Sink
	st    *statement
	stmts int64
	pos   int64 // entry position in the file
	found bool
}

// Parse implements format.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	s := &state{src: src, sink: sink}
	var dec decoder
	var cur *field
	lineNo := 0
	colonPending := 0 // line number of a lone ":" (a tag split over two lines)
	for sc.Scan() {
		lineNo++
		if lineNo%8192 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line := strings.TrimRight(dec.line(sc.Bytes()), "\r")
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		// National-charset translations of the block delimiters (Handelsbanken).
		line = strings.Replace(strings.Replace(line, "ä4:", "{4:", 1), "-å", "-}", 1)
		if colonPending > 0 {
			if isTagLine(":" + line) {
				line = ":" + line
			} else if cur != nil {
				cur.lines = append(cur.lines, ":")
			}
			colonPending = 0
		}
		if line == ":" {
			colonPending = lineNo
			continue
		}
		// SWIFT blocks: drop {1:}{2:}{3:} headers up to "{4:", end at "-}".
		if i := strings.Index(line, "{4:"); i >= 0 && strings.HasPrefix(line, "{") {
			line = line[i+3:]
			if strings.TrimSpace(line) == "" {
				continue
			}
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "-}" || strings.HasPrefix(trimmed, "-}{5:") || trimmed == "-" || strings.HasPrefix(trimmed, "{5:") || trimmed == "}" {
			if err := s.flushField(cur); err != nil {
				return err
			}
			cur = nil
			if err := s.flushStatement(); err != nil {
				return err
			}
			continue
		}
		if tag, rest, ok := splitTag(line); ok {
			if err := s.flushField(cur); err != nil {
				return err
			}
			cur = &field{tag: tag, lines: []string{rest}, line: lineNo}
			continue
		}
		if cur != nil {
			cur.lines = append(cur.lines, line)
		}
		// Text before the first tag is a preamble; ignore it.
	}
	if err := sc.Err(); err != nil {
		return &format.ParseError{File: src.Name, Line: lineNo, Reason: "read: " + err.Error(), Err: err}
	}
	if err := s.flushField(cur); err != nil {
		return err
	}
	if err := s.flushStatement(); err != nil {
		return err
	}
	if !s.found {
		return &format.ParseError{File: src.Name, Reason: "no MT940/MT942 statement (no :20: field) found"}
	}
	return nil
}

func isTagLine(line string) bool {
	_, _, ok := splitTag(line)
	return ok
}

// splitTag recognises ":TAG:rest" for known tags only, so that text such as
// ":08 Karten" or "20:44:45" inside :86: stays text.
func splitTag(line string) (string, string, bool) {
	if len(line) < 4 || line[0] != ':' {
		return "", "", false
	}
	end := strings.IndexByte(line[1:], ':')
	if end < 2 || end > 4 {
		return "", "", false
	}
	tag := line[1 : end+1]
	if !knownTags[tag] {
		return "", "", false
	}
	return tag, line[end+2:], true
}

func (s *state) fail(f *field, name, reason string) error {
	raw := ":" + f.tag + ":" + strings.Join(f.lines, "\n")
	var entry int64
	if f.tag == "61" {
		entry = s.pos
	}
	return s.sink.Reject(&format.ParseError{File: s.src.Name, Line: f.line, Entry: entry, Field: name, Reason: reason, Raw: []byte(raw)})
}

func (s *state) flushField(f *field) error {
	if f == nil {
		return nil
	}
	first := strings.TrimSpace(f.lines[0])
	if f.tag == "20" || s.st == nil {
		if f.tag != "20" && (f.tag == "940" || f.tag == "942") {
			return nil
		}
		if f.tag != "20" {
			// A field outside any statement (no :20:): start one anyway.
			if err := s.startStatement(f.line, ""); err != nil {
				return err
			}
		} else {
			return s.startStatement(f.line, first)
		}
	}
	st := s.st
	switch f.tag {
	case "25", "25P":
		st.account, st.currency = splitAccount(first)
	case "28", "28C":
		st.sequence = first
	case "60F", "60M":
		b, err := parseBalance(first)
		if err != nil {
			return s.fail(f, ":"+f.tag+":", err.Error())
		}
		st.opening = &b
		if st.currency == "" {
			st.currency = b.currency
		}
	case "62F", "62M":
		b, err := parseBalance(first)
		if err != nil {
			return s.fail(f, ":"+f.tag+":", err.Error())
		}
		st.closing = &b
		if st.currency == "" {
			st.currency = b.currency
		}
	case "34F":
		st.mt942 = true
		if len(first) >= 3 && st.currency == "" && isAlpha(first[:3]) {
			st.currency = first[:3]
		}
	case "13", "13D", "90D", "90C":
		st.mt942 = true
		if (f.tag == "90D" || f.tag == "90C") && st.currency == "" {
			// :90D:<count><CCY><amount>
			i := 0
			for i < len(first) && first[i] >= '0' && first[i] <= '9' {
				i++
			}
			if i+3 <= len(first) && isAlpha(first[i:i+3]) {
				st.currency = first[i : i+3]
			}
		}
	case "61":
		s.pos++
		t, err := parseEntry(f.lines)
		if err != nil {
			st.lastEntry = nil
			return s.fail(f, ":61:", err.Error())
		}
		t.SourcePosition = s.pos
		t.ID = record.ID("b", s.src.Digest, s.pos, 0)
		st.entries = append(st.entries, t)
		st.lastEntry, st.lastInfo = t, nil
		return nil
	case "86":
		if st.lastEntry != nil {
			st.lastInfo = append(st.lastInfo, f.lines...)
			applyInfo(st.lastEntry, parseInfo(st.lastInfo))
			return nil // a further :86: still belongs to this entry
		}
		st.info = append(st.info, f.lines...)
		return nil
	}
	st.lastEntry, st.lastInfo = nil, nil
	return nil
}

func (s *state) startStatement(line int, ref string) error {
	if err := s.flushStatement(); err != nil {
		return err
	}
	s.stmts++
	s.found = true
	s.st = &statement{pos: s.stmts, id: record.ID("s", s.src.Digest, s.stmts, 0), ref: ref, line: line}
	return nil
}

// flushStatement emits the statement's entries and its balance control.
func (s *state) flushStatement() error {
	st := s.st
	if st == nil {
		return nil
	}
	s.st = nil
	if len(st.entries) == 0 && (st.account == "" || st.currency == "" && st.opening == nil && st.closing == nil) {
		return nil // nothing to report: no entries, and no account or no balances
	}
	if st.account == "" {
		return s.sink.Reject(&format.ParseError{File: s.src.Name, Line: st.line, Field: ":25:",
			Reason: fmt.Sprintf("statement %q has no account (:25:); its %d entries are rejected", st.ref, len(st.entries))})
	}
	cur := strings.ToUpper(st.currency)
	if !money.KnownCurrency(cur) {
		return s.sink.Reject(&format.ParseError{File: s.src.Name, Line: st.line, Field: ":60F:",
			Reason: fmt.Sprintf("statement %q: no valid ISO 4217 currency (got %q); its %d entries are rejected", st.ref, st.currency, len(st.entries))})
	}
	total := money.New(0, 0)
	for _, t := range st.entries {
		t.Account, t.Currency, t.StatementID = st.account, cur, st.id
		t.SourceFile = s.src.Name
		t.Provisional = st.mt942
		if sum, err := total.Add(t.Amount); err == nil {
			total = sum
		}
		if err := s.sink.Transaction(t); err != nil {
			return err
		}
	}
	stmt := &record.Statement{ID: st.id, Account: st.account, Currency: cur, Sequence: st.sequence,
		Entries: len(st.entries), EntriesTotal: total, Provisional: st.mt942, Format: "mt940",
		SourceFile: s.src.Name, SourcePosition: st.pos}
	if st.mt942 {
		stmt.Format = "mt942"
	}
	if st.opening != nil {
		stmt.OpeningBalance, stmt.OpeningDate = &st.opening.amount, &st.opening.date
	}
	if st.closing != nil {
		stmt.ClosingBalance, stmt.ClosingDate = &st.closing.amount, &st.closing.date
	}
	return s.sink.Statement(stmt)
}

// splitAccount separates a currency written after the account
// ("0800003200000001610722 EUR", "1017.490.554EUR").
func splitAccount(s string) (string, string) {
	s = strings.TrimSpace(s)
	if n := len(s); n > 3 && isAlpha(s[n-3:]) && money.KnownCurrency(s[n-3:]) {
		acct := strings.TrimRight(s[:n-3], " /")
		if acct != "" && !isAlpha(acct[len(acct)-1:]) {
			return acct, s[n-3:]
		}
	}
	return s, ""
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}

// parseBalance reads "C200101EUR444,29" (the currency may be missing).
func parseBalance(s string) (balance, error) {
	var b balance
	s = strings.TrimSpace(s)
	if len(s) < 8 || (s[0] != 'C' && s[0] != 'D') {
		return b, fmt.Errorf("balance %q: want C or D, YYMMDD, currency, amount", s)
	}
	neg := s[0] == 'D'
	d, err := parseYYMMDD(s[1:7])
	if err != nil {
		return b, fmt.Errorf("balance %q: %v", s, err)
	}
	b.date = d
	rest := s[7:]
	if len(rest) >= 3 && isAlpha(rest[:3]) {
		b.currency, rest = rest[:3], rest[3:]
	}
	amt, err := parseAmount(rest)
	if err != nil {
		return b, fmt.Errorf("balance %q: %v", s, err)
	}
	if neg {
		if amt, err = amt.Neg(); err != nil {
			return b, err
		}
	}
	b.amount = amt
	return b, nil
}

// parseAmount reads "1234,56", "380115,", ",5" or (old dialects) "1234.56".
func parseAmount(s string) (money.Decimal, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ",") {
		return money.ParseFormat(s, ',', 0)
	}
	return money.ParseFormat(s, '.', 0)
}

// parseYYMMDD reads a SWIFT date. Years 00–79 are 20xx, 80–99 19xx. A day
// past the month's end (German banks date closing entries 30 February) is
// moved to the month's last day.
func parseYYMMDD(s string) (record.Date, error) {
	if len(s) != 6 || !digits(s) {
		return 0, fmt.Errorf("date %q: want YYMMDD", s)
	}
	y := atoi(s[:2])
	if y < 80 {
		y += 2000
	} else {
		y += 1900
	}
	return makeDate(y, atoi(s[2:4]), atoi(s[4:6]))
}

func makeDate(y, m, d int) (record.Date, error) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, fmt.Errorf("date %04d-%02d-%02d does not exist", y, m, d)
	}
	last := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if d > last {
		d = last
	}
	return record.MakeDate(y, time.Month(m), d), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
