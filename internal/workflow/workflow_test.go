package workflow

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

var today = record.MakeDate(2026, 3, 20)

// fixture is a workflow on an SQLite case store holding two open bank
// breaks of account A (a fee of 4.50 booked on the 2nd, a payment of
// 900.00 on the 3rd), with every day reconciled and the resolutions sent
// counted.
type fixture struct {
	w      *Workflow
	store  *casestore.Store
	sent   []string
	fee    string // break ids
	pay    string
	counts map[string]int
}

func newFixture(t *testing.T, limits map[string]money.Decimal) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := casestore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	brk := func(id string, day int, cents int64) *record.Break {
		it := record.Item{ID: id, Side: record.Bank, Currency: "EUR", Amount: money.New(cents, 2), BookingDate: record.MakeDate(2026, 3, day),
			SourceFile: "bank.csv", SourcePosition: int64(day)}
		return &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: record.Bank, Reason: record.Unmatched, Account: "A",
			Currency: "EUR", Record: it, WindowClosedAt: it.BookingDate + 5}
	}
	fee, pay := brk("b-fee", 2, -450), brk("b-pay", 3, 90000)
	if err := st.Apply(ctx, "console", &casestore.Batch{Breaks: []*record.Break{fee, pay}}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, fee: fee.BreakID, pay: pay.BreakID, counts: map[string]int{}}
	zero := money.New(0, 2)
	f.w = New(Policy{ReasonCodes: []string{"bank_fee", "other"}, WriteOffLimits: limits}, Deps{
		Store: st,
		Balances: func(_ context.Context, account, currency string, from, to record.Date) ([]*casestore.Balance, error) {
			var out []*casestore.Balance
			for d := from; d <= to; d++ {
				bal := money.New(100000, 2)
				out = append(out, &casestore.Balance{Account: account, Currency: currency, Date: d, HasOpening: true, StatementBalance: &bal,
					Statements: []casestore.StatementBalance{{StatementID: "s", Balance: bal}}, LedgerBalance: bal, Unexplained: &zero})
			}
			return out, nil
		},
		Send:      func(_ context.Context, a *casestore.Action) error { f.sent = append(f.sent, a.ActionID); return nil },
		Published: func(context.Context) {},
		Counted:   func(kind, status string) { f.counts[kind+" "+status]++ },
		Today:     func() record.Date { return today },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return f
}

var (
	pat  = User{Name: "pat", Roles: []Role{Preparer}}
	sam  = User{Name: "sam", Roles: []Role{Preparer, Approver}}
	alex = User{Name: "alex", Roles: []Role{Approver}}
	vera = User{Name: "vera", Roles: []Role{Viewer}}
)

// refused checks that err is the workflow's refusal for reason and code.
func refused(t *testing.T, what string, err error, reason Reason, code string) {
	t.Helper()
	var we *Error
	if !errors.As(err, &we) || we.Reason != reason || we.Code != code {
		t.Errorf("%s: %v, want a refusal %d %q", what, err, reason, code)
	}
}

// Maker-checker on a write-off: who may request it, who may decide it,
// that a decision is taken once, and what an approval sends.
func TestWriteOffMakerChecker(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	_, err := f.w.Act(ctx, vera, ActionRequest{Action: "write_off", BreakIDs: []string{f.fee}, ReasonCode: "bank_fee"})
	refused(t, "a viewer's write-off", err, Forbidden, "forbidden")
	_, err = f.w.Act(ctx, pat, ActionRequest{Action: "write_off", BreakIDs: []string{f.fee}})
	refused(t, "a write-off without a reason code", err, Invalid, "reason_code")
	_, err = f.w.Act(ctx, pat, ActionRequest{Action: "burn", BreakIDs: []string{f.fee}})
	refused(t, "an unknown action", err, Invalid, "bad_action")
	_, err = f.w.Act(ctx, pat, ActionRequest{Action: "write_off", BreakIDs: []string{"k-none"}, ReasonCode: "bank_fee"})
	refused(t, "a write-off of no break", err, NotFound, "not_found")
	a, err := f.w.Act(ctx, pat, ActionRequest{Action: "write_off", BreakIDs: []string{f.fee, " ", f.fee}, ReasonCode: "bank_fee", Comment: "fee"})
	if err != nil || a.Status != casestore.ActionPending || len(a.BreakIDs) != 1 || len(f.sent) != 0 {
		t.Fatalf("write-off request: %+v %v (sent %v)", a, err, f.sent)
	}
	_, err = f.w.Act(ctx, sam, ActionRequest{Action: "accept", BreakIDs: []string{f.fee}, ReasonCode: "bank_fee"})
	refused(t, "an action on a break a request waits on", err, Conflict, "pending_request")
	_, err = f.w.Decide(ctx, pat, a.ActionID, Approve, "")
	refused(t, "a preparer's approval", err, Forbidden, "forbidden")
	_, err = f.w.Decide(ctx, alex, a.ActionID, "maybe", "")
	refused(t, "an unknown decision", err, Invalid, "bad_decision")
	own, err := f.w.Act(ctx, sam, ActionRequest{Action: "write_off", BreakIDs: []string{f.pay}, ReasonCode: "other"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.w.Decide(ctx, sam, own.ActionID, Approve, "")
	refused(t, "approving one's own request", err, Forbidden, "own_request")
	_, err = f.w.Decide(ctx, alex, own.ActionID, TakeBack, "")
	refused(t, "withdrawing another's request", err, Forbidden, "not_requester")
	if d, err := f.w.Decide(ctx, sam, own.ActionID, TakeBack, "wrong break"); err != nil || d.Status != casestore.ActionWithdrawn {
		t.Errorf("withdrawn: %+v %v", d, err)
	}
	d, err := f.w.Decide(ctx, alex, a.ActionID, Approve, "ok")
	if err != nil || d.Status != casestore.ActionSent || len(f.sent) != 1 || f.sent[0] != a.ActionID {
		t.Fatalf("approved: %+v %v (sent %v)", d, err, f.sent)
	}
	_, err = f.w.Decide(ctx, alex, a.ActionID, Decline, "")
	refused(t, "a second decision", err, Conflict, "not_pending")
	if f.counts["write_off pending_approval"] != 2 || f.counts["write_off sent"] != 1 || f.counts["write_off withdrawn"] != 1 {
		t.Errorf("counted %v", f.counts)
	}
}

// A write-off within the currency's limit needs no second person; an
// adjustment always does, and its approval takes effect in the case
// store, not in the matcher.
func TestLimitsAndAdjustments(t *testing.T) {
	f := newFixture(t, map[string]money.Decimal{"EUR": money.New(500, 2)})
	ctx := context.Background()
	a, err := f.w.Act(ctx, pat, ActionRequest{Action: "write_off", BreakIDs: []string{f.fee}, ReasonCode: "bank_fee"})
	if err != nil || a.Status != casestore.ActionSent || len(f.sent) != 1 {
		t.Fatalf("4.50 within a 5.00 limit: %+v %v", a, err)
	}
	_, err = f.w.Act(ctx, pat, ActionRequest{Action: "adjust", BreakIDs: []string{f.pay}, ReasonCode: "other"})
	refused(t, "an adjustment without its journal reference", err, Invalid, "no_reference")
	adj, err := f.w.Act(ctx, pat, ActionRequest{Action: "adjust", BreakIDs: []string{f.pay}, ReasonCode: "other", Attachment: "JE-7"})
	if err != nil || adj.Status != casestore.ActionPending {
		t.Fatalf("adjustment: %+v %v", adj, err)
	}
	d, err := f.w.Decide(ctx, alex, adj.ActionID, Approve, "")
	if err != nil || d.Status != casestore.ActionApplied || len(f.sent) != 1 {
		t.Fatalf("approved adjustment: %+v %v (sent %v)", d, err, f.sent)
	}
}

// A signed-off day locks its items: an action on them is refused, and so
// is the approval of a request made before the day was signed off.
func TestSignedOffDaysLock(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	wo, err := f.w.Act(ctx, pat, ActionRequest{Action: "write_off", BreakIDs: []string{f.fee}, ReasonCode: "bank_fee"})
	if err != nil {
		t.Fatal(err)
	}
	req := SignoffRequest{Account: "A", Currency: "eur", DateFrom: "2026-03-01", Date: "2026-03-05"}
	_, err = f.w.RequestSignoff(ctx, pat, req)
	refused(t, "a sign-off without a comment", err, Invalid, "no_comment")
	req.Comment = "agreed"
	_, err = f.w.RequestSignoff(ctx, vera, req)
	refused(t, "a viewer's sign-off", err, Forbidden, "forbidden")
	_, err = f.w.RequestSignoff(ctx, pat, SignoffRequest{Account: "A", Currency: "EUR", Date: "2026-03-21", Comment: "x"})
	refused(t, "a sign-off of tomorrow", err, Invalid, "bad_signoff")
	so, err := f.w.RequestSignoff(ctx, pat, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.Decide(ctx, alex, so.SignoffID, Approve, "checked"); err != nil {
		t.Fatal(err)
	}
	_, err = f.w.Act(ctx, pat, ActionRequest{Action: "accept", BreakIDs: []string{f.pay}, ReasonCode: "other"})
	refused(t, "an action on a signed-off day", err, Conflict, "locked")
	_, err = f.w.Decide(ctx, alex, wo.ActionID, Approve, "")
	refused(t, "approving a request on a day signed off since", err, Conflict, "locked")
	_, err = f.w.RequestSignoff(ctx, pat, req)
	refused(t, "signing the days off again", err, Conflict, "already_signed_off")
	_, err = f.w.ReopenSignoff(ctx, pat, so.SignoffID, "found an error")
	refused(t, "a preparer reopening", err, Forbidden, "forbidden")
	if _, err := f.w.ReopenSignoff(ctx, User{Name: "ada", Roles: []Role{Admin}}, so.SignoffID, "found an error"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.Act(ctx, pat, ActionRequest{Action: "accept", BreakIDs: []string{f.pay}, ReasonCode: "other"}); err != nil {
		t.Errorf("an action after the reopening: %v", err)
	}
}
