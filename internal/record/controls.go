package record

import (
	"strconv"
	"time"

	"github.com/openrecon/recon/internal/money"
)

// SignOff is a period sign-off as the warehouse receives it, on topic
// recon.signoffs keyed account|currency (schemas/signoff.avsc): one value
// per state it reached after approval.
type SignOff struct {
	SignoffID         string
	Version           int    // 1 signed off, 2 reopened
	Status            string // SignedOff or Reopened
	Account, Currency string
	From, To          Date
	StatementBalance  money.Decimal
	LedgerBalance     money.Decimal
	ItemsTotal        money.Decimal
	Unexplained       money.Decimal
	Figures           string // the console's JSON of the balance certified
	RequestedBy       string
	RequestedAt       time.Time
	Comment           string
	ApprovedBy        string
	ApprovedAt        time.Time
	DecisionComment   string
	ReopenedBy        string
	ReopenedAt        time.Time // zero unless reopened
	ReopenReason      string
}

// Sign-off states on recon.signoffs.
const (
	SignedOff = "signed_off"
	Reopened  = "reopened"
)

// EscalationKind is what an escalation is about.
type EscalationKind string

// Escalation kinds (schemas/escalation.avsc).
const (
	EscalateBreak     EscalationKind = "break_sla"         // an open break past its SLA
	EscalateApproval  EscalationKind = "approval_waiting"  // a request waiting for an approver too long
	EscalateStatement EscalationKind = "statement_missing" // a missing or inconsistent bank statement
)

// Escalation is something that waited too long, as the notifier receives
// it on topic recon.escalations keyed by recipient.
type Escalation struct {
	EscalationID string         `json:"escalation_id"`
	Kind         EscalationKind `json:"kind"`
	Level        int            `json:"level"`
	SubjectID    string         `json:"subject_id"`
	Recipient    string         `json:"recipient"`
	Account      string         `json:"account"`
	Currency     string         `json:"currency"`
	Reason       string         `json:"reason,omitempty"`
	Amount       string         `json:"amount,omitempty"`
	Age          string         `json:"age"`
	SLA          string         `json:"sla"`
	Detail       string         `json:"detail,omitempty"`
	URL          string         `json:"url,omitempty"`
	EscalatedAt  time.Time      `json:"escalated_at"`
}

// EscalationID is the deterministic id of the escalation of a subject at a
// level: each level is escalated once.
func EscalationID(kind EscalationKind, subject string, level int) string {
	return "e-" + shortHash(string(kind)+"\x00"+subject+"\x00"+strconv.Itoa(level))
}
