package csvformat

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
	"gopkg.in/yaml.v3"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Profile maps a bank's or ledger's own CSV layout onto transactions. It is
// written in YAML (see profiles/*.yaml for the built-in ones):
//
//	name: viseca
//	side: bank                      # bank or ledger
//	detect: [TransactionId, CardId, Amount]   # header names that identify the layout
//	delimiter: ","                  # default: detected from the header
//	encoding: utf-8                 # utf-8, iso-8859-1, windows-1252, iso-8859-2, iso-8859-15
//	skip_rows: 0                    # lines before the header
//	header: true                    # false: columns are 1-based indexes
//	date_format: YYYY-MM-DD hh:mm:ss
//	decimal: "."                    # decimal separator
//	thousands: ""                   # grouping separator
//	sign: normal                    # normal: + is money in; inverted: + is money out
//	columns:
//	  id: TransactionId            # a column name, an index, or a list (joined)
//	  account: CardId
//	  currency: Currency
//	  booking_date: Date
//	  value_date: ValutaDate
//	  amount: Amount               # or debit: + credit: (two columns), or indicator:
//	  reference: TransactionId
//	  counterparty: MerchantName
//	  description: [Details, MerchantPlace]
//	values:                        # constants for what the file lacks
//	  account: "CH93 0076 2011 6238 5295 7"
//	indicator_values: {debit: [D, DR], credit: [C, CR]}
type Profile struct {
	Name      string            `yaml:"name"`
	Side      string            `yaml:"side"`
	Detect    []string          `yaml:"detect"`
	Delimiter string            `yaml:"delimiter"`
	Encoding  string            `yaml:"encoding"`
	SkipRows  int               `yaml:"skip_rows"`
	Header    *bool             `yaml:"header"`
	DateFmt   string            `yaml:"date_format"`
	Decimal   string            `yaml:"decimal"`
	Thousands string            `yaml:"thousands"`
	Sign      string            `yaml:"sign"`
	Columns   map[string]colRef `yaml:"columns"`
	Values    map[string]string `yaml:"values"`
	Indicator struct {
		Debit  []string `yaml:"debit"`
		Credit []string `yaml:"credit"`
	} `yaml:"indicator_values"`

	layout string // Go time layout of DateFmt
	side   record.Side
	file   string
}

// colRef is a column by name, by 1-based index, or several joined.
type colRef []string

// UnmarshalYAML accepts a string, a number or a list of them.
func (c *colRef) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = colRef{n.Value}
		return nil
	case yaml.SequenceNode:
		var out []string
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a column is a name or an index", e.Line)
			}
			out = append(out, e.Value)
		}
		*c = out
		return nil
	}
	return fmt.Errorf("line %d: a column is a name, an index or a list of them", n.Line)
}

var profileFields = map[string]bool{"id": true, "account": true, "currency": true, "booking_date": true,
	"value_date": true, "amount": true, "debit": true, "credit": true, "indicator": true, "reference": true,
	"bank_reference": true, "counterparty": true, "description": true, "type_code": true}

// Validate checks a profile and prepares it; every problem is reported.
func (p *Profile) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Name == "" {
		bad("name is missing")
	}
	side, err := record.ParseSide(p.Side)
	if err != nil {
		bad("side: %v", err)
	}
	p.side = side
	if len(p.Detect) == 0 {
		bad("detect: list the header names that identify this layout")
	}
	if len(p.Delimiter) > 1 {
		bad("delimiter %q: one character", p.Delimiter)
	}
	if _, err := decoderFor(p.Encoding); err != nil {
		bad("encoding: %v", err)
	}
	if p.SkipRows < 0 {
		bad("skip_rows must not be negative")
	}
	if p.DateFmt == "" {
		p.DateFmt = "YYYY-MM-DD"
	}
	p.layout = goLayout(p.DateFmt)
	if p.Decimal == "" {
		p.Decimal = "."
	}
	if len(p.Decimal) != 1 || len(p.Thousands) > 1 || p.Decimal == p.Thousands {
		bad("decimal %q and thousands %q: one character each, different", p.Decimal, p.Thousands)
	}
	switch p.Sign {
	case "", "normal", "inverted":
	default:
		bad("sign %q: want normal or inverted", p.Sign)
	}
	for k := range p.Columns {
		if !profileFields[k] {
			bad("columns.%s: unknown field (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(profileFields)), ", "))
		}
	}
	for k := range p.Values {
		if !profileFields[k] {
			bad("values.%s: unknown field", k)
		}
	}
	has := func(k string) bool { return len(p.Columns[k]) > 0 || p.Values[k] != "" }
	for _, k := range []string{"account", "currency", "booking_date"} {
		if !has(k) {
			bad("columns.%s (or values.%s) is required", k, k)
		}
	}
	if side == record.Ledger && !has("id") {
		bad("columns.id is required for a ledger profile")
	}
	amounts := 0
	if has("amount") {
		amounts++
	}
	if has("debit") || has("credit") {
		amounts++
		if !has("debit") || !has("credit") {
			bad("columns.debit and columns.credit go together")
		}
	}
	if amounts != 1 {
		bad("give columns.amount, or columns.debit with columns.credit")
	}
	if has("indicator") && (len(p.Indicator.Debit) == 0 || len(p.Indicator.Credit) == 0) {
		bad("columns.indicator needs indicator_values.debit and indicator_values.credit")
	}
	if p.Header != nil && !*p.Header {
		for k, c := range p.Columns {
			for _, v := range c {
				if n, err := strconv.Atoi(v); err != nil || n < 1 {
					bad("columns.%s: %q: without a header, columns are 1-based indexes", k, v)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		where := p.Name
		if p.file != "" {
			where = p.file + " (" + p.Name + ")"
		}
		return fmt.Errorf("csv profile %s:\n%w", where, err)
	}
	return nil
}

// goLayout turns YYYY-MM-DD hh:mm:ss style patterns into a Go layout;
// a pattern that is already a Go layout is kept.
func goLayout(f string) string {
	if strings.Contains(f, "2006") {
		return f
	}
	r := strings.NewReplacer("YYYY", "2006", "YY", "06", "MM", "01", "DD", "02", "hh", "15", "HH", "15", "mm", "04", "ss", "05")
	return r.Replace(f)
}

func decoderFor(enc string) (*charmap.Charmap, error) {
	switch strings.ToLower(strings.ReplaceAll(enc, "_", "-")) {
	case "", "utf-8", "utf8":
		return nil, nil
	case "iso-8859-1", "latin1", "latin-1":
		return charmap.ISO8859_1, nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252, nil
	case "iso-8859-2", "latin2", "latin-2":
		return charmap.ISO8859_2, nil
	case "iso-8859-15", "latin9":
		return charmap.ISO8859_15, nil
	}
	return nil, fmt.Errorf("%q: want utf-8, iso-8859-1, windows-1252, iso-8859-2 or iso-8859-15", enc)
}

//go:embed profiles/*.yaml
var builtin embed.FS

// BuiltinProfiles returns the profiles shipped with the binary.
func BuiltinProfiles() []*Profile {
	ents, _ := builtin.ReadDir("profiles")
	var out []*Profile
	for _, e := range ents {
		b, _ := builtin.ReadFile("profiles/" + e.Name())
		p, err := ParseProfile(b, "builtin:"+e.Name())
		if err != nil {
			panic(err) // a broken built-in is a build error; TestBuiltinProfiles catches it
		}
		out = append(out, p)
	}
	return out
}

// ParseProfile reads and validates one YAML profile; file names it in errors.
func ParseProfile(b []byte, file string) (*Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("csv profile %s: %w", file, err)
	}
	p.file = file
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// LoadProfiles reads every *.yaml / *.yml in a folder (or one file).
func LoadProfiles(path string) ([]*Profile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.y*ml"))
		sort.Strings(files)
	}
	var out []*Profile
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := ParseProfile(b, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// MatchProfile returns the first profile whose detect names all appear in
// the header of head (after its skip_rows), or nil.
func MatchProfile(head []byte, profiles []*Profile) *Profile {
	for _, p := range profiles {
		data := head
		if cm, _ := decoderFor(p.Encoding); cm != nil {
			data, _ = cm.NewDecoder().Bytes(head)
		}
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		lines := bytes.SplitN(data, []byte("\n"), p.SkipRows+2)
		if len(lines) <= p.SkipRows {
			continue
		}
		line := trimEOL(lines[p.SkipRows])
		delim := detectDelimiter(line)
		if p.Delimiter != "" {
			delim = p.Delimiter[0]
		}
		cols, err := splitFields(nil, line, delim)
		if err != nil {
			continue
		}
		have := map[string]bool{}
		for _, c := range cols {
			have[strings.ToLower(strings.TrimSpace(c))] = true
		}
		all := true
		for _, d := range p.Detect {
			if !have[strings.ToLower(d)] {
				all = false
				break
			}
		}
		if all {
			return p
		}
	}
	return nil
}

// ProfileParser parses CSV with a Profile.
type ProfileParser struct{ Profile *Profile }

var _ format.Parser = ProfileParser{}

// Parse implements format.Parser.
func (pp ProfileParser) Parse(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) error {
	p := pp.Profile
	if cm, _ := decoderFor(p.Encoding); cm != nil {
		r = cm.NewDecoder().Reader(r)
	}
	rr := newRowReader(r, ',')
	fileErr := func(line int, reason string) error {
		return &format.ParseError{File: src.Name, Line: line, Reason: "profile " + p.Name + ": " + reason}
	}
	for i := 0; i < p.SkipRows; i++ {
		if _, _, err := rr.next(); err != nil {
			return fileErr(i+1, "file ends within the rows to skip")
		}
	}
	idx := map[string][]int{}
	headerLine := 0
	var first []byte
	if p.Header == nil || *p.Header {
		raw, line, err := rr.next()
		if err != nil {
			return fileErr(line, "no header row")
		}
		headerLine = line
		rr.delim = detectDelimiter(raw)
		if p.Delimiter != "" {
			rr.delim = p.Delimiter[0]
		}
		header, err := splitFields(nil, raw, rr.delim)
		if err != nil {
			return fileErr(line, "header: "+err.Error())
		}
		pos := map[string]int{}
		for i, h := range header {
			pos[strings.ToLower(strings.TrimSpace(h))] = i
		}
		for k, c := range p.Columns {
			for _, name := range c {
				if n, err := strconv.Atoi(name); err == nil && n >= 1 {
					idx[k] = append(idx[k], n-1)
					continue
				}
				i, ok := pos[strings.ToLower(name)]
				if !ok {
					return fileErr(line, fmt.Sprintf("the header has no column %q (for %s)", name, k))
				}
				idx[k] = append(idx[k], i)
			}
		}
	} else {
		for k, c := range p.Columns {
			for _, v := range c {
				n, _ := strconv.Atoi(v)
				idx[k] = append(idx[k], n-1)
			}
		}
		if p.Delimiter != "" {
			rr.delim = p.Delimiter[0]
		} else {
			raw, _, err := rr.next()
			if err != nil {
				return fileErr(1, "empty file")
			}
			first = append([]byte(nil), raw...)
			rr.delim = detectDelimiter(raw)
		}
	}
	_ = headerLine
	var pos int64
	var fields []string
	for {
		if pos%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		var raw []byte
		var line int
		var err error
		if first != nil {
			raw, line, first = first, 1, nil
		} else {
			raw, line, err = rr.next()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, errUnclosedQuote) {
			return fileErr(line, err.Error())
		}
		if err == nil && len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		pos++
		reject := func(field, reason string) error {
			return sink.Reject(&format.ParseError{File: src.Name, Line: line, Entry: pos, Field: field, Reason: reason, Raw: append([]byte(nil), raw...)})
		}
		if err != nil {
			if rerr := reject("", err.Error()); rerr != nil {
				return rerr
			}
			continue
		}
		if fields, err = splitFields(fields, raw, rr.delim); err != nil {
			if rerr := reject("", err.Error()); rerr != nil {
				return rerr
			}
			continue
		}
		t, field, reason := p.row(fields, idx, src, pos)
		if err := deliver(sink, t, field, reason, reject); err != nil {
			return err
		}
	}
}

// row builds one transaction; on failure it returns the field and reason.
func (p *Profile) row(f []string, idx map[string][]int, src format.Source, pos int64) (*record.Transaction, string, string) {
	get := func(k string) (string, string) {
		if v := p.Values[k]; v != "" {
			return v, ""
		}
		var parts []string
		for _, i := range idx[k] {
			if i >= len(f) {
				return "", fmt.Sprintf("row has %d fields, column %d is missing", len(f), i+1)
			}
			if v := strings.TrimSpace(f[i]); v != "" {
				parts = append(parts, v)
			}
		}
		return strings.Join(parts, " "), ""
	}
	v := map[string]string{}
	for k := range profileFields {
		s, problem := get(k)
		if problem != "" {
			return nil, k, problem
		}
		if !utf8Valid(s) {
			s = latin1ToUTF8(s)
		}
		v[k] = s
	}
	t := &record.Transaction{Side: p.side, Account: v["account"], Currency: strings.ToUpper(v["currency"]),
		Reference: v["reference"], BankReference: v["bank_reference"], Counterparty: v["counterparty"],
		Description: v["description"], TypeCode: v["type_code"], SourceFile: src.Name, SourcePosition: pos,
		Extra: map[string]string{"profile": p.Name}}
	if p.side == record.Ledger {
		if t.ID = v["id"]; t.ID == "" {
			return nil, "id", "empty (a ledger row needs its posting id)"
		}
	} else {
		t.ID = record.ID("b", src.Digest, pos, 0)
		if v["id"] != "" {
			t.Extra["upstream_id"] = v["id"]
		}
	}
	if t.Account == "" {
		return nil, "account", "empty"
	}
	if !money.KnownCurrency(t.Currency) {
		return nil, "currency", fmt.Sprintf("%q is not an ISO 4217 currency code", v["currency"])
	}
	d, err := p.date(v["booking_date"])
	if err != nil {
		return nil, "booking_date", err.Error()
	}
	t.BookingDate = d
	if v["value_date"] != "" {
		vd, err := p.date(v["value_date"])
		if err != nil {
			return nil, "value_date", err.Error()
		}
		t.ValueDate = &vd
	}
	amt, field, reason := p.amount(v)
	if reason != "" {
		return nil, field, reason
	}
	t.Amount = amt
	return t, "", ""
}

func (p *Profile) date(s string) (record.Date, error) {
	tm, err := time.Parse(p.layout, s)
	if err != nil {
		// A date-only column under a date-and-time format, or the reverse.
		if i := strings.IndexAny(p.layout, " T"); i > 0 {
			if tm2, err2 := time.Parse(p.layout[:i], s); err2 == nil {
				return record.Date(tm2.Unix() / 86400), nil
			}
		}
		return 0, fmt.Errorf("%q does not match the date format %s", s, p.DateFmt)
	}
	return record.Date(time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400), nil
}

func (p *Profile) parseAmount(s string) (money.Decimal, error) {
	var grp byte
	if p.Thousands != "" {
		grp = p.Thousands[0]
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	s = strings.ReplaceAll(s, "'", "") // Swiss grouping 1'234.50
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = "-" + s[1:len(s)-1] // accounting negatives
	}
	return money.ParseFormat(s, p.Decimal[0], grp)
}

// amount applies the profile's sign convention: one signed column, or a
// debit and a credit column, or an amount with a D/C indicator.
func (p *Profile) amount(v map[string]string) (money.Decimal, string, string) {
	var amt money.Decimal
	var err error
	switch {
	case len(p.Columns["debit"]) > 0 || p.Values["debit"] != "":
		deb, cred := v["debit"], v["credit"]
		switch {
		case deb != "" && cred != "":
			return amt, "debit", "both debit and credit are filled"
		case deb == "" && cred == "":
			return amt, "amount", "neither debit nor credit is filled"
		case deb != "":
			if amt, err = p.parseAmount(deb); err != nil {
				return amt, "debit", fmt.Sprintf("%q: %v", deb, err)
			}
			abs, _ := amt.Abs()
			amt, _ = abs.Neg()
		default:
			if amt, err = p.parseAmount(cred); err != nil {
				return amt, "credit", fmt.Sprintf("%q: %v", cred, err)
			}
			amt, _ = amt.Abs()
		}
		return amt, "", ""
	default:
		if amt, err = p.parseAmount(v["amount"]); err != nil {
			return amt, "amount", fmt.Sprintf("%q: %v", v["amount"], err)
		}
	}
	if ind := v["indicator"]; len(p.Columns["indicator"]) > 0 {
		abs, _ := amt.Abs()
		switch {
		case containsFold(p.Indicator.Debit, ind):
			amt, _ = abs.Neg()
		case containsFold(p.Indicator.Credit, ind):
			amt = abs
		default:
			return amt, "indicator", fmt.Sprintf("%q is neither a debit (%s) nor a credit (%s) mark", ind,
				strings.Join(p.Indicator.Debit, "/"), strings.Join(p.Indicator.Credit, "/"))
		}
	}
	if p.Sign == "inverted" {
		amt, _ = amt.Neg()
	}
	return amt, "", ""
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(s)) {
			return true
		}
	}
	return false
}
