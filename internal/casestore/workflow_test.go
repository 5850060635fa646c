package casestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow/sla"
)

// Actions get deterministic ids from their place in the chain; a request
// is decided once (a second decision is a conflict); a comment and an
// assignment change the case store; the audit chain verifies, and an entry
// changed in place, or one deleted, is found and named.
func TestWorkflowAndAudit(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		b1 := brk("1", 0, "A", -1000, "rent")
		if err := s.Apply(ctx, "console", &Batch{Breaks: []*record.Break{b1}}); err != nil {
			t.Fatal(err)
		}
		wo := &Action{Kind: "write_off", Status: ActionPending, User: "preparer", Account: "A", Currency: "EUR",
			BreakIDs: []string{b1.BreakID}, ReasonCode: "bank_fee", Comment: "fee"}
		if err := s.Act(ctx, wo, true); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(wo.ActionID, "a-") || wo.ResolutionID != "rs-"+strings.TrimPrefix(wo.ActionID, "a-") {
			t.Fatalf("ids %q %q", wo.ActionID, wo.ResolutionID)
		}
		if p, err := s.PendingFor(ctx, []string{b1.BreakID}); err != nil || len(p) != 1 || p[0].ActionID != wo.ActionID {
			t.Fatalf("pending for the break: %v %v", p, err)
		}
		if _, err := s.Decide(ctx, wo.ActionID, "approver", "approve", ActionSent, "ok"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, wo.ActionID, "approver", "approve", ActionSent, "again"); !errors.Is(err, ErrConflict) {
			t.Fatalf("second decision: %v", err)
		}
		unsent, err := s.Unsent(ctx)
		if err != nil || len(unsent) != 1 || unsent[0].Status != ActionSent || unsent[0].DecidedBy != "approver" {
			t.Fatalf("unsent %+v %v", unsent, err)
		}
		if err := s.MarkSent(ctx, wo.ActionID); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.Unsent(ctx); len(u) != 0 {
			t.Fatalf("still unsent: %+v", u)
		}
		// The outcome marks the action applied.
		o := &record.Outcome{ResolutionID: wo.ResolutionID, Action: record.ActWriteOff, Account: "A", Currency: "EUR", Applied: true,
			Detail: "1 breaks written off", Breaks: []record.BreakState{{BreakID: b1.BreakID, Status: StatusWrittenOff}}, DecidedAt: time.Now()}
		if err := s.Apply(ctx, "console", &Batch{Outcomes: []Outcome{{Outcome: o, Seq: 1}}}); err != nil {
			t.Fatal(err)
		}
		if a, err := s.Action(ctx, wo.ActionID); err != nil || a.Status != ActionApplied || a.OutcomeDetail != "1 breaks written off" {
			t.Fatalf("after the outcome: %+v %v", a, err)
		}
		if b, _ := s.GetBreak(ctx, b1.BreakID); b.Status != StatusWrittenOff {
			t.Fatalf("break %+v", b)
		}
		for _, a := range []*Action{
			{Kind: "comment", Status: ActionDone, User: "preparer", BreakIDs: []string{b1.BreakID}, Comment: "called the bank"},
			{Kind: "assign", Status: ActionDone, User: "preparer", BreakIDs: []string{b1.BreakID}, Assignee: "preparer2"},
		} {
			if err := s.Act(ctx, a, false); err != nil {
				t.Fatal(err)
			}
		}
		if cs, _ := s.Comments(ctx, b1.BreakID); len(cs) != 1 || cs[0].Body != "called the bank" || cs[0].User != "preparer" {
			t.Errorf("comments %+v", cs)
		}
		if b, _ := s.GetBreak(ctx, b1.BreakID); b.Assignee != "preparer2" {
			t.Errorf("assignee %q", b.Assignee)
		}
		if h, _ := s.BreakActions(ctx, b1.BreakID); len(h) != 3 {
			t.Errorf("history %+v", h)
		}
		v, err := s.VerifyAudit(ctx)
		if err != nil || !v.Valid || v.Entries != 4 {
			t.Fatalf("verify %+v %v", v, err)
		}
		entries, head, err := s.AuditLog(ctx, 10)
		if err != nil || len(entries) != 4 || head != v.HeadHash || entries[0].Event != "assign" || entries[2].Event != "approve" {
			t.Fatalf("log %+v %s %v", entries, head, err)
		}
		// Tamper: change the approver of entry 2 in place.
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE case_audit SET entry = REPLACE(entry, '"approver"', '"preparer"') WHERE seq = 2`)); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.VerifyAudit(ctx); v.Valid || v.BrokenAt != 2 || !strings.Contains(v.Problem, "changed") {
			t.Fatalf("tampered entry not found: %+v", v)
		}
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM case_audit WHERE seq = 2`)); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.VerifyAudit(ctx); v.Valid || v.BrokenAt != 3 {
			t.Fatalf("deleted entry not found: %+v", v)
		}
	})
}

// A session is found by its hash until it expires or is deleted.
func TestSessions(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateSession(ctx, "h1", Session{User: "u", Name: "U", Roles: []string{"viewer", "preparer"}, CSRF: "c",
			Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, "h2", Session{User: "old", Expires: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		ss, err := s.SessionByHash(ctx, "h1")
		if err != nil || ss.User != "u" || len(ss.Roles) != 2 || ss.CSRF != "c" {
			t.Fatalf("session %+v %v", ss, err)
		}
		if _, err := s.SessionByHash(ctx, "h2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByHash(ctx, "h1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
	})
}

// The summary counts what it says: open breaks by reason, side, account
// and age bucket, net and gross amounts per currency, SLA breaches by the
// reason's days, statuses, proposals and requests waiting, match rates.
func TestSummary(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		today := day0 + 40
		b1, b2, b3 := brk("1", 0, "A", -1000, "rent"), brk("2", 38, "A", 2500, "fee"), brk("3", 39, "B", 700, "x")
		b3.Reason = record.Duplicate
		b2.WindowClosedAt, b3.WindowClosedAt = b2.Record.BookingDate+4, b3.Record.BookingDate+1 // b1 (32 days) is older than 30
		m := match("r-9")
		if err := s.Apply(ctx, "c", &Batch{Breaks: []*record.Break{b1, b2, b3}, Matches: []*record.Match{m}}); err != nil {
			t.Fatal(err)
		}
		// b1 booked day0 (age 40), b2 age 2 (day0+38), b3 age 1.
		sum, err := s.Summary(ctx, today, sla.Policy{Reason: map[string]int{"duplicate": 0}, Default: 5})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"status": map[string]int64{"open": 3}, "reason": map[string]int64{"unmatched": 2, "duplicate": 1},
			"side": map[string]int64{"bank": 3}, "account": map[string]int64{"A EUR": 2, "B EUR": 1},
			"age": map[string]int64{"0-1": 1, "2-3": 1, "4-7": 0, "8-30": 0, ">30": 1},
			"net": map[string]string{"EUR": "22.00"}, "gross": map[string]string{"EUR": "42.00"},
			"sla": map[string]int64{"unmatched": 1, "duplicate": 1},
		}
		got := map[string]any{"status": sum.ByStatus, "reason": sum.ByReason, "side": sum.BySide, "account": sum.ByAccount, "age": sum.ByAge,
			"net": sum.OpenAmount, "gross": sum.OpenGross, "sla": sum.SLABreach}
		for k, w := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(w) {
				t.Errorf("%s: %v, want %v", k, got[k], w)
			}
		}
		if r := sum.MatchRate["30d"]; r.Matched != 0 || r.Broken != 2 || r.Rate != "0.0000" {
			t.Errorf("30-day match rate %+v", r)
		}
		if tb := sum.TimeToBreak; tb.Breaks != 2 || tb.Median != 1 || tb.Longest != 4 {
			t.Errorf("time to break %+v, want 2 breaks, median 1, longest 4 days", tb)
		}
		if sum.Proposals != 0 || sum.Requests != 0 {
			t.Errorf("waiting: %d proposals, %d requests", sum.Proposals, sum.Requests)
		}
		// Account A's stricter SLA (1 day) puts b2 (age 2) past it too.
		sum, err = s.Summary(ctx, today, sla.Policy{Reason: map[string]int{"duplicate": 0}, Default: 5, Account: map[string]int{"A": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(sum.SLABreach) != fmt.Sprint(map[string]int64{"unmatched": 2, "duplicate": 1}) {
			t.Errorf("SLA breaches with an account SLA: %v", sum.SLABreach)
		}
		// In business days (today is Saturday 11 April): b2, booked on
		// Thursday, is 1 business day old, within A's 1 day; b3, booked on
		// Friday, 0, within its 0.
		sum, err = s.Summary(ctx, today, sla.Policy{Reason: map[string]int{"duplicate": 0}, Default: 5, Account: map[string]int{"A": 1}, BusinessDays: true})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(sum.SLABreach) != fmt.Sprint(map[string]int64{"unmatched": 1}) {
			t.Errorf("SLA breaches in business days: %v", sum.SLABreach)
		}
	})
}
