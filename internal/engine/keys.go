package engine

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeRef upper-cases a reference and drops everything but letters
// and digits, and leading zeros: "inv-2026/00123 " -> "INV202600123",
// "000123" -> "123".
func NormalizeRef(s string) string {
	if out, ok := normalizeASCII(s); ok {
		return out
	}
	return normalizeRunes(s)
}

func normalizeRunes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if b.Len() == 0 && r == '0' {
				continue
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// normalizeASCII is NormalizeRef for ASCII text (false for other text).
func normalizeASCII(s string) (string, bool) {
	var buf [64]byte
	out := buf[:0]
	same := true // out is s so far
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return "", false
		case c >= 'A' && c <= 'Z', c >= '1' && c <= '9', c == '0' && len(out) > 0:
			out = append(out, c)
		case c >= 'a' && c <= 'z':
			out = append(out, c-('a'-'A'))
			same = false
		default:
			same = false
		}
	}
	if same {
		return s, true // no copy
	}
	return string(out), true
}

// Prepare fills r's normalised reference and its reference keys: the
// normalised reference, reference-like tokens of the reference, bank
// reference and description (at least 4 characters with a digit), and
// what the extractors find in them.
func (e *Engine) Prepare(r *Rec) {
	r.NormRef = NormalizeRef(r.Reference)
	keys := make([]string, 0, 8)
	if r.NormRef != "" {
		keys = append(keys, r.NormRef)
	}
	for _, text := range [2]string{r.Reference, r.Description} {
		eachToken(text, func(tok string) {
			n := NormalizeRef(tok)
			if len(n) >= 4 && strings.ContainsAny(n, "0123456789") && !dateLike(n) {
				keys = append(keys, n)
			}
		})
		folded := fold(text)
		for i := range e.cfg.Extractors {
			keys = e.cfg.Extractors[i].apply(text, folded, keys)
		}
	}
	slices.Sort(keys)
	r.Keys = slices.Compact(keys)
}

// eachToken calls f with every run of letters, digits, '-', '/' and '_'
// in text (strings.FieldsFunc without building the list).
func eachToken(text string, f func(string)) {
	start := -1
	for i, c := range text {
		in := c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '/' || c == '_') ||
			c >= utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c))
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			f(text[start:i])
			start = -1
		}
	}
	if start >= 0 {
		f(text[start:])
	}
}

// dateLike reports whether a normalised token is a year (1900-2099) or
// a date (20260302, 02032026): every record of a day or year shares it,
// so it says nothing about which records belong together, and as a key
// it would put a whole account's records into every arriving record's
// candidates (the cost per record growing with the backlog).
func dateLike(n string) bool {
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	year := func(s string) bool { return (s[0] == '1' && s[1] == '9') || (s[0] == '2' && s[1] == '0') }
	md := func(m, d string) bool { return m >= "01" && m <= "12" && d >= "01" && d <= "31" }
	if len(n) == 7 { // 02032026 lost its leading zero
		n = "0" + n
	}
	switch len(n) {
	case 4:
		return year(n)
	case 8:
		return year(n) && md(n[4:6], n[6:8]) || year(n[4:]) && (md(n[2:4], n[0:2]) || md(n[0:2], n[2:4]))
	}
	return false
}

// sharesKey reports whether a and b have a reference key in common.
func sharesKey(a, b *Rec) bool {
	i, j := 0, 0
	for i < len(a.Keys) && j < len(b.Keys) {
		switch {
		case a.Keys[i] == b.Keys[j]:
			return true
		case a.Keys[i] < b.Keys[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// sharesKeyWith is sharesKey over the keys starting with prefix ("": all):
// keysOf(a) ∩ keysOf(b), without building either.
func sharesKeyWith(a, b *Rec, prefix string) bool {
	if prefix == "" {
		return sharesKey(a, b)
	}
	ab, bb := bareNumber(a), bareNumber(b)
	for _, k := range a.Keys {
		if strings.HasPrefix(k, prefix) && (slices.Contains(b.Keys, k) || bb != "" && k[len(prefix):] == bb) {
			return true
		}
	}
	if ab == "" {
		return false
	}
	for _, k := range b.Keys {
		if strings.HasPrefix(k, prefix) && k[len(prefix):] == ab {
			return true
		}
	}
	return bb == ab
}

// bareNumber is r's normalised reference when it is only a number (a
// ledger writes the cheque 004512 as just that), else "".
func bareNumber(r *Rec) string {
	if n := r.NormRef; n != "" && len(n) <= 16 && strings.Trim(n, "0123456789") == "" {
		return n
	}
	return ""
}

// hasKey reports whether r has a reference key starting with prefix
// ("": any key), its bare number counting under the prefix.
func hasKey(r *Rec, prefix string) bool {
	if prefix == "" {
		return len(r.Keys) > 0
	}
	for _, k := range r.Keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return bareNumber(r) != ""
}

// keysOf are r's reference keys a rule looks at: all, or those starting
// with its prefix and its bare number under the prefix.
func keysOf(r *Rec, prefix string) []string {
	if prefix == "" {
		return r.Keys
	}
	var out []string
	for _, k := range r.Keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	if n := bareNumber(r); n != "" && !slices.Contains(out, prefix+n) {
		out = append(out, prefix+n)
	}
	return out
}

// indexByKey lists recs under each of their keys for a rule's prefix.
func indexByKey(recs []*Rec, prefix string) map[string][]*Rec {
	byKey := map[string][]*Rec{}
	for _, r := range recs {
		for _, k := range keysOf(r, prefix) {
			byKey[k] = append(byKey[k], r)
		}
	}
	return byKey
}

// legalForms are dropped from names: "ACME GmbH", "ACME G.m.b.H." and
// "ACME" are the same counterparty.
var legalForms = map[string]bool{"GMBH": true, "AG": true, "LTD": true, "LIMITED": true, "INC": true, "INCORPORATED": true,
	"LLC": true, "LLP": true, "BV": true, "NV": true, "SA": true, "SAS": true, "SARL": true, "SRL": true, "SPA": true, "PLC": true,
	"CO": true, "COMPANY": true, "CORP": true, "CORPORATION": true, "KG": true, "OHG": true, "UG": true, "OY": true, "AB": true,
	"AS": true, "APS": true, "SE": true, "PTY": true, "PTE": true, "KK": true}

// textNoise are words of booking texts that say nothing about who paid.
var textNoise = map[string]bool{"PAYMENT": true, "TRANSFER": true, "CREDIT": true, "DEBIT": true, "SEPA": true, "DIRECT": true,
	"INVOICE": true, "REF": true, "EREF": true, "SVWZ": true, "UEBERWEISUNG": true, "GUTSCHRIFT": true, "LASTSCHRIFT": true,
	"THE": true, "AND": true, "FOR": true, "FROM": true, "TO": true, "OF": true, "INSTALMENT": true, "TRANSACTION": true, "CARD": true}

func nameTokens(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(strings.ToUpper(s), func(c rune) bool { return !(unicode.IsLetter(c) || unicode.IsDigit(c)) }) {
		if len(t) > 1 && !legalForms[t] && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// textTokens are the words of a free text that could belong to a name:
// letters only, booking-text words and legal forms dropped.
func textTokens(s string) []string {
	var out []string
	for _, t := range nameTokens(s) {
		if !textNoise[t] && strings.IndexFunc(t, unicode.IsDigit) < 0 {
			out = append(out, t)
		}
	}
	return out
}

// sameToken: equal, or one cut short from the other (a bank's name field
// of 14 characters turns SUPPLIES into SUPPL), at least 3 letters kept.
func sameToken(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) >= 3 && strings.HasPrefix(b, a)
}

func found(t string, in []string) bool {
	for _, u := range in {
		if sameToken(t, u) {
			return true
		}
	}
	return false
}

// similarity of two counterparty names (their nameTokens), 0–100: the
// share of the shorter name's tokens (legal forms dropped, truncation
// allowed) found in the other. -1 when either is empty.
func similarity(ta, tb []string) int {
	if len(ta) == 0 || len(tb) == 0 {
		return -1
	}
	if len(ta) > len(tb) {
		ta, tb = tb, ta
	}
	common := 0
	for _, t := range ta {
		if found(t, tb) {
			common++
		}
	}
	return common * 100 / len(ta)
}

// containment is the share of name's tokens found in a free text's
// tokens: a name written only in the remittance text. -1 when either is
// empty.
func containment(name, text []string) int {
	if len(name) == 0 || len(text) == 0 {
		return -1
	}
	common := 0
	for _, t := range name {
		if found(t, text) {
			common++
		}
	}
	return common * 100 / len(name)
}
