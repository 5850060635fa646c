package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// The balance view: an account-day's statement against the ledger and
// the items that explain the difference, as pages and API, and the
// balances the workflow signs off.

// ledgerOpenings parses ACCOUNT|CUR=AMOUNT@DATE settings: the ledger
// balance at the end of DATE.
func (c Config) ledgerOpenings() (map[string]casestore.Opening, error) {
	out := map[string]casestore.Opening{}
	for _, kv := range c.LedgerOpenings {
		i := strings.LastIndex(kv, "=")
		bad := fmt.Errorf("ledger-opening-balances %q: want ACCOUNT|CUR=AMOUNT@YYYY-MM-DD, e.g. DE89370400440532013000|EUR=1500.00@2026-10-31", kv)
		if i <= 0 {
			return nil, bad
		}
		key, val := kv[:i], kv[i+1:]
		acct, cur, ok := strings.Cut(key, "|")
		amt, day, ok2 := strings.Cut(val, "@")
		if !ok || !ok2 || acct == "" || len(cur) != 3 {
			return nil, bad
		}
		d, err := money.Parse(amt)
		if err != nil {
			return nil, bad
		}
		date, err := record.ParseDate(day)
		if err != nil {
			return nil, bad
		}
		out[record.MatchKey(acct, strings.ToUpper(cur))] = casestore.Opening{Date: date, Balance: d, Source: "setting ledger-opening-balances"}
	}
	return out, nil
}

// opening is an account's ledger opening: the setting, else its first
// statement's opening balance (nil: neither).
func (s *Service) opening(ctx context.Context, account, currency string) (*casestore.Opening, error) {
	if o, ok := s.openings[record.MatchKey(account, currency)]; ok {
		return &o, nil
	}
	o, ok, err := s.store.FirstOpening(ctx, account, currency)
	if err != nil || !ok {
		return nil, err
	}
	return &o, nil
}

// balance is the balance view with the account's ledger opening.
func (s *Service) balance(ctx context.Context, account, currency string, day record.Date) (*casestore.Balance, error) {
	bs, err := s.balancesOf(ctx, account, currency, day, day)
	if err != nil {
		return nil, err
	}
	return bs[0], nil
}

// balancesOf is balance for each day from..to (in order), the opening
// read once.
func (s *Service) balancesOf(ctx context.Context, account, currency string, from, to record.Date) ([]*casestore.Balance, error) {
	open, err := s.opening(ctx, account, currency)
	if err != nil {
		return nil, err
	}
	var out []*casestore.Balance
	for d := from; d <= to; d++ {
		b, err := s.store.Balance(ctx, account, currency, d, open)
		if err != nil {
			return nil, err
		}
		if err := s.continuity(ctx, b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// expectedDays says on which days account expects a booked statement:
// the business days of its currency, or none (statement-days).
func (s *Service) expectedDays(account, currency string) func(record.Date) bool {
	if s.stmtDays[account] == "none" {
		return nil
	}
	return s.cfg.calendars.For(currency).IsBusinessDay
}

// continuity adds the missing or inconsistent statements standing for
// b's day; they keep it from being signed off.
func (s *Service) continuity(ctx context.Context, b *casestore.Balance) error {
	issues, err := s.store.Continuity(ctx, b.Account, b.Currency, b.Date, s.expectedDays(b.Account, b.Currency))
	if err != nil {
		return err
	}
	b.Issues = issues
	if len(issues) > 0 && b.Problem == "" {
		b.Problem = fmt.Sprintf("missing or inconsistent statement: %s", issues[0].Detail)
		if len(issues) > 1 {
			b.Problem += fmt.Sprintf(" (and %d more)", len(issues)-1)
		}
	}
	return nil
}

// balanceItemJSON is a reconciling item in the API.
type balanceItemJSON struct {
	Kind           string      `json:"kind"`
	Side           string      `json:"side,omitempty"`
	RecordID       string      `json:"record_id,omitempty"`
	Amount         string      `json:"amount"`
	Effect         string      `json:"effect"`
	BookingDate    record.Date `json:"booking_date"`
	Reference      string      `json:"reference,omitempty"`
	Counterparty   string      `json:"counterparty,omitempty"`
	SourceFile     string      `json:"source_file,omitempty"`
	SourcePosition int64       `json:"source_position,omitempty"`
	BreakID        string      `json:"break_id,omitempty"`
	BreakStatus    string      `json:"break_status,omitempty"`
	MatchID        string      `json:"match_id,omitempty"`
}

type kindTotalJSON struct {
	Kind  string `json:"kind"`
	Label string `json:"label"`
	Count int    `json:"count"`
	Total string `json:"total"`
}

// balanceJSON is the answer of GET /api/v1/balances for one day.
type balanceJSON struct {
	Account          string                       `json:"account"`
	Currency         string                       `json:"currency"`
	Date             record.Date                  `json:"date"`
	StatementBalance *string                      `json:"statement_balance"`
	Statements       []casestore.StatementBalance `json:"statements"`
	LedgerOpening    string                       `json:"ledger_opening_balance"`
	LedgerOpeningAt  record.Date                  `json:"ledger_opening_date"`
	OpeningSource    string                       `json:"ledger_opening_source"`
	LedgerBefore     string                       `json:"ledger_postings_before"`
	LedgerBeforeN    int                          `json:"ledger_postings_before_count"`
	LedgerDay        string                       `json:"ledger_postings_on_day"`
	LedgerDayN       int                          `json:"ledger_postings_on_day_count"`
	LedgerBalance    string                       `json:"ledger_balance"`
	BankDay          string                       `json:"bank_entries_on_day"`
	BankDayN         int                          `json:"bank_entries_on_day_count"`
	Kinds            []kindTotalJSON              `json:"reconciling_totals"`
	ItemsTotal       string                       `json:"reconciling_items_total"`
	Items            []balanceItemJSON            `json:"reconciling_items"`
	Unexplained      *string                      `json:"unexplained_difference"`
	Reconciled       bool                         `json:"reconciled"`
	Problem          string                       `json:"problem,omitempty"`
	StatementIssues  []casestore.StatementIssue   `json:"statement_issues"`
	Lock             *casestore.Signoff           `json:"locked_by,omitempty"`
}

// kindLabels say what each kind of reconciling item is.
var kindLabels = map[string]string{
	casestore.ItemOpenBreak:  "Open breaks",
	casestore.ItemAdjustment: "Adjusting entries approved, awaiting their posting",
	casestore.ItemProposed:   "Proposed matches waiting for a person",
	casestore.ItemPending:    "Pending within their matching window",
	casestore.ItemInTransit:  "Matched to a counterpart booked after the day",
	casestore.ItemClosed:     "Written off or accepted without a counterpart",
	casestore.ItemMatchDiff:  "Differences of matches (tolerance, manual with a difference)",
}

func balanceOut(b *casestore.Balance, lock *casestore.Signoff) balanceJSON {
	f := func(d money.Decimal) string { return money.Format(d, b.Currency) }
	out := balanceJSON{Account: b.Account, Currency: b.Currency, Date: b.Date, Statements: append([]casestore.StatementBalance{}, b.Statements...),
		LedgerOpening: f(b.Opening.Balance), LedgerOpeningAt: b.Opening.Date, OpeningSource: b.Opening.Source,
		LedgerBefore: f(b.Ledger.Before), LedgerBeforeN: b.Ledger.BeforeCount, LedgerDay: f(b.Ledger.Day), LedgerDayN: b.Ledger.DayCount,
		LedgerBalance: f(b.LedgerBalance), BankDay: f(b.Bank.Day), BankDayN: b.Bank.DayCount, ItemsTotal: f(b.ItemsTotal),
		Items: []balanceItemJSON{}, Reconciled: b.Reconciled(), Problem: b.Problem, StatementIssues: append([]casestore.StatementIssue{}, b.Issues...)}
	if b.StatementBalance != nil {
		v := f(*b.StatementBalance)
		out.StatementBalance = &v
	}
	if b.Unexplained != nil {
		v := f(*b.Unexplained)
		out.Unexplained = &v
	}
	for _, k := range casestore.ItemKinds {
		out.Kinds = append(out.Kinds, kindTotalJSON{Kind: k, Label: kindLabels[k], Count: b.Counts[k], Total: f(b.Totals[k])})
	}
	for _, it := range b.Items {
		out.Items = append(out.Items, balanceItemJSON{Kind: it.Kind, Side: it.Side, RecordID: it.RecordID, Amount: f(it.Amount), Effect: f(it.Effect),
			BookingDate: it.BookingDate, Reference: it.Reference, Counterparty: it.Counterparty, SourceFile: it.SourceFile,
			SourcePosition: it.SourcePosition, BreakID: it.BreakID, BreakStatus: it.BreakStatus, MatchID: it.MatchID})
	}
	out.Lock = lock
	return out
}

// dayOf reads a date parameter ("" : today).
func (s *Service) dayOf(v string) (record.Date, error) {
	if v == "" {
		return s.today(), nil
	}
	d, err := record.ParseDate(v)
	if err != nil {
		return 0, badFilter("date %q: want YYYY-MM-DD", v)
	}
	return d, nil
}

// dayBalance reads account, currency and date from q and computes the view.
func (s *Service) dayBalance(ctx context.Context, q url.Values) (*casestore.Balance, *casestore.Signoff, error) {
	acct, cur := q.Get("account"), strings.ToUpper(q.Get("currency"))
	if acct == "" || cur == "" {
		return nil, nil, badFilter("account and currency are needed")
	}
	day, err := s.dayOf(q.Get("date"))
	if err != nil {
		return nil, nil, err
	}
	b, err := s.balance(ctx, acct, cur, day)
	if err != nil {
		return nil, nil, err
	}
	lock, err := s.store.Locked(ctx, acct, cur, day)
	return b, lock, err
}

// apiBalances answers one account-day's balance view, or, without an
// account, the latest statement days of every account with their figures
// (no items).
func (s *Service) apiBalances(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	q := r.URL.Query()
	if q.Get("account") == "" {
		rows, err := s.overview(r.Context(), 31)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": rows})
		return
	}
	b, lock, err := s.dayBalance(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, balanceOut(b, lock))
}

// overview is the latest statement days of every account, without items.
func (s *Service) overview(ctx context.Context, perAccount int) ([]balanceJSON, error) {
	days, err := s.store.StatementDays(ctx, perAccount)
	if err != nil {
		return nil, err
	}
	out := []balanceJSON{}
	opens := map[string]*casestore.Opening{}
	for _, d := range days {
		key := record.MatchKey(d.Account, d.Currency)
		open, ok := opens[key]
		if !ok {
			if open, err = s.opening(ctx, d.Account, d.Currency); err != nil {
				return nil, err
			}
			opens[key] = open
		}
		b, err := s.store.Balance(ctx, d.Account, d.Currency, d.Date, open)
		if err != nil {
			return nil, err
		}
		if err := s.continuity(ctx, b); err != nil {
			return nil, err
		}
		lock, err := s.store.Locked(ctx, d.Account, d.Currency, d.Date)
		if err != nil {
			return nil, err
		}
		j := balanceOut(b, lock)
		j.Items = nil
		out = append(out, j)
	}
	return out, nil
}

func (s *Service) balancesPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	rows, err := s.overview(r.Context(), 10)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "balances", view{S: ss, Title: "Balances", Nav: "balances", Data: map[string]any{"Rows": rows}})
}

// dayView is the balance page and report of one account-day.
type dayView struct {
	B         balanceJSON
	Chart     *chart // the account's unexplained difference per day up to the day
	Groups    []itemGroup
	Trail     []*casestore.Signoff
	Postings  []casestore.Posting
	MorePosts bool
	Show      string
	// Diff is statement − ledger; LedgerPostings the ledger records after
	// the opening (both "—" without a statement).
	Diff, LedgerPostings string
	Prev                 record.Date
	Next                 record.Date
	CanSign              bool
	CanReopen            bool
	Pending              bool
	Generated            time.Time
}

type itemGroup struct {
	kindTotalJSON
	Items []balanceItemJSON
}

func (s *Service) dayView(r *http.Request, ss *casestore.Session) (*dayView, error) {
	q := r.URL.Query()
	b, lock, err := s.dayBalance(r.Context(), q)
	if err != nil {
		return nil, err
	}
	v := &dayView{B: balanceOut(b, lock), Prev: b.Date - 1, Next: b.Date + 1, Show: q.Get("show"), Generated: time.Now().UTC(), Diff: "—"}
	if b.StatementBalance != nil {
		if d, err := b.StatementBalance.Sub(b.LedgerBalance); err == nil {
			v.Diff = money.Format(d, b.Currency)
		}
	}
	if p, err := b.Ledger.Before.Add(b.Ledger.Day); err == nil {
		v.LedgerPostings = money.Format(p, b.Currency)
	}
	for _, k := range v.B.Kinds {
		g := itemGroup{kindTotalJSON: k}
		for _, it := range v.B.Items {
			if it.Kind == k.Kind {
				g.Items = append(g.Items, it)
			}
		}
		v.Groups = append(v.Groups, g)
	}
	trail, err := s.store.SignoffsCovering(r.Context(), b.Account, b.Currency, b.Date)
	if err != nil {
		return nil, err
	}
	v.Trail = trail
	for _, t := range trail {
		v.Pending = v.Pending || t.Status == casestore.SignoffPending
	}
	if v.Show == "ledger" || v.Show == "bank" {
		if v.Postings, v.MorePosts, err = s.store.Postings(r.Context(), b.Account, b.Currency, v.Show, b.Date, 1000); err != nil {
			return nil, err
		}
	}
	v.CanSign = ss != nil && has(ss, RolePreparer, RoleAdmin) && lock == nil && !v.Pending && b.Reconciled()
	v.CanReopen = ss != nil && has(ss, RoleAdmin)
	return v, nil
}

// unexplainedChart is the unexplained difference of an account on each
// day with a statement balance, over the 30 days up to day.
func (s *Service) unexplainedChart(ctx context.Context, account, currency string, day record.Date) (*chart, error) {
	bs, err := s.balancesOf(ctx, account, currency, day-chartDays+1, day)
	if err != nil {
		return nil, err
	}
	c := &chart{Title: "Unexplained difference per day, " + account + " " + currency, Digits: 2,
		Bars: []series{{Name: "unexplained", Class: "unexplained"}}}
	for _, d := range bs {
		if d.Unexplained == nil {
			continue
		}
		f, _ := strconv.ParseFloat(d.Unexplained.String(), 64) // places the bar; the text is exact
		c.X = append(c.X, d.Date.Time().Format("Jan 2"))
		c.Bars[0].Values = append(c.Bars[0].Values, f)
		c.Bars[0].Texts = append(c.Bars[0].Texts, money.Format(*d.Unexplained, currency))
	}
	return c, nil
}

func (s *Service) balanceDayPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	v, err := s.dayView(r, ss)
	if err == nil {
		v.Chart, err = s.unexplainedChart(r.Context(), v.B.Account, v.B.Currency, v.B.Date)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "balance", view{S: ss, Title: fmt.Sprintf("Balance %s %s %s", v.B.Account, v.B.Currency, v.B.Date),
		Nav: "balances", Data: v})
}
