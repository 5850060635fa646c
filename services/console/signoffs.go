package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
)

// Sign-offs: requests, listing and reopening, as forms and API.

func (s *Service) apiSignoff(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	var req SignoffRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return
	}
	so, err := s.wf.RequestSignoff(r.Context(), user(ss), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"action_id": so.SignoffID, "signoff_id": so.SignoffID, "status": so.Status})
}

func (s *Service) apiSignoffs(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	q := r.URL.Query()
	so, err := s.store.Signoffs(r.Context(), q.Get("account"), strings.ToUpper(q.Get("currency")), 500)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": so})
}

func (s *Service) apiReopenSignoff(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return
	}
	so, err := s.wf.ReopenSignoff(r.Context(), user(ss), r.PathValue("id"), body.Reason)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, so)
}

// Pages.

// signoffForm is the balance page's sign-off request.
func (s *Service) signoffForm(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	req := SignoffRequest{Account: r.PostFormValue("account"), Currency: r.PostFormValue("currency"), Date: r.PostFormValue("date"),
		DateFrom: r.PostFormValue("date_from"), Comment: r.PostFormValue("comment")}
	back := "/balances/day?" + url.Values{"account": {req.Account}, "currency": {req.Currency}, "date": {req.Date}}.Encode()
	so, err := s.wf.RequestSignoff(r.Context(), user(ss), req)
	if err != nil {
		http.Redirect(w, r, back+"&err="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"&msg="+url.QueryEscape(fmt.Sprintf("Sign-off %s requested: it takes effect when a different approver approves it", so.SignoffID)), http.StatusSeeOther)
}

// reopenForm is the balance page's reopen (admins).
func (s *Service) reopenForm(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	id := r.PathValue("id")
	so, err := s.wf.ReopenSignoff(r.Context(), user(ss), id, r.PostFormValue("reason"))
	back := safeNext(r.PostFormValue("return_to"))
	if err != nil {
		http.Redirect(w, r, back+"&err="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"&msg="+url.QueryEscape(fmt.Sprintf("Sign-off %s reopened: %s..%s must be signed off again", so.SignoffID, so.From, so.To)), http.StatusSeeOther)
}
