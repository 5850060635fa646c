package engine

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// An extractor runs on the reference and the description of every record,
// and most texts cannot match most patterns. A pattern's prefilter is a set
// of literals at least one of which every match contains; a text that
// contains none of them (both compared case-folded) is not searched. The
// set is derived from the pattern's syntax, so it holds for any pattern a
// rules file gives; a pattern without such literals has no prefilter.

// maxAlternatives bounds the literal sets built while deriving a prefilter.
const maxAlternatives = 32

// prefilter returns the required literals of pattern, folded, or nil.
func prefilter(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	req := required(re.Simplify())
	if len(req) == 0 {
		return nil
	}
	out := make([]string, len(req))
	for i, s := range req {
		// A word boundary is kept where it opens a literal that starts
		// with a word character (the literal must start a word); anywhere
		// else it is dropped, which only lets more texts through.
		body := strings.ReplaceAll(s, boundary, "")
		if body == "" {
			return nil
		}
		out[i] = fold(body)
		if strings.HasPrefix(s, boundary) && isWordByte(body[0]) {
			out[i] = boundary + out[i]
		}
	}
	return out
}

// boundary marks a word boundary (\b) in a literal while the prefilter is
// derived, and a literal that must start a word in a finished prefilter.
const boundary = "\x00"

// isWordByte is an ASCII word character, as \b in Go's regexp sees it.
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// exact returns every string re matches, when that is a short list.
func exact(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{string(re.Rune)}
	case syntax.OpWordBoundary:
		return []string{boundary}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpNoWordBoundary:
		return []string{""}
	case syntax.OpCapture:
		return exact(re.Sub[0])
	case syntax.OpQuest:
		if s := exact(re.Sub[0]); s != nil && len(s) < maxAlternatives {
			return append(s, "")
		}
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s := exact(sub)
			if s == nil || len(out)+len(s) > maxAlternatives {
				return nil
			}
			out = append(out, s...)
		}
		return out
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			if out = cross(out, exact(sub)); out == nil {
				return nil
			}
		}
		return out
	}
	return nil
}

func cross(a, b []string) []string {
	if a == nil || b == nil || len(a)*len(b) > maxAlternatives {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out
}

// shortest is the length of the shortest string of set (-1 for none).
func shortest(set []string) int {
	if set == nil {
		return -1
	}
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// required returns literals one of which every match of re contains.
func required(re *syntax.Regexp) []string {
	if s := exact(re); s != nil {
		return s
	}
	switch re.Op {
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s := required(sub)
			if shortest(s) <= 0 || len(out)+len(s) > maxAlternatives {
				return nil
			}
			out = append(out, s...)
		}
		return out
	case syntax.OpConcat:
		// The best of: each child's required set, and each run of
		// consecutive children with exact sets, joined.
		var best []string
		consider := func(s []string) {
			if shortest(s) > shortest(best) {
				best = s
			}
		}
		run := []string{""}
		for _, sub := range re.Sub {
			if e := exact(sub); e != nil {
				if run = cross(run, e); run == nil {
					run = e
				}
				consider(run)
				continue
			}
			consider(required(sub))
			run = []string{""}
		}
		return best
	}
	return nil
}

// fold maps every rune to the smallest rune of its case-folding orbit
// (what (?i) treats as equal), so folded texts compare as the regexp does.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || (c >= 'a' && c <= 'z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			if r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			return r
		}
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}

// mayMatch reports whether text, folded, can match an extractor with the
// prefilter req. A literal that must start a word is looked for at word
// starts only in ASCII texts: folding maps some other letters to ASCII
// ones (ſ to S, the Kelvin sign to K) that \b does not take for word
// characters, so elsewhere the folded text cannot tell.
func mayMatch(text, folded string, req []string) bool {
	if req == nil {
		return true
	}
	ascii := true
	for i := 0; i < len(text) && ascii; i++ {
		ascii = text[i] < utf8.RuneSelf
	}
	for _, s := range req {
		if !strings.HasPrefix(s, boundary) || !ascii {
			if strings.Contains(folded, strings.TrimPrefix(s, boundary)) {
				return true
			}
			continue
		}
		s = s[len(boundary):]
		for at := 0; ; {
			i := strings.Index(folded[at:], s)
			if i < 0 {
				break
			}
			if i += at; i == 0 || !isWordByte(folded[i-1]) {
				return true
			}
			at = i + 1
		}
	}
	return false
}
