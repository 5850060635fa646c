package bai2

import (
	"bufio"
	"io"
	"strings"
)

// rawRecord is one logical record: a record and its 88 continuations.
type rawRecord struct {
	code  string
	line  int      // line of the record's start
	parts []string // the record's body and each continuation's body, without "NN," and the "/" terminator
	raw   []string // the physical texts, for the DLQ
	count int      // physical records (1 + continuations), for the control counts
}

// recordCodes are the BAI2 record types.
var recordCodes = map[string]bool{"01": true, "02": true, "03": true, "16": true, "49": true, "88": true, "98": true, "99": true}

// splitter reads physical records: a line may hold several records ("…/ 02,…"),
// a record may lack its "/" terminator, and a line that does not start with
// a record code continues the previous record's text.
type splitter struct {
	sc   *bufio.Scanner
	line int
	buf  []piece
}

type piece struct {
	text string
	line int
	cont bool // no record code: continues the previous record
}

func newSplitter(r io.Reader) *splitter {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &splitter{sc: sc}
}

// next returns the next physical record text.
func (s *splitter) next() (piece, bool, error) {
	for len(s.buf) == 0 {
		if !s.sc.Scan() {
			return piece{}, false, s.sc.Err()
		}
		s.line++
		line := strings.TrimRight(s.sc.Text(), "\r\n")
		if s.line == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		s.buf = splitLine(line, s.line)
	}
	p := s.buf[0]
	s.buf = s.buf[1:]
	return p, true, nil
}

// splitLine cuts a physical line where a "/" is followed (after optional
// spaces) by another record code and a comma.
func splitLine(line string, n int) []piece {
	var out []piece
	start := 0
	cont := !startsRecord(line)
	for i := 0; i < len(line); i++ {
		if line[i] != '/' {
			continue
		}
		j := i + 1
		for j < len(line) && line[j] == ' ' {
			j++
		}
		if j < len(line) && startsRecord(line[j:]) {
			out = append(out, piece{text: line[start : i+1], line: n, cont: cont})
			start, cont = j, false
			i = j - 1
		}
	}
	return append(out, piece{text: line[start:], line: n, cont: cont})
}

func startsRecord(s string) bool {
	return len(s) >= 3 && recordCodes[s[:2]] && s[2] == ','
}

// body strips the record code and one trailing "/" (with spaces around it).
func body(text string) string {
	if startsRecord(text) {
		text = text[3:]
	}
	t := strings.TrimRight(text, " ")
	if strings.HasSuffix(t, "/") {
		t = t[:len(t)-1]
	}
	return t
}
