// Package parse detects a statement file's format from its content (never
// its name) and runs the matching parser.
package parse

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/openrecon/recon/internal/bai2"
	"github.com/openrecon/recon/internal/camt"
	"github.com/openrecon/recon/internal/csvformat"
	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/freetext"
	"github.com/openrecon/recon/internal/mt940"
	"github.com/openrecon/recon/internal/record"
)

// sniffLen is how much of a file detection reads.
const sniffLen = 8 << 10

// Detect names the format of a file from its first bytes.
func Detect(head []byte) format.Kind {
	h := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	t := bytes.TrimLeft(h, " \t\r\n")
	switch {
	case bytes.HasPrefix(t, []byte("01,")):
		return format.BAI2
	case bytes.HasPrefix(t, []byte("{1:")), swiftTagLines(h) >= 2, swiftTagLines(firstLine(t)) == 1:
		return format.MT940
	case bytes.HasPrefix(t, []byte("<")) && (bytes.Contains(h, []byte("camt.05")) || bytes.Contains(h, []byte("<BkToCstmr"))):
		return format.CAMT
	}
	return csvformat.Detect(h)
}

// swiftTagLines counts lines of head that open with an MT940 balance,
// entry or reference tag (":20:", ":25:", ":60F:", ":61:", ":62F:", ":86:" …).
func swiftTagLines(head []byte) int {
	n := 0
	for _, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimLeft(line, " \t\r")
		for _, tag := range []string{":20:", ":25:", ":28C:", ":60F:", ":60M:", ":61:", ":62F:", ":62M:", ":86:", ":34F:"} {
			if bytes.HasPrefix(line, []byte(tag)) {
				n++
				break
			}
		}
	}
	return n
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// Parsers maps each supported format to its parser. Formats that are
// recognised but not in the map are reported as unsupported.
var Parsers = map[format.Kind]format.Parser{
	format.LedgerCSV: csvformat.Parser{},
	format.BankCSV:   csvformat.Parser{},
	format.MT940:     mt940.Parser{},
	format.BAI2:      bai2.Parser{},
	format.CAMT:      camt.Parser{},
}

// Detector detects formats and parses files, with CSV mapping profiles for
// layouts other than the canonical ones.
type Detector struct {
	Profiles []*csvformat.Profile
}

// NewDetector returns a detector with the built-in CSV profiles and extra.
func NewDetector(extra ...*csvformat.Profile) *Detector {
	return &Detector{Profiles: append(extra, csvformat.BuiltinProfiles()...)}
}

var defaultDetector = NewDetector()

// File parses with the built-in profiles (see Detector.File).
func File(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) (format.Kind, error) {
	return defaultDetector.File(ctx, r, src, sink)
}

// File detects r's format and parses it into sink. It returns the detected
// format; the error is a file-level one (quarantine the file).
func (d *Detector) File(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) (format.Kind, error) {
	br := bufio.NewReaderSize(r, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return format.Unknown, &format.ParseError{File: src.Name, Reason: "read: " + err.Error(), Err: err}
	}
	kind := Detect(head)
	if len(bytes.TrimSpace(head)) == 0 {
		return format.Unknown, &format.ParseError{File: src.Name, Reason: "empty file"}
	}
	p, ok := Parsers[kind]
	if kind == format.Unknown {
		if prof := csvformat.MatchProfile(head, d.Profiles); prof != nil {
			kind, p, ok = format.Kind("csv-profile:"+prof.Name), csvformat.ProfileParser{Profile: prof}, true
		}
	}
	if !ok {
		if kind == format.Unknown {
			return kind, &format.ParseError{File: src.Name, Line: 1,
				Reason: "unrecognised format: not BAI2, MT940/MT942, camt.05x, a CSV with the canonical bank or ledger columns, nor a layout of any CSV profile"}
		}
		return kind, &format.ParseError{File: src.Name, Reason: fmt.Sprintf("format %s is recognised but not supported yet", kind)}
	}
	if kind == format.BAI2 || kind == format.MT940 || kind == format.CAMT {
		if src.Side == record.Ledger {
			return kind, &format.ParseError{File: src.Name, Reason: fmt.Sprintf("a %s file is a bank statement but arrived on the ledger side", kind)}
		}
		src.Side = record.Bank
	}
	if src.Side == "" {
		switch kind {
		case format.LedgerCSV:
			src.Side = record.Ledger
		case format.BankCSV:
			src.Side = record.Bank
		}
	}
	return kind, p.Parse(ctx, br, src, enriching{sink})
}

// enriching reads every entry's free text (freetext.Enrich) on its way to
// the sink: names, IBANs, BICs, end-to-end ids and invoice numbers that
// the format gave only as text.
type enriching struct{ format.Sink }

func (e enriching) Transaction(t *record.Transaction) error {
	freetext.Enrich(t)
	return e.Sink.Transaction(t)
}
