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
		for _, tok := range strings.FieldsFunc(text, func(c rune) bool {
			return !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '-' || c == '/' || c == '_')
		}) {
			n := NormalizeRef(tok)
			if len(n) >= 4 && strings.ContainsAny(n, "0123456789") {
				keys = append(keys, n)
			}
		}
		folded := fold(text)
		for i := range e.cfg.Extractors {
			keys = e.cfg.Extractors[i].apply(text, folded, keys)
		}
	}
	slices.Sort(keys)
	r.Keys = slices.Compact(keys)
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

var legalForms = map[string]bool{"GMBH": true, "AG": true, "LTD": true, "INC": true, "LLC": true, "BV": true, "NV": true,
	"SA": true, "SAS": true, "SRL": true, "SPA": true, "PLC": true, "CO": true, "CORP": true, "KG": true, "OY": true, "AB": true}

func nameTokens(s string) map[string]bool {
	out := map[string]bool{}
	for _, t := range strings.FieldsFunc(strings.ToUpper(s), func(c rune) bool { return !(unicode.IsLetter(c) || unicode.IsDigit(c)) }) {
		if len(t) > 1 && !legalForms[t] {
			out[t] = true
		}
	}
	return out
}

// similarity of two counterparty names (their nameTokens), 0–100: the share of the shorter
// name's tokens (legal forms dropped) found in the other. -1 when either is
// empty.
func similarity(ta, tb map[string]bool) int {
	if len(ta) == 0 || len(tb) == 0 {
		return -1
	}
	if len(ta) > len(tb) {
		ta, tb = tb, ta
	}
	common := 0
	for t := range ta {
		if tb[t] {
			common++
		}
	}
	return common * 100 / len(ta)
}
