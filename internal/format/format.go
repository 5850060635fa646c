// Package format defines what every statement parser implements and returns:
// the streaming Parser interface, the Sink it feeds, the kinds of file the
// project reads, and ParseError, the error that names file, line and field.
package format

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/record"
)

// Kind is a detected file format.
type Kind string

// The formats the project reads.
const (
	Unknown   Kind = "unknown"
	LedgerCSV Kind = "ledger-csv"
	BankCSV   Kind = "bank-csv"
	BAI2      Kind = "bai2"
	MT940     Kind = "mt940"
	CAMT      Kind = "camt"
)

// Source describes the file being parsed.
type Source struct {
	// Name is what errors and records call the file (an S3 key or a path).
	Name string
	// Digest is the hex SHA-256 of the whole file: the seed of record ids.
	Digest string
	// Side is where the file arrived (inbox folder, key prefix, flag);
	// empty when unknown. Bank-only formats ignore it.
	Side record.Side
}

// Sink receives what a parser finds, in file order. A non-nil error from a
// Sink method stops the parse and is returned by Parse.
type Sink interface {
	Statement(*record.Statement) error
	Transaction(*record.Transaction) error
	// Reject receives a bad entry: the rest of the file goes on.
	Reject(*ParseError) error
}

// Parser reads one file and streams its contents to a Sink. It returns an
// error only when the file as a whole cannot be read (wrong format, missing
// header, I/O); bad entries go to Sink.Reject and parsing continues.
type Parser interface {
	Parse(ctx context.Context, r io.Reader, src Source, sink Sink) error
}

// ParseError is a bad entry or an unreadable file. It names where: the file,
// the line (or XML path), the entry's position and the field.
type ParseError struct {
	File   string
	Line   int    // 1-based first line of the entry; 0 if not line-based
	Path   string // XML path, for XML formats
	Entry  int64  // 1-based source position of the entry; 0 for the file
	Field  string
	Reason string
	Err    error  // the cause, when another error is behind Reason
	Raw    []byte // the entry's original bytes, for the DLQ
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// FieldError is an error about one field, as a parser's helpers return it:
// the caller reports Field as data (ParseError.Field) instead of guessing
// it from the error's text.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldOf is the field err names (a FieldError in its chain), else def.
func FieldOf(err error, def string) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return def
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	if e.Entry > 0 {
		fmt.Fprintf(&b, ": entry %d", e.Entry)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Reason == "" && e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString(e.Reason)
	}
	return b.String()
}

// Collector is a Sink that keeps everything in memory (tests, small files).
type Collector struct {
	Statements   []*record.Statement
	Transactions []*record.Transaction
	Rejects      []*ParseError
}

var _ Sink = (*Collector)(nil)

// Statement implements Sink.
func (c *Collector) Statement(s *record.Statement) error {
	c.Statements = append(c.Statements, s)
	return nil
}

// Transaction implements Sink.
func (c *Collector) Transaction(t *record.Transaction) error {
	c.Transactions = append(c.Transactions, t)
	return nil
}

// Reject implements Sink.
func (c *Collector) Reject(e *ParseError) error {
	c.Rejects = append(c.Rejects, e)
	return nil
}
