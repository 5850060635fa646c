package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow"
)

//go:embed web/templates/*.html web/static/* openapi.json
var webFS embed.FS

var funcs = template.FuncMap{
	"join": strings.Join,
	"has": func(ss *casestore.Session, roles ...string) bool {
		return ss != nil && has(ss, roles...)
	},
	"title": func(s string) string {
		s = strings.ReplaceAll(s, "_", " ")
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"query": func(kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(v.Encode())
	},
	"short": short,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"money": money.Format,
	"zero": func(s string) bool {
		d, err := money.Parse(s)
		return err == nil && d.IsZero()
	},
	"neg": func(s string) bool { return strings.HasPrefix(s, "-") },
	"age": func(n int) string {
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	},
}

// pages are the parsed page templates, each with the layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	names, _ := fs.Glob(webFS, "web/templates/*.html")
	for _, n := range names {
		base := strings.TrimPrefix(n, "web/templates/")
		if base == "layout.html" {
			continue
		}
		out[strings.TrimSuffix(base, ".html")] = template.Must(template.New(base).Funcs(funcs).ParseFS(webFS, "web/templates/layout.html", n))
	}
	return out
}()

func staticHandler() http.HandlerFunc {
	sub, _ := fs.Sub(webFS, "web")
	files := http.FileServer(http.FS(sub))
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, _ := webFS.ReadFile("openapi.json")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// view is what every page template gets.
type view struct {
	S            *casestore.Session
	Title, Nav   string
	Flash, Error string
	Reasons      []string // reason codes
	Data         any
}

// render writes a page; the template runs into a buffer first so that an
// error never sends half a page.
func (s *Service) render(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	v.Reasons = s.cfg.ReasonCodes
	if v.Flash == "" {
		v.Flash = r.URL.Query().Get("msg")
	}
	if v.Error == "" {
		v.Error = r.URL.Query().Get("err")
	}
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("page template failed", "page", name, "err", err)
		http.Error(w, "internal error (logged)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is a page-level error, for the pages and sign-in.
func errorPage(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	var buf bytes.Buffer
	_ = pages["error"].ExecuteTemplate(&buf, "layout", view{Title: title, Data: msg})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) signedOut(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_ = pages["signed_out"].ExecuteTemplate(&buf, "layout", view{Title: "Signed out"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// pageFail shows an error on a page.
func (s *Service) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	if status, _, msg, ok := refusal(err); ok {
		errorPage(w, r, status, http.StatusText(status), msg)
		return
	}
	switch {
	case errors.Is(err, casestore.ErrNotFound):
		errorPage(w, r, http.StatusNotFound, "Not found", err.Error())
	case errors.Is(err, casestore.ErrBadFilter):
		errorPage(w, r, http.StatusBadRequest, "Bad filter", err.Error())
	default:
		s.log.Error("console page failed", "err", err)
		errorPage(w, r, http.StatusInternalServerError, "Internal error", "Something went wrong; it was logged.")
	}
}

type bucketLink struct {
	Name     string
	N        int64
	Min, Max int
}

type kv struct {
	K string
	N int64
}

func sorted(m map[string]int64) []kv {
	out := make([]kv, 0, len(m))
	for k, n := range m {
		out = append(out, kv{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || (out[i].N == out[j].N && out[i].K < out[j].K) })
	return out
}

func (s *Service) dashboardPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	sum, err := s.summary(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	var ages []bucketLink
	for _, b := range casestore.AgeBuckets {
		ages = append(ages, bucketLink{b.Name, sum.ByAge[b.Name], b.Min, b.Max})
	}
	var breaches int64
	for _, n := range sum.SLABreach {
		breaches += n
	}
	type acct struct{ Account, Currency string }
	var accounts []struct {
		kv
		acct
	}
	for _, x := range sorted(sum.ByAccount) {
		a, c, _ := strings.Cut(x.K, " ")
		accounts = append(accounts, struct {
			kv
			acct
		}{x, acct{a, c}})
	}
	var amounts []struct{ Currency, Net, Gross string }
	for c, a := range sum.OpenAmount {
		amounts = append(amounts, struct{ Currency, Net, Gross string }{c, a, sum.OpenGross[c]})
	}
	sort.Slice(amounts, func(i, j int) bool { return amounts[i].Currency < amounts[j].Currency })
	pct := func(rate string) string {
		if rate == "" {
			return "–"
		}
		d, err := money.Parse(rate)
		if err != nil {
			return rate
		}
		p, _ := d.Rescale(4)
		return money.New(p.Units(), 2).String() + " %"
	}
	charts, err := s.dashboardCharts(r.Context(), sum)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", view{S: ss, Title: "Dashboard", Nav: "dashboard", Data: map[string]any{
		"Charts": charts,
		"Open":   sum.ByStatus[casestore.StatusOpen], "Proposals": sum.Proposals, "Requests": sum.Requests, "Breaches": breaches,
		"Ages": ages, "Reasons": sorted(sum.ByReason), "Sides": sorted(sum.BySide), "Accounts": accounts, "Amounts": amounts,
		"SLA": sorted(sum.SLABreach), "RateToday": pct(sum.MatchRate["today"].Rate), "Rate30": pct(sum.MatchRate["30d"].Rate),
		"Today": sum.MatchRate["today"], "Month": sum.MatchRate["30d"], "Day": s.today(), "TimeToBreak": sum.TimeToBreak,
	}})
}

// chartDays is how far back the dashboard's charts look.
const chartDays = 30

// dashboardCharts are the dashboard's pictures of the last 30 days: the
// match rate of each day with records, breaks opened, cleared and still
// open per day, and the open breaks by age.
func (s *Service) dashboardCharts(ctx context.Context, sum *casestore.Summary) ([]chart, error) {
	today := s.today()
	days, err := s.store.Daily(ctx, today-chartDays+1, today)
	if err != nil {
		return nil, err
	}
	rate := chart{Title: "Match rate per day", Unit: "%", Max: 100, Digits: 1, Bars: []series{{Name: "match rate", Class: "rate"}}}
	flow := chart{Title: "Breaks per day", Bars: []series{{Name: "opened", Class: "opened"}, {Name: "cleared", Class: "cleared"}},
		Line: &series{Name: "open at the end of the day", Class: "open"}}
	for _, d := range days {
		label := d.Date.Time().Format("Jan 2")
		if d.Matched+d.Broken > 0 {
			rate.X = append(rate.X, label)
			rate.Bars[0].Values = append(rate.Bars[0].Values, d.Rate())
		}
		flow.X = append(flow.X, label)
		flow.Bars[0].Values = append(flow.Bars[0].Values, float64(d.Opened))
		flow.Bars[1].Values = append(flow.Bars[1].Values, float64(d.Cleared))
		flow.Line.Values = append(flow.Line.Values, float64(d.Open))
	}
	age := chart{Title: "Open breaks by age (days)", Bars: []series{{Name: "open breaks", Class: "age"}}}
	for _, b := range casestore.AgeBuckets {
		age.X = append(age.X, b.Name)
		age.Bars[0].Values = append(age.Bars[0].Values, float64(sum.ByAge[b.Name]))
	}
	return []chart{rate, flow, age}, nil
}

// queueView is the queue page's data.
type queueView struct {
	Items       []breakJSON
	Next        string
	Total       int64
	More        bool // more than Total (the count stops there)
	Q           url.Values
	RawQuery    string
	NextQuery   string
	Reasons     []string
	Statuses    []string
	Sorts       [][2]string
	MyBreaks    bool
	CanPrepare  bool
	ReasonCodes []string
}

// queueCountMax is where the queue page stops counting.
const queueCountMax = 10000

var breakReasons = []string{string(record.Unmatched), string(record.AmountMismatch), string(record.DateOutOfWindow), string(record.Duplicate),
	string(record.Ambiguous), string(record.Late)}

func (s *Service) queuePage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	q := r.URL.Query()
	f, err := s.filterOf(q, ss)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	bs, next, err := s.store.ListBreaks(r.Context(), f)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	total, more, err := s.store.CountBreaksUpTo(r.Context(), f, queueCountMax)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v := queueView{Next: next, Total: total, More: more, Q: q, Reasons: breakReasons, MyBreaks: q.Get("assignee") == "me",
		Statuses:   []string{"open", "proposed", "matched", "written_off", "accepted", "resolved", "all"},
		Sorts:      [][2]string{{"age", "Oldest first"}, {"-age", "Newest first"}, {"-amount", "Largest amount"}, {"amount", "Smallest amount"}},
		CanPrepare: has(ss, RolePreparer, RoleAdmin), ReasonCodes: s.cfg.ReasonCodes}
	for _, b := range bs {
		v.Items = append(v.Items, s.breakOut(b))
	}
	plain := url.Values{}
	for k, vs := range q {
		if k != "cursor" && k != "msg" && k != "err" {
			plain[k] = vs
		}
	}
	v.RawQuery = plain.Encode()
	if next != "" {
		nq := url.Values{}
		for k, vs := range plain {
			nq[k] = vs
		}
		nq.Set("cursor", next)
		v.NextQuery = nq.Encode()
	}
	title := "Break queue"
	nav := "queue"
	if v.MyBreaks {
		title, nav = "My breaks", "mine"
	}
	s.render(w, r, http.StatusOK, "queue", view{S: ss, Title: title, Nav: nav, Data: v})
}

func (s *Service) detailPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	d, err := s.breakDetail(r, r.PathValue("id"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	var cands []casestore.Candidate
	_ = json.Unmarshal(d.Candidates, &cands)
	pend, _ := s.store.PendingFor(r.Context(), []string{d.BreakID})
	lock, _ := s.store.Locked(r.Context(), d.Account, d.Currency, d.BookingDate)
	var match *matchJSON
	if d.MatchedBy != "" {
		if m, err := s.store.GetMatch(r.Context(), d.MatchedBy); err == nil {
			mj := matchOut(m)
			match = &mj
		}
	}
	adjusted, _ := s.store.Adjusted(r.Context(), []string{d.BreakID})
	s.render(w, r, http.StatusOK, "detail", view{S: ss, Title: "Break " + short(d.BreakID), Nav: "queue", Data: map[string]any{
		"B": d, "Adjusted": adjusted, "Candidates": cands, "Pending": pend, "Match": match, "Lock": lock, "Escalations": d.Escalations, "CanPrepare": has(ss, RolePreparer, RoleAdmin),
		"CanReopen": has(ss, RoleAdmin), "Open": d.Status == casestore.StatusOpen,
		"Closed": d.Status == casestore.StatusWrittenOff || d.Status == casestore.StatusAccepted,
	}})
}

func short(id string) string {
	if len(id) > 14 {
		return id[:14] + "…"
	}
	return id
}

// matchPage lists the open breaks of one account and currency, bank and
// ledger side by side, to pick any number of each.
func (s *Service) matchPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	q := r.URL.Query()
	sum, err := s.summary(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	var accounts []string
	for k := range sum.ByAccount {
		accounts = append(accounts, k)
	}
	sort.Strings(accounts)
	account, currency := q.Get("account"), strings.ToUpper(q.Get("currency"))
	if ac := q.Get("acct"); ac != "" {
		account, currency, _ = strings.Cut(ac, " ")
	}
	if account == "" && len(accounts) > 0 {
		account, currency, _ = strings.Cut(accounts[0], " ")
	}
	selected := map[string]bool{}
	for _, id := range q["break_id"] {
		selected[id] = true
		if b, err := s.store.GetBreak(r.Context(), id); err == nil && q.Get("account") == "" && q.Get("acct") == "" {
			account, currency = b.Account, b.Currency
		}
	}
	side := func(sd string) ([]breakJSON, error) {
		bs, _, err := s.store.ListBreaks(r.Context(), casestore.Filter{Account: account, Currency: currency, Side: sd, Text: q.Get("q"),
			Today: s.today(), Limit: 300})
		var out []breakJSON
		for _, b := range bs {
			out = append(out, s.breakOut(b))
		}
		return out, err
	}
	bank, err := side("bank")
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ledger, err := side("ledger")
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	sums := s.sums(r, q["break_id"])
	s.render(w, r, http.StatusOK, "match", view{S: ss, Title: "Manual match", Nav: "match", Data: map[string]any{
		"Accounts": accounts, "Account": account, "Currency": currency, "Bank": bank, "Ledger": ledger, "Selected": selected,
		"Sums": sums, "Q": q.Get("q"), "CanPrepare": has(ss, RolePreparer, RoleAdmin),
	}})
}

// sumsView is the running sums of a manual match.
type sumsView struct {
	Bank, Ledger, Difference string
	NBank, NLedger           int
	Zero, Any                bool
	Currency                 string
	Error                    string
}

func (s *Service) sums(r *http.Request, ids []string) sumsView {
	var bank, ledger money.Decimal
	v := sumsView{}
	for _, id := range workflow.Distinct(ids) {
		b, err := s.store.GetBreak(r.Context(), id)
		if err != nil {
			v.Error = "break " + id + " not found"
			continue
		}
		v.Currency = b.Currency
		if b.Side == "bank" {
			bank, _ = bank.Add(b.Amount)
			v.NBank++
		} else {
			ledger, _ = ledger.Add(b.Amount)
			v.NLedger++
		}
	}
	diff, _ := bank.Sub(ledger)
	v.Bank, v.Ledger, v.Difference = money.Format(bank, v.Currency), money.Format(ledger, v.Currency), money.Format(diff, v.Currency)
	v.Zero, v.Any = diff.IsZero(), v.NBank > 0 && v.NLedger > 0
	return v
}

// matchSums answers the manual match form's htmx request with the sums.
func (s *Service) matchSums(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var buf bytes.Buffer
	if err := pages["match"].ExecuteTemplate(&buf, "sums", s.sums(r, r.PostForm["break_id"])); err != nil {
		s.log.Error("sums template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) proposalsPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	ms, err := s.store.Proposals(r.Context(), 200)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "proposals", view{S: ss, Title: "Proposals", Nav: "proposals", Data: map[string]any{
		"Items": each(ms, matchOut), "CanPrepare": has(ss, RolePreparer, RoleAdmin)}})
}

func (s *Service) approvalsPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	as, err := s.store.Pending(r.Context())
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	// What waits for the signed-in user first: requests a different
	// approver must decide (theirs to decide when they are one), then
	// their own.
	var mine, others []*casestore.Action
	for _, a := range as {
		if a.User == ss.User {
			mine = append(mine, a)
		} else {
			others = append(others, a)
		}
	}
	sos := map[string]*casestore.Signoff{}
	for _, a := range as {
		if a.Kind == casestore.KindSignoff {
			if so, err := s.store.Signoff(r.Context(), a.ActionID); err == nil {
				sos[a.ActionID] = so
			}
		}
	}
	title := "Approvals"
	if has(ss, RoleApprover) {
		title = fmt.Sprintf("Approvals: %d waiting for you", len(others))
	}
	s.render(w, r, http.StatusOK, "approvals", view{S: ss, Title: title, Nav: "approvals", Data: map[string]any{
		"ForYou": each(others, actionOut), "Mine": each(mine, actionOut), "Signoffs": sos, "CanApprove": has(ss, RoleApprover), "User": ss.User}})
}

func (s *Service) auditPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	entries, head, err := s.store.AuditLog(r.Context(), 200)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v, err := s.store.VerifyAudit(r.Context())
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "audit", view{S: ss, Title: "Audit trail", Nav: "audit", Data: map[string]any{
		"Entries": entries, "Head": head, "V": v}})
}

// actForm is the pages' form for an action (one break, a selection, or
// every break a queue filter selects), answered by a redirect back with
// what happened.
func (s *Service) actForm(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	back := safeNext(r.PostFormValue("return_to"))
	req := ActionRequest{Action: r.PostFormValue("action"), BreakIDs: r.PostForm["break_id"], MatchID: r.PostFormValue("match_id"),
		ActionID: r.PostFormValue("action_id"), ReasonCode: r.PostFormValue("reason_code"), Comment: r.PostFormValue("comment"),
		Attachment: r.PostFormValue("attachment"), Assignee: r.PostFormValue("assignee")}
	if workflow.Kind(req.Action) == workflow.Assign && req.Assignee == "me" {
		req.Assignee = ss.User
	}
	redirect := func(msg string, err error) {
		key, text := "msg", msg
		if err != nil {
			key, text = "err", err.Error()
		}
		sep := "?"
		if strings.Contains(back, "?") {
			sep = "&"
		}
		http.Redirect(w, r, back+sep+key+"="+url.QueryEscape(text), http.StatusSeeOther)
	}
	if r.PostFormValue("scope") == "filter" {
		fq, _ := url.ParseQuery(r.PostFormValue("filter"))
		f, err := s.filterOf(fq, ss)
		if err != nil {
			redirect("", err)
			return
		}
		ids, more, err := s.store.BreakIDs(r.Context(), f, workflow.MaxBreaksPerAction)
		if err != nil {
			redirect("", err)
			return
		}
		if more {
			redirect("", fmt.Errorf("the filter selects more than %d breaks: narrow it and act again", workflow.MaxBreaksPerAction))
			return
		}
		req.BreakIDs = ids
	}
	groups := s.byKey(r, req)
	// Proposals: one button per match ("confirm:ID") or a selection.
	if one := r.PostFormValue("one"); one != "" {
		act, id, _ := strings.Cut(one, ":")
		req.Action, req.MatchID = act, id
		groups = []ActionRequest{req}
	} else if ids := r.PostForm["match_id"]; len(ids) > 1 {
		groups = nil
		for _, id := range ids {
			g := req
			g.MatchID = id
			groups = append(groups, g)
		}
	}
	var results []*casestore.Action
	for _, group := range groups {
		a, err := s.wf.Act(r.Context(), user(ss), group)
		if err != nil {
			if len(results) > 0 {
				err = fmt.Errorf("%d actions recorded, then: %w", len(results), err)
			}
			redirect("", err)
			return
		}
		results = append(results, a)
	}
	if len(results) == 0 {
		redirect("", errors.New("nothing selected"))
		return
	}
	n := 0
	for _, a := range results {
		n += len(a.BreakIDs)
	}
	a := results[0]
	if len(results) == 1 && a.Status == casestore.ActionSent {
		// The matcher answers within about a second: show its outcome
		// rather than "sent" when it comes in time.
		a = s.awaitOutcome(r.Context(), a, 2*time.Second)
		if a.Status == casestore.ActionRefused {
			redirect("", fmt.Errorf("%s refused by the matcher: %s", title(a.Kind), a.OutcomeDetail))
			return
		}
	}
	msg := fmt.Sprintf("%s: %s", title(a.Kind), describe(a))
	switch {
	case len(results) > 1 && a.MatchID != "":
		msg = fmt.Sprintf("%s of %d proposals: %s", title(a.Kind), len(results), describe(a))
	case len(results) > 1 || n > 1:
		msg = fmt.Sprintf("%s on %d breaks: %d actions, %s", title(a.Kind), n, len(results), describe(a))
	}
	redirect(msg, nil)
}

// byKey splits a resolution on breaks of several accounts into one per
// account and currency (the matcher decides per partition); comments and
// assignments stay one action.
func (s *Service) byKey(r *http.Request, req ActionRequest) []ActionRequest {
	if k := workflow.Kind(req.Action); k != workflow.Accept && k != workflow.WriteOff {
		return []ActionRequest{req}
	}
	groups := map[string][]string{}
	var keys []string
	for _, id := range req.BreakIDs {
		k := ""
		if b, err := s.store.GetBreak(r.Context(), id); err == nil {
			k = b.Account + "|" + b.Currency
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], id)
	}
	var out []ActionRequest
	for _, k := range keys {
		g := req
		g.BreakIDs = groups[k]
		out = append(out, g)
	}
	return out
}

func title(s string) string { return funcs["title"].(func(string) string)(s) }

func describe(a *casestore.Action) string {
	switch a.Status {
	case casestore.ActionPending:
		return "requested; it takes effect when a different approver approves " + a.ActionID
	case casestore.ActionSent:
		return "sent to the matcher (" + a.ActionID + "); its outcome shows in the history"
	case casestore.ActionApplied:
		return "applied: " + a.OutcomeDetail
	case casestore.ActionDone:
		return "done"
	}
	return a.Status
}

// awaitOutcome polls an action until the matcher's outcome is in the case
// store or wait passes, and returns it as it then stands.
func (s *Service) awaitOutcome(ctx context.Context, a *casestore.Action, wait time.Duration) *casestore.Action {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		cur, err := s.store.Action(ctx, a.ActionID)
		if err != nil {
			return a
		}
		if cur.Status != casestore.ActionSent {
			return cur
		}
		select {
		case <-ctx.Done():
			return a
		case <-time.After(50 * time.Millisecond):
		}
	}
	return a
}

// decideForm is the approvals page's approve / reject / withdraw.
func (s *Service) decideForm(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	id := r.PathValue("id")
	a, err := s.wf.Decide(r.Context(), user(ss), id, workflow.Decision(r.PostFormValue("decision")), r.PostFormValue("comment"))
	back := safeNext(r.PostFormValue("return_to"))
	if back == "/" {
		back = "/approvals"
	}
	if err != nil {
		http.Redirect(w, r, back+"?err="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"?msg="+url.QueryEscape(fmt.Sprintf("%s %s: %s", title(a.Kind), a.ActionID, strings.ReplaceAll(a.Status, "_", " "))), http.StatusSeeOther)
}
