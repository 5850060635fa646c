package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/money"
)

// MatchStatus says whether a match is final.
type MatchStatus string

// Match statuses.
const (
	Auto      MatchStatus = "auto"      // matched by a rule
	Proposed  MatchStatus = "proposed"  // a person must confirm
	Confirmed MatchStatus = "confirmed" // confirmed or made by a person
)

// BreakReason says why a record is a break.
type BreakReason string

// Break reasons (DESIGN.md §4).
const (
	Unmatched      BreakReason = "unmatched"
	AmountMismatch BreakReason = "amount_mismatch"
	Duplicate      BreakReason = "duplicate"
	Ambiguous      BreakReason = "ambiguous"
	Late           BreakReason = "late"
	// DateOutOfWindow: a counterpart has the same reference and amount but
	// a booking date outside every rule's window.
	DateOutOfWindow BreakReason = "date_out_of_window"
)

// Item is a record as matches and breaks carry it (the REC of DESIGN.md §6).
type Item struct {
	ID             string
	Side           Side
	Currency       string
	Amount         money.Decimal
	BookingDate    Date
	Reference      string
	BankReference  string
	Counterparty   string
	Description    string
	SourceFile     string
	SourcePosition int64
	IngestedAt     time.Time
}

// MarshalJSON writes the amount with the currency's minor unit digits.
func (it Item) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID             string `json:"id"`
		Amount         string `json:"amount"`
		BookingDate    Date   `json:"booking_date"`
		Reference      string `json:"reference"`
		BankReference  string `json:"bank_reference,omitempty"`
		Counterparty   string `json:"counterparty,omitempty"`
		Description    string `json:"description,omitempty"`
		SourceFile     string `json:"source_file"`
		SourcePosition int64  `json:"source_position"`
	}{it.ID, money.Format(it.Amount, it.Currency), it.BookingDate, it.Reference, it.BankReference, it.Counterparty,
		it.Description, it.SourceFile, it.SourcePosition})
}

// ItemOf returns the Item view of a transaction.
func ItemOf(t *Transaction) Item {
	return Item{ID: t.ID, Side: t.Side, Currency: t.Currency, Amount: t.Amount, BookingDate: t.BookingDate,
		Reference: t.Reference, BankReference: t.BankReference, Counterparty: t.Counterparty, Description: t.Description,
		SourceFile: t.SourceFile, SourcePosition: t.SourcePosition, IngestedAt: t.IngestedAt}
}

// Match is a decision that bank and ledger records belong together.
type Match struct {
	MatchID        string
	Rule           string
	Confidence     Confidence
	Status         MatchStatus
	Account        string
	Currency       string
	Bank           []Item
	Ledger         []Item
	Difference     money.Decimal
	Explanation    string
	ClearsBreakIDs []string
	DecidedAt      time.Time
	// RuleVersion is the version of the rule set in force when the
	// matcher decided it (0: before rules were versioned).
	RuleVersion int64
}

// MarshalJSON writes the contract form of DESIGN.md §6, with the
// difference as a decimal string.
func (m *Match) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		MatchID        string      `json:"match_id"`
		Rule           string      `json:"rule"`
		Confidence     Confidence  `json:"confidence"`
		Status         MatchStatus `json:"status"`
		Account        string      `json:"account"`
		Currency       string      `json:"currency"`
		Bank           []Item      `json:"bank"`
		Ledger         []Item      `json:"ledger"`
		Difference     string      `json:"difference"`
		Explanation    string      `json:"explanation,omitempty"`
		ClearsBreakIDs []string    `json:"clears_break_ids,omitempty"`
	}{m.MatchID, m.Rule, m.Confidence, m.Status, m.Account, m.Currency, m.Bank, m.Ledger,
		money.Format(m.Difference, m.Currency), m.Explanation, m.ClearsBreakIDs})
}

// Confidence is in basis points: 10000 = certain. JSON writes it as a
// decimal fraction (0.9731).
type Confidence int

// MarshalJSON writes c/10000 exactly.
func (c Confidence) MarshalJSON() ([]byte, error) {
	return []byte(money.New(int64(c), 4).Trim(1).String()), nil
}

// Candidate is a counterpart that came close to a break's record.
type Candidate struct {
	ID          string        `json:"id"`
	Currency    string        `json:"-"`
	Amount      money.Decimal `json:"amount"`
	BookingDate Date          `json:"booking_date"`
	Reference   string        `json:"reference"`
	Score       int           `json:"score"`
	Note        string        `json:"note,omitempty"`
}

// MarshalJSON writes the amount with the currency's minor unit digits.
func (c Candidate) MarshalJSON() ([]byte, error) {
	type plain Candidate
	return json.Marshal(struct {
		Amount string `json:"amount"`
		plain
	}{money.Format(c.Amount, c.Currency), plain(c)})
}

// Break is a record without an acceptable counterpart when its window closed.
type Break struct {
	BreakID        string      `json:"break_id"`
	Side           Side        `json:"side"`
	Reason         BreakReason `json:"reason"`
	Account        string      `json:"account"`
	Currency       string      `json:"currency"`
	Record         Item        `json:"record"`
	Candidates     []Candidate `json:"candidates"`
	WindowClosedAt Date        `json:"window_closed_at"`
	// Note says what the matcher could not search for this record (a
	// group search bound it hit), empty otherwise.
	Note string `json:"note,omitempty"`
	// RuleVersion is the version of the rule set in force when the window
	// closed (0: before rules were versioned).
	RuleVersion int64 `json:"-"`
}

// MatchID is the deterministic id of a match: a hash of its sorted member ids.
func MatchID(ids ...string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	return "m-" + shortHash(strings.Join(s, "\x00"))
}

// BreakID is the deterministic id of a break of it for reason. It covers
// the record's place in its source as well as its id, because an upstream
// id can occur twice (a duplicate posting) and each occurrence is its own
// break.
func BreakID(it Item, reason BreakReason) string {
	return "k-" + shortHash(it.ID+"\x00"+it.SourceFile+"\x00"+strconv.FormatInt(it.SourcePosition, 10)+"\x00"+string(reason))
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}
