package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// maxSignoffDays bounds a range sign-off.
const maxSignoffDays = 92

// RequestSignoff checks and records a preparer's sign-off: every day of
// the range with a statement must have nothing unexplained, and the last
// day must have a statement.
func (w *Workflow) RequestSignoff(ctx context.Context, u User, req SignoffRequest) (*casestore.Signoff, error) {
	if !u.has(Preparer, Admin) {
		return nil, refuse(Forbidden, "forbidden", "a sign-off needs the preparer role; you have %s", strings.Join(u.Roles, ", "))
	}
	req.Currency = strings.ToUpper(req.Currency)
	if req.Account == "" || req.Currency == "" || req.Date == "" {
		return nil, refuse(Invalid, "bad_signoff", "a sign-off names account, currency and date")
	}
	to, err := record.ParseDate(req.Date)
	if err != nil {
		return nil, refuse(Invalid, "bad_signoff", "date %q: want YYYY-MM-DD", req.Date)
	}
	from := to
	if req.DateFrom != "" {
		if from, err = record.ParseDate(req.DateFrom); err != nil {
			return nil, refuse(Invalid, "bad_signoff", "date_from %q: want YYYY-MM-DD", req.DateFrom)
		}
	}
	if from > to || to-from >= maxSignoffDays {
		return nil, refuse(Invalid, "bad_signoff", "date_from %s to date %s: want a range of 1 to %d days", from, to, maxSignoffDays)
	}
	if to > w.Today() {
		return nil, refuse(Invalid, "bad_signoff", "%s is in the future", to)
	}
	if req.Comment = strings.TrimSpace(req.Comment); req.Comment == "" {
		return nil, refuse(Invalid, "no_comment", "a sign-off needs a comment: what was checked")
	}
	bs, err := w.Balances(ctx, req.Account, req.Currency, from, to)
	if err != nil {
		return nil, err
	}
	last := bs[len(bs)-1]
	for _, b := range bs {
		d := b.Date
		if len(b.Issues) > 0 {
			var details []string
			for _, is := range b.Issues {
				details = append(details, is.Detail)
			}
			return nil, refuse(Conflict, "statement_issue", "%s %s %s cannot be signed off while a statement is missing or inconsistent: %s",
				req.Account, req.Currency, d, strings.Join(details, "; "))
		}
		if b.Unexplained == nil {
			if d == to || len(b.Statements) > 0 || !b.HasOpening {
				return nil, refuse(Conflict, "no_figure", "%s %s %s cannot be signed off: %s", req.Account, req.Currency, d, b.Problem)
			}
			continue // no statement that day (a weekend): nothing to certify
		}
		if !b.Unexplained.IsZero() {
			return nil, refuse(Conflict, "unexplained_difference",
				"%s %s %s has an unexplained difference of %s (statement %s − ledger %s − reconciling items %s): a day is signed off only at zero",
				req.Account, req.Currency, d, money.Format(*b.Unexplained, req.Currency), money.Format(*b.StatementBalance, req.Currency),
				money.Format(b.LedgerBalance, req.Currency), money.Format(b.ItemsTotal, req.Currency))
		}
	}
	figures, _ := json.Marshal(figuresOf(last))
	a := &casestore.Action{User: u.Name, Account: req.Account, Currency: req.Currency, Comment: req.Comment}
	so, err := w.Store.RequestSignoff(ctx, a, from, to, figures)
	if errors.Is(err, casestore.ErrConflict) {
		return nil, refuse(Conflict, "already_signed_off", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	w.count(string(Signoff), a.Status)
	w.Log.Info("sign-off requested", "signoff_id", so.SignoffID, "account", so.Account, "currency", so.Currency, "from", from, "to", to, "user", u.Name)
	return so, nil
}

// Figures is what a sign-off certifies (its figures, as JSON).
type Figures struct {
	Date             record.Date       `json:"date"`
	StatementBalance string            `json:"statement_balance"`
	LedgerBalance    string            `json:"ledger_balance"`
	ItemsTotal       string            `json:"reconciling_items_total"`
	Unexplained      string            `json:"unexplained_difference"`
	Kinds            map[string]string `json:"reconciling_totals"`
	Items            int               `json:"reconciling_items"`
}

func figuresOf(b *casestore.Balance) Figures {
	f := func(d money.Decimal) string { return money.Format(d, b.Currency) }
	out := Figures{Date: b.Date, StatementBalance: f(*b.StatementBalance), LedgerBalance: f(b.LedgerBalance), ItemsTotal: f(b.ItemsTotal),
		Unexplained: f(*b.Unexplained), Kinds: map[string]string{}, Items: len(b.Items)}
	for _, k := range casestore.ItemKinds {
		out.Kinds[k] = f(b.Totals[k])
	}
	return out
}

// checkSignoffStill re-checks a sign-off request before it is approved:
// the figures may have changed since it was requested.
func (w *Workflow) checkSignoffStill(ctx context.Context, a *casestore.Action) error {
	so, err := w.Store.Signoff(ctx, a.ActionID)
	if err != nil {
		return err
	}
	bs, err := w.Balances(ctx, so.Account, so.Currency, so.From, so.To)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if len(b.Issues) > 0 {
			return refuse(Conflict, "statement_issue", "since the request, %s %s %s has a missing or inconsistent statement: %s",
				so.Account, so.Currency, b.Date, b.Issues[0].Detail)
		}
		if b.Unexplained != nil && !b.Unexplained.IsZero() {
			return refuse(Conflict, "figures_changed", "since the request, %s %s %s has an unexplained difference of %s: reject it and sign off again",
				so.Account, so.Currency, b.Date, money.Format(*b.Unexplained, so.Currency))
		}
	}
	return nil
}

// checkLocked refuses an action on items of a signed-off day.
func (w *Workflow) checkLocked(ctx context.Context, account, currency string, days []record.Date) error {
	if len(days) == 0 {
		return nil
	}
	slices.Sort(days)
	so, err := w.Store.Locked(ctx, account, currency, slices.Compact(days)...)
	if err != nil || so == nil {
		return err
	}
	return refuse(Conflict, "locked", "%s %s %s..%s is signed off (%s, prepared by %s, approved by %s): an admin must reopen it first",
		so.Account, so.Currency, so.From, so.To, so.SignoffID, so.RequestedBy, so.ApprovedBy)
}

// ReopenSignoff unlocks a signed-off period (an admin, with a reason).
func (w *Workflow) ReopenSignoff(ctx context.Context, u User, id, reason string) (*casestore.Signoff, error) {
	if !u.has(Admin) {
		return nil, refuse(Forbidden, "forbidden", "reopening a signed-off day needs the admin role; you have %s", strings.Join(u.Roles, ", "))
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		return nil, refuse(Invalid, "no_reason", "reopening a signed-off day needs a reason")
	}
	so, err := w.Store.ReopenSignoff(ctx, id, u.Name, reason)
	if errors.Is(err, casestore.ErrConflict) {
		return nil, refuse(Conflict, "not_signed_off", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	w.Log.Info("sign-off reopened", "signoff_id", id, "user", u.Name)
	w.Published(ctx)
	return so, nil
}
