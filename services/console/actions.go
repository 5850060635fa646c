package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/workflow"
)

// Actions and requests: the form and API that act, the approvals page
// and API that decide. The rules are the workflow's (internal/workflow).

func (s *Service) apiApprovals(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	as, err := s.store.Pending(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(as)})
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
	writeJSON(w, http.StatusOK, a)
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
		"ForYou": others, "Mine": mine, "Signoffs": sos, "CanApprove": has(ss, RoleApprover), "User": ss.User}})
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
