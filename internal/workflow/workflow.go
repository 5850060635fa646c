// Package workflow is the console's domain: what a person may do to
// breaks, matches and days, and who may do it. It owns the action kinds
// and roles, maker-checker (a request takes effect only when a different
// approver approves it), write-off limits, sign-offs and the days they
// lock; its sub-package sla holds the service levels of open breaks. It refuses with an *Error that says why in the domain's terms
// (Invalid, Forbidden, NotFound, Conflict, and a code); the console's
// handlers decode requests, call it, and alone turn its errors into HTTP
// statuses.
package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Kind is what a person asks for (docs/design.md §9).
type Kind string

// The action kinds. The first seven are resolutions the matcher applies
// (record.Action); the rest change only the case store.
const (
	ManualMatch      = Kind(record.ActManualMatch)
	Unmatch          = Kind(record.ActUnmatch)
	Confirm          = Kind(record.ActConfirm)
	Reject           = Kind(record.ActReject)
	WriteOff         = Kind(record.ActWriteOff)
	Accept           = Kind(record.ActAccept)
	Reopen           = Kind(record.ActReopen)
	Adjust           = Kind(casestore.KindAdjust) // an adjusting entry, approved, awaiting its posting
	Comment          = Kind(casestore.KindComment)
	Assign           = Kind(casestore.KindAssign)
	Withdraw    Kind = "withdraw" // a requester takes back a request
	Signoff          = Kind(casestore.KindSignoff)
)

// Kinds are the kinds an action request may name (a sign-off has its own
// request).
var Kinds = []Kind{ManualMatch, Unmatch, Confirm, Reject, WriteOff, Accept, Adjust, Comment, Assign, Reopen, Withdraw}

// Decision is an approver's (or the requester's) answer to a request.
type Decision string

// Decisions.
const (
	Approve  Decision = "approve"
	Decline  Decision = "reject"
	TakeBack Decision = "withdraw"
)

// Role is what a user may do.
type Role = string

// Roles (docs/design.md §9).
const (
	Viewer   Role = "viewer"   // read
	Preparer Role = "preparer" // resolve, match, comment, assign, request write-offs and sign-offs
	Approver Role = "approver" // approve what someone else requested
	Admin    Role = "admin"    // settings, reopen
	// RulesEditor (rules.go) proposes rule changes.
)

// User is who acts.
type User struct {
	Name  string
	Roles []Role
}

func (u User) has(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(u.Roles, r) {
			return true
		}
	}
	return false
}

// Reason is why a request was refused, in the domain's terms.
type Reason int

// Reasons.
const (
	Invalid   Reason = iota + 1 // the request is malformed or incomplete
	Forbidden                   // the user may not do it
	NotFound                    // what it names does not exist
	Conflict                    // the state does not allow it (now)
)

// Error is a request refused before anything was recorded.
type Error struct {
	Reason Reason
	Code   string // stable, for clients: "locked", "own_request", …
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refuse(r Reason, code, format string, a ...any) error {
	return &Error{r, code, fmt.Sprintf(format, a...)}
}

// ActionRequest is a person's action (the body of POST /api/v1/actions
// and of the pages' forms).
type ActionRequest struct {
	Action     string   `json:"action"`
	BreakIDs   []string `json:"break_ids"`
	RecordIDs  []string `json:"record_ids"`
	MatchID    string   `json:"match_id"`
	ActionID   string   `json:"action_id"` // withdraw: the pending request
	ReasonCode string   `json:"reason_code"`
	Comment    string   `json:"comment"`
	Attachment string   `json:"attachment"`
	Assignee   string   `json:"assignee"`
}

// SignoffRequest asks to sign off an account's days (POST /api/v1/signoffs).
type SignoffRequest struct {
	Account  string `json:"account"`
	Currency string `json:"currency"`
	Date     string `json:"date"`      // the day certified (the last of a range)
	DateFrom string `json:"date_from"` // the first day of a range ("" : Date)
	Comment  string `json:"comment"`
}

// Store is what the workflow reads and records in the case store.
type Store interface {
	GetBreak(ctx context.Context, id string) (*casestore.Break, error)
	GetMatch(ctx context.Context, id string) (*casestore.Match, error)
	PendingFor(ctx context.Context, breakIDs []string) ([]*casestore.Action, error)
	Adjusted(ctx context.Context, breakIDs []string) (*casestore.Action, error)
	MatchApprovedBy(ctx context.Context, matchID string) (string, error)
	RecordDays(ctx context.Context, account, currency string, ids []string) ([]record.Date, error)
	Act(ctx context.Context, a *casestore.Action, toMatcher bool) error
	Action(ctx context.Context, id string) (*casestore.Action, error)
	Decide(ctx context.Context, actionID, user, event, status, comment string) (*casestore.Action, error)
	Locked(ctx context.Context, account, currency string, days ...record.Date) (*casestore.Signoff, error)
	Reopened(ctx context.Context, account, currency string, days ...record.Date) (*casestore.Signoff, error)
	RequestSignoff(ctx context.Context, a *casestore.Action, from, to record.Date, figures json.RawMessage) (*casestore.Signoff, error)
	Signoff(ctx context.Context, id string) (*casestore.Signoff, error)
	ReopenSignoff(ctx context.Context, id, user, reason string) (*casestore.Signoff, error)
	Propose(ctx context.Context, p *casestore.Proposal) error
	ProposalOf(ctx context.Context, actionID string) (*casestore.Proposal, error)
	GetRuleVersion(ctx context.Context, v int64) (*casestore.RuleVersion, error)
}

// Policy is the workflow's settings.
type Policy struct {
	ReasonCodes    []string                 // for write-offs, acceptances, adjustments, matches with a difference
	WriteOffLimits map[string]money.Decimal // per currency: write-offs totalling at most this need no approver
}

// Deps is what the workflow works with besides its store.
type Deps struct {
	Store Store
	// Balances is the balance view of an account's days from..to (with
	// the statement issues of each day).
	Balances func(ctx context.Context, account, currency string, from, to record.Date) ([]*casestore.Balance, error)
	// Send hands a resolution to the matcher; an error leaves it recorded
	// for the sender to retry.
	Send func(ctx context.Context, a *casestore.Action) error
	// Published is told that sign-offs changed (the warehouse's copy).
	Published func(ctx context.Context)
	// Counted is told of every action recorded and decided.
	Counted func(kind, status string)
	// Rules are what rules proposals need (nil: no rules topic).
	Rules *RulesDeps
	Today func() record.Date
	Log   *slog.Logger
}

// Workflow checks and records what people do.
type Workflow struct {
	Deps
	policy Policy
}

// New returns a workflow.
func New(p Policy, d Deps) *Workflow { return &Workflow{Deps: d, policy: p} }

func (w *Workflow) count(kind, status string) {
	if w.Counted != nil {
		w.Counted(kind, status)
	}
}
