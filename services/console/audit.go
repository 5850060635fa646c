package console

import (
	"net/http"
	"strconv"

	"github.com/openrecon/recon/internal/casestore"
)

// The audit chain, as a page and API.

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
