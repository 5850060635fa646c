package csvformat

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// rowReader splits RFC 4180 CSV into logical rows, keeping each row's raw
// bytes and first line number, so that a bad row can be reported by line and
// sent to the DLQ as it was. Quoted fields may contain newlines, delimiters
// and doubled quotes. CRLF and LF line ends are both accepted; a UTF-8 BOM at
// the start is dropped.
type rowReader struct {
	br    *bufio.Reader
	delim byte
	line  int // lines consumed so far
	raw   []byte
	first bool
}

// errUnclosedQuote marks a row whose quoted field never closes: the rest of
// the file was swallowed into it.
var errUnclosedQuote = errors.New("quoted field is not closed before the end of the file")

func newRowReader(r io.Reader, delim byte) *rowReader {
	return &rowReader{br: bufio.NewReaderSize(r, 256<<10), delim: delim, first: true}
}

// next returns the raw bytes of the next logical row (without its line end)
// and the line it starts on. The slice is valid until the next call.
func (rr *rowReader) next() (raw []byte, line int, err error) {
	rr.raw = rr.raw[:0]
	start := rr.line + 1
	st := fieldStart
	for {
		chunk, rerr := rr.br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			rr.raw = append(rr.raw, chunk...)
			st = rr.scan(chunk, st)
			continue
		}
		if len(chunk) > 0 {
			rr.line++
		}
		if rr.first {
			chunk = bytes.TrimPrefix(chunk, []byte("\xef\xbb\xbf"))
			rr.first = false
		}
		rr.raw = append(rr.raw, chunk...)
		st = rr.scan(chunk, st)
		if rerr != nil {
			if rerr != io.EOF {
				return nil, start, rerr
			}
			if len(rr.raw) == 0 {
				return nil, start, io.EOF
			}
			if st == quoted {
				return trimEOL(rr.raw), start, errUnclosedQuote
			}
			return trimEOL(rr.raw), start, nil
		}
		if st != quoted {
			return trimEOL(rr.raw), start, nil
		}
	}
}

// scanState tracks whether a row continues past a line end: only a quote
// at the start of a field opens a quoted field, and inside one a quote either
// closes it or, doubled, stands for itself.
type scanState uint8

const (
	fieldStart scanState = iota
	unquoted
	quoted
	quoteSeen // a quote inside a quoted field: closing, or the first of a pair
)

func (rr *rowReader) scan(b []byte, st scanState) scanState {
	for _, c := range b {
		switch st {
		case fieldStart:
			switch c {
			case '"':
				st = quoted
			case rr.delim, '\n':
			default:
				st = unquoted
			}
		case unquoted:
			if c == rr.delim || c == '\n' {
				st = fieldStart
			}
		case quoted:
			if c == '"' {
				st = quoteSeen
			}
		case quoteSeen:
			switch c {
			case '"':
				st = quoted
			case rr.delim, '\n':
				st = fieldStart
			default:
				st = unquoted // malformed; splitFields reports it
			}
		}
	}
	return st
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// errQuote is a quote in the wrong place: `ab"c` or `"ab"c`.
var errQuote = errors.New(`misplaced quote (a field with quotes must be wholly quoted, inner quotes doubled)`)

// splitFields splits one logical row into fields, appending to dst.
func splitFields(dst []string, row []byte, delim byte) ([]string, error) {
	dst = dst[:0]
	for {
		if len(row) > 0 && row[0] == '"' {
			// quoted field
			var b []byte
			i := 1
			for {
				j := bytes.IndexByte(row[i:], '"')
				if j < 0 {
					return dst, errUnclosedQuote
				}
				b = append(b, row[i:i+j]...)
				i += j + 1
				if i < len(row) && row[i] == '"' {
					b = append(b, '"')
					i++
					continue
				}
				break
			}
			dst = append(dst, string(b))
			if i == len(row) {
				return dst, nil
			}
			if row[i] != delim {
				return dst, errQuote
			}
			row = row[i+1:]
			continue
		}
		j := bytes.IndexByte(row, delim)
		field := row
		if j >= 0 {
			field = row[:j]
		}
		if bytes.IndexByte(field, '"') >= 0 {
			return dst, errQuote
		}
		dst = append(dst, string(field))
		if j < 0 {
			return dst, nil
		}
		row = row[j+1:]
	}
}

// detectDelimiter picks the delimiter of a header row: the most frequent of
// , ; tab | outside quotes, ',' when none occurs.
func detectDelimiter(header []byte) byte {
	counts := map[byte]int{}
	in := false
	for _, c := range header {
		switch {
		case c == '"':
			in = !in
		case !in && (c == ',' || c == ';' || c == '\t' || c == '|'):
			counts[c]++
		}
	}
	best, n := byte(','), 0
	for _, c := range []byte{',', ';', '\t', '|'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return best
}
