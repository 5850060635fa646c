package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Breaks: the queue and a break's detail, as pages and API.

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
	RuleVersion    int64           `json:"rule_version"` // the rule set's version in force when its window closed
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
		AgeDays: int(s.today() - b.BookingDate), BusinessAge: s.businessAge(b), Assignee: b.Assignee, MatchedBy: b.MatchedBy, WindowClosedAt: b.WindowClosedAt, TimeToBreak: max(int(b.WindowClosedAt-b.BookingDate), 0), Note: b.Note,
		RuleVersion: b.RuleVersion, Candidates: cands}
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
		d.History = append(d.History, *a)
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

// businessAge is b's age in business days of its currency's calendar.
func (s *Service) businessAge(b casestore.Break) int {
	return s.cfg.calendars.For(b.Currency).Between(b.BookingDate, s.today())
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
