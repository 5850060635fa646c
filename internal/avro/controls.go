package avro

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/schemas"
)

// NewSignOffCodec is the codec of SignOff values (recon.signoffs).
func NewSignOffCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.SignOff], error) {
	return typed(ctx, reg, subject, schemas.SignOff, signOffNative, signOffFromNative, nil, nil)
}

// NewEscalationCodec is the codec of Escalation values (recon.escalations).
func NewEscalationCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.Escalation], error) {
	return typed(ctx, reg, subject, schemas.Escalation, escalationNative, escalationFromNative, nil, nil)
}

func signOffNative(s *record.SignOff) map[string]any {
	var reopened any
	if !s.ReopenedAt.IsZero() {
		reopened = goavroUnion("long.timestamp-millis", s.ReopenedAt.UTC())
	}
	return map[string]any{
		"signoff_id": s.SignoffID, "version": int32(s.Version), "status": strings.ToUpper(s.Status),
		"account": s.Account, "currency": s.Currency, "date_from": s.From.Time(), "date_to": s.To.Time(),
		"statement_balance": s.StatementBalance.Rat(), "ledger_balance": s.LedgerBalance.Rat(),
		"reconciling_items_total": s.ItemsTotal.Rat(), "unexplained_difference": s.Unexplained.Rat(), "figures": s.Figures,
		"requested_by": s.RequestedBy, "requested_at": s.RequestedAt.UTC(), "comment": s.Comment,
		"approved_by": s.ApprovedBy, "approved_at": s.ApprovedAt.UTC(), "decision_comment": s.DecisionComment,
		"reopened_by": s.ReopenedBy, "reopened_at": reopened, "reopen_reason": s.ReopenReason,
	}
}

func signOffFromNative(n map[string]any) (*record.SignOff, error) {
	s := &record.SignOff{SignoffID: str(n["signoff_id"]), Version: int(i64(n["version"])), Status: strings.ToLower(str(n["status"])),
		Account: str(n["account"]), Currency: str(n["currency"]), Figures: str(n["figures"]), RequestedBy: str(n["requested_by"]),
		Comment: str(n["comment"]), ApprovedBy: str(n["approved_by"]), DecisionComment: str(n["decision_comment"]),
		ReopenedBy: str(n["reopened_by"]), ReopenReason: str(n["reopen_reason"])}
	if s.Status != record.SignedOff && s.Status != record.Reopened {
		return nil, fmt.Errorf("sign-off %s: status %q unknown", s.SignoffID, str(n["status"]))
	}
	for _, f := range []struct {
		name string
		dst  *money.Decimal
	}{{"statement_balance", &s.StatementBalance}, {"ledger_balance", &s.LedgerBalance},
		{"reconciling_items_total", &s.ItemsTotal}, {"unexplained_difference", &s.Unexplained}} {
		d, err := decimal(n[f.name], s.Currency)
		if err != nil {
			return nil, fmt.Errorf("sign-off %s: %s: %w", s.SignoffID, f.name, err)
		}
		*f.dst = d
	}
	if t, ok := n["date_from"].(time.Time); ok {
		s.From = dateOf(t)
	}
	if t, ok := n["date_to"].(time.Time); ok {
		s.To = dateOf(t)
	}
	s.RequestedAt, _ = n["requested_at"].(time.Time)
	s.ApprovedAt, _ = n["approved_at"].(time.Time)
	s.ReopenedAt, _ = unionValue(n["reopened_at"]).(time.Time)
	return s, nil
}

var escalationKinds = map[record.EscalationKind]string{record.EscalateBreak: "BREAK_SLA", record.EscalateApproval: "APPROVAL_WAITING",
	record.EscalateStatement: "STATEMENT_MISSING"}

func escalationNative(e *record.Escalation) map[string]any {
	return map[string]any{
		"escalation_id": e.EscalationID, "kind": escalationKinds[e.Kind], "level": int32(e.Level), "subject_id": e.SubjectID,
		"recipient": e.Recipient, "account": e.Account, "currency": e.Currency, "reason": e.Reason, "amount": e.Amount,
		"age": e.Age, "sla": e.SLA, "detail": e.Detail, "url": e.URL, "escalated_at": e.EscalatedAt.UTC(),
	}
}

func escalationFromNative(n map[string]any) (*record.Escalation, error) {
	e := &record.Escalation{EscalationID: str(n["escalation_id"]), Level: int(i64(n["level"])), SubjectID: str(n["subject_id"]),
		Recipient: str(n["recipient"]), Account: str(n["account"]), Currency: str(n["currency"]), Reason: str(n["reason"]),
		Amount: str(n["amount"]), Age: str(n["age"]), SLA: str(n["sla"]), Detail: str(n["detail"]), URL: str(n["url"])}
	for k, sym := range escalationKinds {
		if sym == str(n["kind"]) {
			e.Kind = k
		}
	}
	if e.Kind == "" {
		return nil, fmt.Errorf("escalation %s: kind %q unknown", e.EscalationID, str(n["kind"]))
	}
	e.EscalatedAt, _ = n["escalated_at"].(time.Time)
	return e, nil
}

// NewRuleSetCodec is the codec of RuleSet values (recon.rules).
func NewRuleSetCodec(ctx context.Context, reg Registry, subject string) (*Codec[record.RuleSet], error) {
	return typed(ctx, reg, subject, schemas.RuleSet, ruleSetNative, ruleSetFromNative, nil, nil)
}

func ruleSetNative(r *record.RuleSet) map[string]any {
	aliases := make([]any, len(r.Aliases))
	for i, a := range r.Aliases {
		aliases[i] = map[string]any{"alias_id": a.AliasID, "account": a.Account, "currency": a.Currency, "bank_name": a.BankName,
			"ledger_name": a.LedgerName, "evidence": int32(a.Evidence), "learned_from": a.LearnedFrom, "accepted_by": a.AcceptedBy}
	}
	return map[string]any{"version": r.Version, "yaml": r.YAML, "aliases": aliases, "hash": r.Hash, "author": r.Author,
		"approver": r.Approver, "comment": r.Comment, "activated_at": r.ActivatedAt.UTC(), "proposal_id": r.ProposalID}
}

func ruleSetFromNative(n map[string]any) (*record.RuleSet, error) {
	r := &record.RuleSet{Version: i64(n["version"]), YAML: str(n["yaml"]), Hash: str(n["hash"]), Author: str(n["author"]),
		Approver: str(n["approver"]), Comment: str(n["comment"]), ProposalID: str(n["proposal_id"]), Aliases: []record.Alias{}}
	if r.Version < 1 {
		return nil, fmt.Errorf("rule set version %d: want 1 or more", r.Version)
	}
	if t, ok := n["activated_at"].(time.Time); ok {
		r.ActivatedAt = t
	}
	arr, _ := n["aliases"].([]any)
	for _, v := range arr {
		m, _ := v.(map[string]any)
		r.Aliases = append(r.Aliases, record.Alias{AliasID: str(m["alias_id"]), Account: str(m["account"]), Currency: str(m["currency"]),
			BankName: str(m["bank_name"]), LedgerName: str(m["ledger_name"]), Evidence: int(i64(m["evidence"])),
			LearnedFrom: str(m["learned_from"]), AcceptedBy: str(m["accepted_by"])})
	}
	return r, nil
}
