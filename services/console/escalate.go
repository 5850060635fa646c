package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow"
	"github.com/openrecon/recon/internal/workflow/sla"
)

// The controls the console publishes besides resolutions: sign-offs for
// the warehouse (recon.signoffs, one value per state after approval) and
// escalations for the notifier (recon.escalations). Both are recorded in
// the case store first and produced by publish until Kafka has them, so
// a stop in between loses nothing; a value produced twice is the same
// value (deterministic ids), which the loader and the notifier take once.

// controlStore is what publishing and escalating need of the case store.
type controlStore interface {
	UnsentSignoffs(ctx context.Context, limit int) ([]*casestore.Signoff, error)
	MarkSignoffSent(ctx context.Context, id string, version int) error
	UnsentEscalations(ctx context.Context, limit int) ([]*record.Escalation, error)
	MarkEscalationsSent(ctx context.Context, ids []string) error
	RecordEscalations(ctx context.Context, es []*record.Escalation) ([]*record.Escalation, error)
	ListBreaks(ctx context.Context, f casestore.Filter) ([]casestore.Break, string, error)
	Pending(ctx context.Context) ([]*casestore.Action, error)
	StatementDays(ctx context.Context, perAccount int) ([]casestore.AccountDay, error)
	Continuity(ctx context.Context, account, currency string, day record.Date, expected func(record.Date) bool) ([]casestore.StatementIssue, error)
}

// publish produces what the store holds unsent: sign-off states and
// escalations.
func (s *Service) publish(ctx context.Context) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	sos, err := s.controls.UnsentSignoffs(ctx, 500)
	if err != nil {
		return err
	}
	for _, so := range sos {
		for v := so.SentVersion + 1; v <= so.Version; v++ {
			val, err := s.signoffs.Encode(nil, signOffRecord(so, v))
			if err != nil {
				return fmt.Errorf("encode sign-off %s v%d: %w", so.SignoffID, v, err)
			}
			if err := s.prod.ProduceSync(ctx, &kgo.Record{Topic: s.topics.signoffs, Key: []byte(record.MatchKey(so.Account, so.Currency)),
				Value: val}).FirstErr(); err != nil {
				return err
			}
			if err := s.controls.MarkSignoffSent(ctx, so.SignoffID, v); err != nil {
				return err
			}
		}
	}
	es, err := s.controls.UnsentEscalations(ctx, 1000)
	if err != nil || len(es) == 0 {
		return err
	}
	recs := make([]*kgo.Record, 0, len(es))
	ids := make([]string, 0, len(es))
	for _, e := range es {
		val, err := s.escalations.Encode(nil, e)
		if err != nil {
			return fmt.Errorf("encode escalation %s: %w", e.EscalationID, err)
		}
		recs = append(recs, &kgo.Record{Topic: s.topics.escalations, Key: []byte(e.Recipient), Value: val})
		ids = append(ids, e.EscalationID)
	}
	if err := s.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	return s.controls.MarkEscalationsSent(ctx, ids)
}

// publishNow publishes at once (after a sign-off changed); what fails is
// retried in the background.
func (s *Service) publishNow(ctx context.Context) {
	if err := s.publish(ctx); err != nil {
		s.log.Warn("sign-off not produced yet; retrying in the background", "err", err)
	}
}

// signOffRecord is version v of a sign-off as the warehouse receives it:
// 1 signed off, 2 reopened.
func signOffRecord(so *casestore.Signoff, v int) *record.SignOff {
	var f workflow.Figures
	_ = json.Unmarshal(so.Figures, &f)
	dec := func(s string) money.Decimal { d, _ := money.Parse(s); return d }
	out := &record.SignOff{SignoffID: so.SignoffID, Version: v, Status: record.SignedOff, Account: so.Account, Currency: so.Currency,
		From: so.From, To: so.To, StatementBalance: dec(f.StatementBalance), LedgerBalance: dec(f.LedgerBalance),
		ItemsTotal: dec(f.ItemsTotal), Unexplained: dec(f.Unexplained), Figures: string(so.Figures), RequestedBy: so.RequestedBy,
		RequestedAt: so.RequestedAt, Comment: so.Comment, ApprovedBy: so.ApprovedBy, ApprovedAt: so.ApprovedAt,
		DecisionComment: so.DecisionComment}
	if v >= 2 {
		out.Status, out.ReopenedBy, out.ReopenedAt, out.ReopenReason = record.Reopened, so.ReopenedBy, so.ReopenedAt, so.ReopenReason
	}
	return out
}

// escalationPolicy is the parsed escalation configuration.
type escalationPolicy struct {
	sla   sla.Policy
	teams map[string]string
	cfg   EscalationConfig
}

// level is the escalation level of something that waited `waited` against
// an SLA of `sla` (same unit): n when it waited more than n times the
// SLA, at most the configured levels; 0 within the SLA.
func (p *escalationPolicy) level(waited, sla int64) int {
	if waited <= sla {
		return 0
	}
	n := int64(1)
	if sla > 0 {
		n = (waited - 1) / sla
	} else {
		n = waited
	}
	return int(min(max(n, 1), int64(p.cfg.Levels)))
}

// recipient of a break's escalation: its assignee, else its account's
// team, else the unassigned team.
func (p *escalationPolicy) recipient(b *casestore.Break) string {
	if b.Assignee != "" {
		return b.Assignee
	}
	if t, ok := p.teams[b.Account]; ok {
		return t
	}
	return p.cfg.UnassignedTeam
}

// sweep finds the open breaks past their SLA and the requests waiting for
// an approver past the approval SLA at now, and records each at its level
// once. It returns how many escalations are new.
func (s *Service) sweep(ctx context.Context, now time.Time) (int, error) {
	p := s.escalation
	today := record.Date(now.UTC().Unix() / 86400)
	var es []*record.Escalation
	f := casestore.Filter{Status: casestore.StatusOpen, Today: today, MinAgeDays: p.sla.Min() + 1, Limit: 1000}
	for {
		bs, next, err := s.controls.ListBreaks(ctx, f)
		if err != nil {
			return 0, err
		}
		for i := range bs {
			b := &bs[i]
			sla, age := p.sla.Days(b.Reason, b.Account), p.sla.Age(b.Currency, b.BookingDate, today)
			lvl := p.level(int64(age), int64(sla))
			if lvl == 0 {
				continue
			}
			es = append(es, &record.Escalation{EscalationID: record.EscalationID(record.EscalateBreak, b.BreakID, lvl),
				Kind: record.EscalateBreak, Level: lvl, SubjectID: b.BreakID, Recipient: p.recipient(b), Account: b.Account,
				Currency: b.Currency, Reason: b.Reason, Amount: money.Format(b.Amount, b.Currency), Age: strconv.Itoa(age) + p.sla.Unit(),
				SLA: strconv.Itoa(sla) + p.sla.Unit(), URL: s.url + "/breaks/" + url.PathEscape(b.BreakID), EscalatedAt: now,
				Detail: fmt.Sprintf("%s break %s of %s %s %s booked %s is open %d %s (SLA %d)", b.Side, b.Reason, b.Account,
					money.Format(b.Amount, b.Currency), b.Currency, b.BookingDate, age, dayWord(p.sla), sla)})
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	reqs, err := s.controls.Pending(ctx)
	if err != nil {
		return 0, err
	}
	slaH := int64(p.cfg.ApprovalSLA / time.Hour)
	for _, a := range reqs {
		waited := now.Sub(a.RequestedAt)
		lvl := p.level(int64(waited), int64(p.cfg.ApprovalSLA))
		if lvl == 0 {
			continue
		}
		es = append(es, &record.Escalation{EscalationID: record.EscalationID(record.EscalateApproval, a.ActionID, lvl),
			Kind: record.EscalateApproval, Level: lvl, SubjectID: a.ActionID, Recipient: p.cfg.ApproversTeam, Account: a.Account,
			Currency: a.Currency, Reason: a.Kind, Amount: a.Difference, Age: strconv.FormatInt(int64(waited/time.Hour), 10) + "h",
			SLA: strconv.FormatInt(slaH, 10) + "h", URL: s.url + "/approvals", EscalatedAt: now,
			Detail: fmt.Sprintf("%s request %s by %s on %s %s waits for an approver since %s", a.Kind, a.ActionID, a.User, a.Account,
				a.Currency, a.RequestedAt.UTC().Format(time.RFC3339))})
	}
	stmts, err := s.statementEscalations(ctx, today, now)
	if err != nil {
		return 0, err
	}
	es = append(es, stmts...)
	fresh, err := s.controls.RecordEscalations(ctx, es)
	if err != nil {
		return 0, err
	}
	if len(fresh) > 0 {
		s.log.Info("escalated", "new", len(fresh), "due", len(es))
	}
	return len(fresh), nil
}

// statementEscalations are the missing or inconsistent statements of
// every account with booked statements: those of its latest statement
// (its opening balance and number against the one before, the days
// between) and the business days after it up to yesterday (today's may
// still come). The missing days of an account are one escalation from
// the first of them, at a level that grows with their number (up to the
// configured levels); an opening difference or a gap in the numbers is
// one escalation each. They go to the account's team.
func (s *Service) statementEscalations(ctx context.Context, today record.Date, now time.Time) ([]*record.Escalation, error) {
	p := s.escalation
	latest, err := s.controls.StatementDays(ctx, 1)
	if err != nil {
		return nil, err
	}
	var es []*record.Escalation
	found := map[string]int{casestore.IssueMissing: 0, casestore.IssueOpeningDiffers: 0, casestore.IssueSequenceGap: 0}
	for _, ad := range latest {
		expected := s.expectedDays(ad.Account, ad.Currency)
		seen := map[string]bool{}
		var missing []casestore.StatementIssue
		for _, d := range []record.Date{ad.Date, today - 1} {
			if d < ad.Date {
				continue
			}
			issues, err := s.controls.Continuity(ctx, ad.Account, ad.Currency, d, expected)
			if err != nil {
				return nil, err
			}
			for _, is := range issues {
				k := is.Kind + is.Date.String()
				if seen[k] {
					continue
				}
				seen[k] = true
				found[is.Kind]++
				if is.Kind == casestore.IssueMissing {
					missing = append(missing, is)
					continue
				}
				es = append(es, s.statementEscalation(ad, is.Kind+"|"+is.Date.String(), 1, is.Date, today, now, is.Kind, is.Detail))
			}
		}
		if len(missing) > 0 {
			first, last := missing[0].Date, missing[len(missing)-1].Date
			detail := missing[0].Detail
			if len(missing) > 1 {
				detail = fmt.Sprintf("no statement for %d business days from %s to %s", len(missing), first, last)
			}
			lvl := min(len(missing), p.cfg.Levels)
			es = append(es, s.statementEscalation(ad, casestore.IssueMissing+"|"+first.String(), lvl, first, today, now, casestore.IssueMissing, detail))
		}
	}
	for k, n := range found {
		s.m.statements.WithLabelValues(k).Set(float64(n))
	}
	return es, nil
}

func (s *Service) statementEscalation(ad casestore.AccountDay, subject string, lvl int, day, today record.Date, now time.Time, kind, detail string) *record.Escalation {
	p := s.escalation
	recipient := p.cfg.UnassignedTeam
	if t, ok := p.teams[ad.Account]; ok {
		recipient = t
	}
	subject = ad.Account + "|" + ad.Currency + "|" + subject
	return &record.Escalation{EscalationID: record.EscalationID(record.EscalateStatement, subject, lvl), Kind: record.EscalateStatement,
		Level: lvl, SubjectID: subject, Recipient: recipient, Account: ad.Account, Currency: ad.Currency, Reason: kind,
		Age: strconv.Itoa(int(today-day)) + "d", SLA: "0d", EscalatedAt: now, Detail: ad.Account + " " + ad.Currency + ": " + detail,
		URL: s.url + "/balances/day?" + url.Values{"account": {ad.Account}, "currency": {ad.Currency}, "date": {day.String()}}.Encode()}
}

// escalate runs the sweep every interval (and once at start).
func (s *Service) escalate(ctx context.Context) error {
	if s.cfg.Escalation.Interval <= 0 {
		<-ctx.Done() // disabled; Run ends when a goroutine returns
		return nil
	}
	t := time.NewTicker(s.cfg.Escalation.Interval)
	defer t.Stop()
	for {
		if _, err := s.sweep(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error("escalation sweep failed; retrying at the next interval", "err", err)
		} else if err := s.publish(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("escalations not produced yet; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// dayWord names the SLA's unit in an escalation's text.
func dayWord(p sla.Policy) string {
	if p.BusinessDays {
		return "business days"
	}
	return "days"
}
