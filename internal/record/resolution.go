package record

import (
	"strings"
	"time"
)

// Action is what a person decided in the console, as the matcher applies
// it (schemas/resolution.avsc).
type Action string

// Actions the matcher applies.
const (
	ActManualMatch Action = "manual_match" // match the named breaks and open records together
	ActConfirm     Action = "confirm"      // confirm a proposed match
	ActReject      Action = "reject"       // reject a proposed match: its records become breaks
	ActUnmatch     Action = "unmatch"      // undo a manual or confirmed match: its records become breaks
	ActWriteOff    Action = "write_off"    // close breaks as written off
	ActAccept      Action = "accept"       // close breaks as explained, no counterpart expected
	ActReopen      Action = "reopen"       // reopen written-off or accepted breaks
)

// Actions lists every action, in the order of the Avro enum.
var Actions = []Action{ActManualMatch, ActConfirm, ActReject, ActWriteOff, ActAccept, ActReopen, ActUnmatch}

var avroActions = map[Action]string{ActManualMatch: "MANUAL_MATCH", ActConfirm: "CONFIRM_MATCH", ActReject: "REJECT_MATCH",
	ActWriteOff: "WRITE_OFF", ActAccept: "ACCEPT", ActReopen: "REOPEN", ActUnmatch: "UNMATCH"}

// AvroSymbol is the action's symbol in the Avro enum.
func (a Action) AvroSymbol() string { return avroActions[a] }

// ActionOfSymbol returns the action of an Avro enum symbol ("" if unknown).
func ActionOfSymbol(sym string) Action {
	for a, s := range avroActions {
		if s == strings.ToUpper(sym) {
			return a
		}
	}
	return ""
}

// Resolution is a person's decision as the matcher receives it, on topic
// recon.resolutions keyed account|currency.
type Resolution struct {
	ResolutionID string
	Action       Action
	Account      string
	Currency     string
	BreakIDs     []string
	MatchID      string
	RecordIDs    []string
	User         string
	ApprovedBy   string
	ReasonCode   string
	Comment      string
	Attachment   string
	DecidedAt    time.Time
}

// Break statuses after a resolution (and in the case store).
const (
	BreakOpen       = "open"
	BreakMatched    = "matched"
	BreakWrittenOff = "written_off"
	BreakAccepted   = "accepted"
)

// Match statuses a resolution leaves (besides confirmed).
const (
	MatchRejected  = "rejected"
	MatchUnmatched = "unmatched"
)

// BreakState is a break a resolution changed, with its status now.
type BreakState struct {
	BreakID  string `json:"break_id"`
	RecordID string `json:"record_id"`
	Status   string `json:"status"`
}

// Outcome is what the matcher did with a resolution (topic
// recon.resolution-outcomes, keyed account|currency): applied, with what
// it changed, or refused, with why and nothing changed.
type Outcome struct {
	ResolutionID string
	Action       Action
	Account      string
	Currency     string
	Applied      bool
	Detail       string
	MatchID      string
	MatchStatus  string // confirmed, rejected, unmatched ("" when no match is concerned)
	Breaks       []BreakState
	User         string
	ApprovedBy   string
	ReasonCode   string
	Comment      string
	DecidedAt    time.Time
}

// OutcomeOf starts the outcome of r.
func OutcomeOf(r *Resolution) *Outcome {
	return &Outcome{ResolutionID: r.ResolutionID, Action: r.Action, Account: r.Account, Currency: r.Currency,
		User: r.User, ApprovedBy: r.ApprovedBy, ReasonCode: r.ReasonCode, Comment: r.Comment, DecidedAt: r.DecidedAt}
}
