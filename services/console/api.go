package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// apiError writes the API's error form {"error": ..., "code": ...}.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

// fail answers an error from the console's logic.
func (s *Service) fail(w http.ResponseWriter, err error) {
	if status, code, msg, ok := refusal(err); ok {
		apiError(w, status, code, msg)
		return
	}
	switch {
	case errors.Is(err, casestore.ErrBadFilter):
		apiError(w, http.StatusBadRequest, "bad_filter", err.Error())
	case errors.Is(err, casestore.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, casestore.ErrConflict):
		apiError(w, http.StatusConflict, "conflict", err.Error())
	default:
		s.log.Error("console request failed", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error (logged)")
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// each maps f over xs (never nil, so JSON lists are [] when empty).
func each[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// breakJSON is the API's BREAK (docs/design.md §9).
type breakJSON struct {
	BreakID        string          `json:"break_id"`
	Side           string          `json:"side"`
	Reason         string          `json:"reason"`
	Status         string          `json:"status"`
	Account        string          `json:"account"`
	Currency       string          `json:"currency"`
	Amount         string          `json:"amount"`
	BookingDate    record.Date     `json:"booking_date"`
	Reference      string          `json:"reference"`
	Counterparty   string          `json:"counterparty"`
	Description    string          `json:"description"`
	RecordID       string          `json:"record_id"`
	SourceFile     string          `json:"source_file"`
	SourcePosition int64           `json:"source_position"`
	AgeDays        int             `json:"age_days"`
	BusinessAge    int             `json:"age_business_days"`
	Assignee       string          `json:"assignee"`
	MatchedBy      string          `json:"matched_by,omitempty"`
	WindowClosedAt record.Date     `json:"window_closed_at"`
	TimeToBreak    int             `json:"time_to_break_days"` // window_closed_at - booking_date
	Note           string          `json:"note,omitempty"`
	Candidates     json.RawMessage `json:"candidates"`
}

func (s *Service) breakOut(b casestore.Break) breakJSON {
	cands := b.Candidates
	if len(cands) == 0 {
		cands = json.RawMessage("[]")
	}
	return breakJSON{BreakID: b.BreakID, Side: b.Side, Reason: b.Reason, Status: b.Status, Account: b.Account, Currency: b.Currency,
		Amount: money.Format(b.Amount, b.Currency), BookingDate: b.BookingDate, Reference: b.Reference, Counterparty: b.Counterparty,
		Description: b.Description, RecordID: b.RecordID, SourceFile: b.SourceFile, SourcePosition: b.SourcePosition,
		AgeDays: int(s.today() - b.BookingDate), BusinessAge: s.businessAge(b), Assignee: b.Assignee, MatchedBy: b.MatchedBy, WindowClosedAt: b.WindowClosedAt, TimeToBreak: max(int(b.WindowClosedAt-b.BookingDate), 0), Note: b.Note, Candidates: cands}
}

// filterOf reads a break filter from query parameters (the API's and the
// queue page's, so a queue URL is a saved filter).
func (s *Service) filterOf(q url.Values, ss *casestore.Session) (casestore.Filter, error) {
	f := casestore.Filter{Status: q.Get("status"), Account: q.Get("account"), Currency: strings.ToUpper(q.Get("currency")),
		Side: q.Get("side"), Reason: q.Get("reason"), Text: q.Get("q"), Sort: q.Get("sort"), Cursor: q.Get("cursor"),
		Assignee: q.Get("assignee"), Today: s.today()}
	if f.Assignee == "me" {
		f.Assignee = ss.User
	}
	for _, n := range []struct {
		name string
		p    *int
	}{{"min_age_days", &f.MinAgeDays}, {"max_age_days", &f.MaxAgeDays}, {"limit", &f.Limit}} {
		if v := q.Get(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 {
				return f, badFilter("%s %q: want a whole number", n.name, v)
			}
			*n.p = i
		}
	}
	for _, n := range []struct {
		name string
		p    **money.Decimal
	}{{"min_amount", &f.MinAmount}, {"max_amount", &f.MaxAmount}} {
		if v := strings.TrimSpace(q.Get(n.name)); v != "" {
			d, err := money.Parse(v)
			if err != nil {
				return f, badFilter("%s %q: want a decimal amount such as -12.50", n.name, v)
			}
			*n.p = &d
		}
	}
	return f, nil
}

func badFilter(format string, a ...any) error {
	return undecodable("bad_filter", format, a...)
}

func (s *Service) apiMe(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	writeJSON(w, http.StatusOK, map[string]any{"user": ss.User, "name": ss.Name, "roles": ss.Roles, "csrf_token": ss.CSRF,
		"expires_at": ss.Expires.UTC().Format(time.RFC3339)})
}

func (s *Service) apiBreaks(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	f, err := s.filterOf(r.URL.Query(), ss)
	if err != nil {
		s.fail(w, err)
		return
	}
	bs, next, err := s.store.ListBreaks(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	items := make([]breakJSON, 0, len(bs))
	for _, b := range bs {
		items = append(items, s.breakOut(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
}

// actionOut is an action as the API shows it (its break ids a list,
// never null).
func actionOut(a *casestore.Action) casestore.Action {
	c := *a
	if c.BreakIDs == nil {
		c.BreakIDs = []string{}
	}
	return c
}

// breakDetail is one break with its comments, history and candidates.
type breakDetail struct {
	breakJSON
	Comments    []commentJSON        `json:"comments"`
	History     []casestore.Action   `json:"history"`
	Escalations []*record.Escalation `json:"escalations"`
}

type commentJSON struct {
	User string    `json:"user"`
	Body string    `json:"body"`
	At   time.Time `json:"at"`
}

func (s *Service) breakDetail(r *http.Request, id string) (*breakDetail, error) {
	b, err := s.store.GetBreak(r.Context(), id)
	if err != nil {
		return nil, err
	}
	d := &breakDetail{breakJSON: s.breakOut(*b), Comments: []commentJSON{}, History: []casestore.Action{}}
	cs, err := s.store.Comments(r.Context(), id)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		d.Comments = append(d.Comments, commentJSON(c))
	}
	as, err := s.store.BreakActions(r.Context(), id)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		d.History = append(d.History, actionOut(a))
	}
	if d.Escalations, err = s.store.Escalations(r.Context(), id); err != nil {
		return nil, err
	}
	if d.Escalations == nil {
		d.Escalations = []*record.Escalation{}
	}
	return d, nil
}

func (s *Service) apiBreak(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	d, err := s.breakDetail(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type matchJSON struct {
	MatchID     string                `json:"match_id"`
	Rule        string                `json:"rule"`
	Status      string                `json:"status"`
	Confidence  string                `json:"confidence"`
	Account     string                `json:"account"`
	Currency    string                `json:"currency"`
	Difference  string                `json:"difference"`
	Explanation string                `json:"explanation"`
	DecidedAt   record.Date           `json:"decided_at"`
	Bank        []casestore.MatchItem `json:"bank"`
	Ledger      []casestore.MatchItem `json:"ledger"`
}

func matchOut(m *casestore.Match) matchJSON {
	return matchJSON{MatchID: m.MatchID, Rule: m.Rule, Status: m.Status, Confidence: money.New(int64(m.Confidence), 4).String(),
		Account: m.Account, Currency: m.Currency, Difference: money.Format(m.Difference, m.Currency), Explanation: m.Explanation,
		DecidedAt: m.DecidedAt, Bank: m.Bank, Ledger: m.Ledger}
}

func (s *Service) apiProposals(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	limit := 200
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
		limit = min(v, 2000)
	}
	ms, err := s.store.Proposals(r.Context(), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": each(ms, matchOut)})
}

func (s *Service) apiApprovals(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	as, err := s.store.Pending(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": each(as, actionOut)})
}

// apiStatus is the status the API answers an action with: applied (taken
// in; the matcher applies a resolution within about a second) or
// pending_approval.
func apiStatus(a *casestore.Action) string {
	switch a.Status {
	case casestore.ActionSent, casestore.ActionDone:
		return "applied"
	}
	return a.Status
}

func (s *Service) apiAction(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	var req ActionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return
	}
	a, err := s.wf.Act(r.Context(), user(ss), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"action_id": a.ActionID, "status": apiStatus(a), "resolution_id": a.ResolutionID})
}

func (s *Service) apiGetAction(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	a, err := s.store.Action(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, actionOut(a))
}

func (s *Service) apiApprove(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	var body struct {
		Decision string `json:"decision"`
		Comment  string `json:"comment"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return
	}
	a, err := s.wf.Decide(r.Context(), user(ss), r.PathValue("id"), workflow.Decision(body.Decision), body.Comment)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"action_id": a.ActionID, "status": apiStatus(a), "resolution_id": a.ResolutionID})
}

func (s *Service) apiAudit(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	limit := 100
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
		limit = min(v, 10000)
	}
	entries, head, err := s.store.AuditLog(r.Context(), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := map[string]any{"entries": entries, "head_hash": head}
	if r.URL.Query().Get("verify") == "1" {
		v, err := s.store.VerifyAudit(r.Context())
		if err != nil {
			s.fail(w, err)
			return
		}
		out["valid"], out["verified_entries"], out["head_hash"] = v.Valid, v.Entries, v.HeadHash
		if !v.Valid {
			out["broken_at"], out["problem"] = v.BrokenAt, v.Problem
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) apiSummary(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	sum, err := s.summary(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// summaryTTL is how long the dashboard's figures are reused: they are
// grouped reads over every break (about 0.4 s at 100,000 breaks on
// SQLite), and several people opening the dashboard at once need them
// only once.
const summaryTTL = 5 * time.Second

// summary is the store's summary, reused for summaryTTL.
func (s *Service) summary(r *http.Request) (*casestore.Summary, error) {
	s.sumMu.Lock()
	defer s.sumMu.Unlock()
	today := s.today()
	if s.sum != nil && s.sumDay == today && time.Since(s.sumAt) < summaryTTL {
		return s.sum, nil
	}
	sum, err := s.store.Summary(r.Context(), today, s.sla)
	if err != nil {
		return nil, err
	}
	s.sum, s.sumAt, s.sumDay = sum, time.Now(), today
	return sum, nil
}

// businessAge is b's age in business days of its currency's calendar.
func (s *Service) businessAge(b casestore.Break) int {
	return s.cfg.calendars.For(b.Currency).Between(b.BookingDate, s.today())
}
