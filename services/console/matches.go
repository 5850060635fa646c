package console

import (
	"bytes"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow"
)

// Matches: proposals to confirm or reject, and the manual match page.

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
	RuleVersion int64                 `json:"rule_version"` // the rule set's version that decided it
}

func matchOut(m *casestore.Match) matchJSON {
	return matchJSON{MatchID: m.MatchID, Rule: m.Rule, Status: m.Status, Confidence: money.New(int64(m.Confidence), 4).String(),
		Account: m.Account, Currency: m.Currency, Difference: money.Format(m.Difference, m.Currency), Explanation: m.Explanation,
		DecidedAt: m.DecidedAt, Bank: m.Bank, Ledger: m.Ledger, RuleVersion: m.RuleVersion}
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
