// Package record defines the canonical records every statement format is
// parsed into and every service exchanges: bank and ledger transactions and
// statement balance controls, with their deterministic ids.
package record

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/money"
)

// Side says which stream a record belongs to.
type Side string

// The two sides of a reconciliation.
const (
	Bank   Side = "bank"
	Ledger Side = "ledger"
)

// ParseSide accepts "bank" or "ledger" in any case.
func ParseSide(s string) (Side, error) {
	switch strings.ToLower(s) {
	case "bank":
		return Bank, nil
	case "ledger":
		return Ledger, nil
	}
	return "", fmt.Errorf("side %q: want bank or ledger", s)
}

// Date is a calendar date without a zone, counted in days since 1970-01-01
// (the Avro "date" logical type). The zero value is 1970-01-01; use Valid
// fields where a date is optional.
type Date int32

// MakeDate returns the Date of y-m-d. It does not normalise: callers check
// validity with ParseDate or time.Date themselves.
func MakeDate(y int, m time.Month, d int) Date {
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// ParseDate reads YYYY-MM-DD (or YYYYMMDD) and rejects impossible dates.
func ParseDate(s string) (Date, error) {
	layout := "2006-01-02"
	if len(s) == 8 {
		layout = "20060102"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return Date(t.Unix() / 86400), nil
}

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format("2006-01-02") }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Transaction is one bank statement entry or one ledger posting.
// Amount is signed from the account holder's point of view: + money in.
type Transaction struct {
	ID            string        `json:"id"`
	Side          Side          `json:"side"`
	StatementID   string        `json:"statement_id,omitempty"`
	Account       string        `json:"account"`
	Currency      string        `json:"currency"`
	Amount        money.Decimal `json:"amount"`
	BookingDate   Date          `json:"booking_date"`
	ValueDate     *Date         `json:"value_date,omitempty"`
	Reference     string        `json:"reference"`
	BankReference string        `json:"bank_reference,omitempty"`
	Counterparty  string        `json:"counterparty,omitempty"`
	// CounterpartyAccount (IBAN or account number) and CounterpartyBIC of
	// the other party, EndToEndID its reference, TextReferences the invoice
	// and order numbers its text names: from structured fields where the
	// format has them, else read from the free text (internal/freetext).
	CounterpartyAccount string   `json:"counterparty_account,omitempty"`
	CounterpartyBIC     string   `json:"counterparty_bic,omitempty"`
	EndToEndID          string   `json:"end_to_end_id,omitempty"`
	TextReferences      []string `json:"text_references,omitempty"`
	// RawText is the entry's free text as the source wrote it, where the
	// description is only a part of it (the whole MT940 :86: beside its
	// SVWZ+ remittance); empty where the description is the text (CSV,
	// BAI2 16 text and 88 lines, camt unstructured remittance).
	RawText        string            `json:"raw_text,omitempty"`
	Description    string            `json:"description,omitempty"`
	TypeCode       string            `json:"type_code,omitempty"`
	Provisional    bool              `json:"provisional"`
	SourceFile     string            `json:"source_file"`
	SourcePosition int64             `json:"source_position"`
	Extra          map[string]string `json:"extra,omitempty"`
	IngestedAt     time.Time         `json:"-"`
	// SourceDigest is the hex SHA-256 of the source file, written to the
	// topic; the decoders leave it empty (no consumer reads it).
	SourceDigest string `json:"-"`
}

// Key is the match key and the Kafka message key: account|currency.
func (t *Transaction) Key() string { return MatchKey(t.Account, t.Currency) }

// MatchKey joins an account and a currency into the partitioning key.
func MatchKey(account, currency string) string { return account + "|" + currency }

// Statement is the balance control record of one bank statement (or report):
// OpeningBalance + sum of its entries = ClosingBalance.
type Statement struct {
	ID             string         `json:"statement_id"`
	Account        string         `json:"account"`
	Currency       string         `json:"currency"`
	Sequence       string         `json:"sequence,omitempty"`
	OpeningDate    *Date          `json:"opening_date,omitempty"`
	OpeningBalance *money.Decimal `json:"opening_balance,omitempty"`
	ClosingDate    *Date          `json:"closing_date,omitempty"`
	ClosingBalance *money.Decimal `json:"closing_balance,omitempty"`
	Entries        int            `json:"entries"`
	EntriesTotal   money.Decimal  `json:"entries_total"`
	Provisional    bool           `json:"provisional"`
	Format         string         `json:"format"`
	SourceFile     string         `json:"source_file"`
	SourcePosition int64          `json:"source_position"`
}

// Key is the Kafka message key of the statement: account|currency, so it is
// co-partitioned with its transactions.
func (s *Statement) Key() string { return MatchKey(s.Account, s.Currency) }

// ID derives a deterministic record id from the source file's digest and the
// record's position in it (and, for a batch entry expanded into details, the
// detail's index). The same file ingested twice yields the same ids.
//
// The form is "<prefix>-<24 hex digits>", e.g. "b-3f9c0e…".
func ID(prefix, fileDigest string, position int64, detail int) string {
	h := sha256.New()
	h.Write([]byte(fileDigest))
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(position))
	binary.BigEndian.PutUint64(buf[8:], uint64(detail))
	h.Write(buf[:])
	var sum [sha256.Size]byte
	return prefix + "-" + hex.EncodeToString(h.Sum(sum[:0])[:12])
}

// FileEvent is what the ingestor reports of one file (schemas/file_event.avsc,
// topic recon.files): where it came from, its digest and format, and its
// outcome.
type FileEvent struct {
	Bucket, Key, ETag, Side, Digest, Format, Outcome, Reason string
	Size, Records, Rejected, Statements                      int64
	EventTime                                                time.Time
	// StatementDigests: one line per booked statement the file brought
	// (schemas/file_event.avsc statement_digests).
	StatementDigests []string
}

// Outcomes of ingesting a file.
const (
	OutcomeIngested    = "INGESTED"
	OutcomeDuplicate   = "DUPLICATE"
	OutcomeQuarantined = "QUARANTINED"
)

// StatementNumber is a statement's number without pages and leading
// zeros ("00005/1" and "5" are 5, "5/2" is 5/2), or "" when it is none
// or not a number (camt's Id "S0", BAI2's none).
func StatementNumber(seq string) string {
	num, page, _ := strings.Cut(strings.TrimSpace(seq), "/")
	clean := func(s string) (string, bool) {
		if s == "" {
			return "", false
		}
		for _, c := range s {
			if c < '0' || c > '9' {
				return "", false
			}
		}
		if s = strings.TrimLeft(s, "0"); s == "" {
			s = "0"
		}
		return s, true
	}
	n, ok := clean(num)
	if !ok {
		return ""
	}
	if page == "" {
		return n
	}
	p, ok := clean(page)
	if !ok {
		return ""
	}
	if p == "1" {
		return n
	}
	return n + "/" + p
}
