package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/learn"
	"github.com/openrecon/recon/internal/reconcile"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow"
)

// Rules: the active version, its history, proposals and their replays,
// as pages and API (DESIGN.md §10).

func (s *Service) apiRules(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	rs, err := s.activeRules(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

// versionSummary is a version without its text (the history's rows).
type versionSummary struct {
	Version     int64  `json:"version"`
	Hash        string `json:"hash"`
	Author      string `json:"author"`
	Approver    string `json:"approver"`
	Comment     string `json:"comment,omitempty"`
	ActivatedAt string `json:"activated_at"`
	ProposalID  string `json:"proposal_id,omitempty"`
	Aliases     int    `json:"aliases"`
}

func summarize(v *casestore.RuleVersion) versionSummary {
	return versionSummary{Version: v.Version, Hash: v.Hash, Author: v.Author, Approver: v.Approver, Comment: v.Comment,
		ActivatedAt: v.ActivatedAt.UTC().Format("2006-01-02T15:04:05Z"), ProposalID: v.ProposalID, Aliases: len(v.Aliases)}
}

func (s *Service) apiRuleVersions(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 1 {
			s.fail(w, undecodable("bad_version", "version %q: want a version number", q))
			return
		}
		v, err := s.store.GetRuleVersion(r.Context(), n)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	vs, err := s.store.RuleVersions(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	items := make([]versionSummary, len(vs))
	for i, v := range vs {
		items[i] = summarize(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Service) apiPropose(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	var req workflow.ProposalRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return
	}
	p, err := s.wf.Propose(r.Context(), user(ss), req)
	var pe *workflow.ProblemsError
	if errors.As(err, &pe) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": pe.Error(), "code": "invalid_rules", "problems": pe.Problems})
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"proposal_id": p.ProposalID, "status": p.Status})
}

func (s *Service) apiProposal(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	p, err := s.store.Proposal(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Service) apiSuggestions(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	kind := r.URL.Query().Get("kind")
	if kind != "" && kind != learn.KindAlias && kind != "rule" {
		s.fail(w, undecodable("bad_kind", "kind %q: want alias or rule", kind))
		return
	}
	items, err := s.suggestions(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []learn.Suggestion{}
	for _, sg := range items {
		if kind == "" || sg.Kind == kind {
			out = append(out, sg)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Service) apiDecideSuggestion(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	var body struct {
		Decision string `json:"decision"`
		Comment  string `json:"comment"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return
	}
	rs, p, err := s.decideSuggestion(r.Context(), user(ss), r.PathValue("id"), body.Decision, strings.TrimSpace(body.Comment))
	if err != nil {
		s.fail(w, err)
		return
	}
	out := map[string]any{"suggestion_id": r.PathValue("id"), "status": casestore.SuggestionRejected}
	if rs != nil {
		out["status"], out["version"] = casestore.SuggestionAccepted, rs.Version
	}
	if p != nil {
		out["status"], out["proposal_id"] = casestore.SuggestionAccepted, p.ProposalID
	}
	writeJSON(w, http.StatusOK, out)
}

// Pages.

// suggestionForm is the rules page's accept or reject (admins).
func (s *Service) suggestionForm(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	id := r.PathValue("id")
	rs, p, err := s.decideSuggestion(r.Context(), user(ss), id, r.PostFormValue("decision"), strings.TrimSpace(r.PostFormValue("comment")))
	if err != nil {
		if _, _, msg, ok := refusal(err); ok {
			http.Redirect(w, r, "/rules?err="+url.QueryEscape(msg)+"#suggestions", http.StatusSeeOther)
			return
		}
		s.pageFail(w, r, err)
		return
	}
	msg := "Suggestion " + id + " rejected"
	switch {
	case rs != nil:
		msg = fmt.Sprintf("Alias accepted: version %d decides with it", rs.Version)
	case p != nil:
		http.Redirect(w, r, "/rules/proposals/"+p.ProposalID+"?msg="+url.QueryEscape("Proposal "+p.ProposalID+" made from the suggestion: its replay runs; then a different approver decides it"), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/rules?msg="+url.QueryEscape(msg)+"#suggestions", http.StatusSeeOther)
}

// counts are a diff summary's totals (the proposals table).
type counts struct{ MatchesGained, MatchesLost, BreaksGained, BreaksLost int }

// diffCounts totals a stored diff summary (nil: none yet).
func diffCounts(raw json.RawMessage) *counts {
	if len(raw) == 0 {
		return nil
	}
	var d reconcile.DiffSummary
	if json.Unmarshal(raw, &d) != nil {
		return nil
	}
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	return &counts{sum(d.Matches.Gained), sum(d.Matches.Lost), sum(d.Breaks.Gained), sum(d.Breaks.Lost)}
}

// requestPage sends the approvals page's link of a rules change to its
// proposal.
func (s *Service) requestPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	p, err := s.store.ProposalOf(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/rules/proposals/"+p.ProposalID, http.StatusSeeOther)
}

// ruleRow is one rule of the waterfall, described for people.
type ruleRow struct {
	Order                                           int
	Name, Reference, Amount, Date, Counterparty     string
	Cardinality, Confidence, Action, Notes, Comment string
}

// waterfall describes a rules text's rules ("" rows when it does not
// parse).
func waterfall(text string) ([]ruleRow, error) {
	c, err := engine.ParseConfig([]byte(text), "rules")
	if err != nil {
		return nil, err
	}
	rows := make([]ruleRow, len(c.Rules))
	for i, r := range c.Rules {
		row := ruleRow{Order: i + 1, Name: r.Name, Reference: r.Reference, Cardinality: r.Cardinality,
			Confidence: fmt.Sprintf("%d / %d", r.Confidence, r.MinConfidence), Action: r.Action}
		if r.KeyPrefix != "" {
			row.Reference += " (" + r.KeyPrefix + " keys only)"
		}
		var amt []string
		if r.Amount.Absolute != "" && r.Amount.Absolute != "0" {
			amt = append(amt, "± "+r.Amount.Absolute)
		}
		if r.Amount.Percent != "" && r.Amount.Percent != "0" {
			amt = append(amt, "± "+r.Amount.Percent+" %")
		}
		if r.Amount.Fee != "" && r.Amount.Fee != "0" {
			amt = append(amt, "bank lower by up to "+r.Amount.Fee)
		}
		if r.Amount.FeeShare != "" {
			amt = append(amt, "fee ≤ "+r.Amount.FeeShare+" % of the amount")
		}
		if r.Amount.ProposeAbove != "" {
			amt = append(amt, "proposed above "+r.Amount.ProposeAbove+" %")
		}
		if r.FXRates {
			amt = append(amt, "original amount at the day's rate")
		}
		row.Amount = "equal"
		if len(amt) > 0 {
			row.Amount = strings.Join(amt, "; ")
		}
		unit := "days"
		if r.Date.BusinessDays {
			unit = "business days"
		}
		row.Date = fmt.Sprintf("−%d / +%d %s", r.Date.Before, r.Date.After, unit)
		if r.Counterparty.MinSimilarity > 0 {
			row.Counterparty = fmt.Sprintf("≥ %d %% similar", r.Counterparty.MinSimilarity)
		}
		var notes []string
		for _, n := range []struct {
			on   bool
			text string
		}{{r.LateOnly, "only at the close"}, {r.UniqueAmount, "unique amount"}, {r.WholeGroup, "whole payout group"},
			{r.Expand == "counterparty", "completed by counterparty"}, {r.Variance != "", "difference named " + r.Variance}} {
			if n.on {
				notes = append(notes, n.text)
			}
		}
		if r.Cardinality != "1:1" && r.MaxCandidates > 0 {
			notes = append(notes, fmt.Sprintf("up to %d candidates", r.MaxCandidates))
		}
		row.Notes = strings.Join(notes, "; ")
		rows[i] = row
	}
	return rows, nil
}

// ruleSuggestion is a rule suggestion on the rules page.
type ruleSuggestion struct {
	learn.Suggestion
	Counts *counts
	Replay string // "" once replayed; replaying, or failed and why
}

// rulesData is the rules page.
type rulesData struct {
	Active    *casestore.RuleVersion
	Rules     []ruleRow
	Versions  []versionSummary
	Proposals []*casestore.Proposal
	// What people's matches suggest (CanDecide: an admin).
	Aliases     []learn.Suggestion
	RuleChanges []ruleSuggestion
	MinEvidence int
	CanDecide   bool
	CanEdit     bool
	// The proposal form: its text and period, and what was wrong with it.
	Text, Comment, From, To string
	Problems                []engine.Problem
}

func (s *Service) rulesPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	s.renderRules(w, r, ss, http.StatusOK, nil)
}

// renderRules shows the rules page; form, when not nil, is a refused
// proposal to show again with its problems.
func (s *Service) renderRules(w http.ResponseWriter, r *http.Request, ss *casestore.Session, code int, form *rulesData) {
	ctx := r.Context()
	d := rulesData{CanEdit: has(ss, RoleEditor, RoleAdmin), CanDecide: has(ss, RoleAdmin), MinEvidence: s.cfg.AliasMinEvidence}
	active, err := s.store.GetRuleVersion(ctx, 0)
	if err != nil && !errors.Is(err, casestore.ErrNotFound) {
		s.pageFail(w, r, err)
		return
	}
	if active != nil {
		d.Active = active
		d.Text = active.YAML
		if d.Rules, err = waterfall(active.YAML); err != nil {
			s.pageFail(w, r, err)
			return
		}
	}
	vs, err := s.store.RuleVersions(ctx)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	for _, v := range vs {
		d.Versions = append(d.Versions, summarize(v))
	}
	if d.Proposals, err = s.store.RuleProposals(ctx, "", 20); err != nil {
		s.pageFail(w, r, err)
		return
	}
	sgs, err := s.suggestions(ctx)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	for _, sg := range sgs {
		if sg.Kind == learn.KindAlias {
			d.Aliases = append(d.Aliases, sg)
			continue
		}
		row := ruleSuggestion{Suggestion: sg, Replay: "replaying"}
		switch x := sg.DiffSummary.(type) {
		case json.RawMessage:
			row.Counts, row.Replay = diffCounts(x), ""
		case map[string]string:
			row.Replay = x["status"]
			if x["error"] != "" {
				row.Replay += ": " + x["error"]
			}
		}
		d.RuleChanges = append(d.RuleChanges, row)
	}
	today := s.today()
	d.From, d.To = (today - 30).String(), today.String()
	if form != nil {
		d.Text, d.Comment, d.From, d.To, d.Problems = form.Text, form.Comment, form.From, form.To, form.Problems
	}
	s.render(w, r, code, "rules", view{S: ss, Title: "Matching rules", Nav: "rules", Data: d})
}

// proposeForm is the rules page's proposal (or a version page's rollback).
func (s *Service) proposeForm(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	req := workflow.ProposalRequest{YAML: r.PostFormValue("yaml"), Comment: r.PostFormValue("comment"), From: r.PostFormValue("from"),
		To: r.PostFormValue("to")}
	if v := r.PostFormValue("rollback_to"); v != "" {
		req.RollbackTo, _ = strconv.ParseInt(v, 10, 64)
	}
	if id := r.PostFormValue("remove_alias"); id != "" {
		// The active text without one of its aliases.
		active, err := s.activeRules(r.Context())
		if err != nil {
			s.pageFail(w, r, err)
			return
		}
		kept := slices.DeleteFunc(slices.Clone(active.Aliases), func(a record.Alias) bool { return a.AliasID == id })
		if len(kept) == len(active.Aliases) {
			http.Redirect(w, r, "/rules?err="+url.QueryEscape("no alias "+id+" in version "+strconv.FormatInt(active.Version, 10)), http.StatusSeeOther)
			return
		}
		req.YAML, req.Aliases = active.YAML, &kept
	}
	p, err := s.wf.Propose(r.Context(), user(ss), req)
	var pe *workflow.ProblemsError
	switch {
	case errors.As(err, &pe):
		s.renderRules(w, r, ss, http.StatusUnprocessableEntity, &rulesData{Text: req.YAML, Comment: req.Comment, From: req.From,
			To: req.To, Problems: pe.Problems})
		return
	case err != nil:
		if _, _, msg, ok := refusal(err); ok {
			http.Redirect(w, r, "/rules?err="+url.QueryEscape(msg), http.StatusSeeOther)
			return
		}
		s.pageFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/rules/proposals/"+p.ProposalID+"?msg="+url.QueryEscape("Proposal "+p.ProposalID+
		" recorded: its replay runs; then a different approver decides it"), http.StatusSeeOther)
}

// proposalData is a proposal's page.
type proposalData struct {
	P           *casestore.Proposal
	Summary     *reconcile.DiffSummary
	Samples     []reconcile.DiffLine
	Diff        []diffLine // the text against the version it was proposed on
	Rules       []ruleRow
	Action      *casestore.Action
	CanDecide   bool // an approver other than the author, the request pending
	CanWithdraw bool
	Polling     bool
}

func (s *Service) proposalPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	ctx := r.Context()
	p, err := s.store.Proposal(ctx, r.PathValue("id"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	d := proposalData{P: p, Polling: p.Status == casestore.ProposalReplaying}
	if len(p.Diff) > 0 {
		d.Summary = &reconcile.DiffSummary{}
		_ = json.Unmarshal(p.Diff, d.Summary)
	}
	if len(p.Samples) > 0 {
		_ = json.Unmarshal(p.Samples, &d.Samples)
	}
	base := ""
	if v, err := s.store.GetRuleVersion(ctx, p.BaseVersion); err == nil {
		base = v.YAML
	}
	d.Diff = lineDiff(base, p.YAML)
	d.Rules, _ = waterfall(p.YAML)
	if p.ActionID != "" {
		if d.Action, err = s.store.Action(ctx, p.ActionID); err != nil {
			s.pageFail(w, r, err)
			return
		}
		pending := d.Action.Status == casestore.ActionPending
		d.CanDecide = pending && has(ss, RoleApprover) && d.Action.User != ss.User
		d.CanWithdraw = pending && d.Action.User == ss.User
	}
	if r.Header.Get("HX-Request") != "" {
		var buf strings.Builder
		if err := pages["rule_proposal"].ExecuteTemplate(&buf, "proposal-body", view{S: ss, Data: d}); err != nil {
			s.pageFail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if !d.Polling {
			w.WriteHeader(286) // htmx: the replay ended, stop polling
		}
		_, _ = w.Write([]byte(buf.String()))
		return
	}
	s.render(w, r, http.StatusOK, "rule_proposal", view{S: ss, Title: "Rules proposal " + p.ProposalID, Nav: "rules", Data: d})
}

// versionData is a version's page.
type versionData struct {
	V        *casestore.RuleVersion
	Prev     int64
	Diff     []diffLine // against the version before
	Rules    []ruleRow
	CanEdit  bool
	From, To string
}

func (s *Service) versionPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	ctx := r.Context()
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 1 {
		errorPage(w, r, http.StatusNotFound, "Not found", "no rule version "+r.PathValue("n"))
		return
	}
	v, err := s.store.GetRuleVersion(ctx, n)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	d := versionData{V: v, CanEdit: has(ss, RoleEditor, RoleAdmin)}
	prev := ""
	if n > 1 {
		if pv, err := s.store.GetRuleVersion(ctx, n-1); err == nil {
			prev, d.Prev = pv.YAML, n-1
		}
	}
	d.Diff = lineDiff(prev, v.YAML)
	d.Rules, _ = waterfall(v.YAML)
	today := s.today()
	d.From, d.To = (today - 30).String(), today.String()
	s.render(w, r, http.StatusOK, "rule_version", view{S: ss, Title: fmt.Sprintf("Rule version %d", v.Version), Nav: "rules", Data: d})
}

// diffLine is a line of a text diff: "=" kept, "-" removed, "+" added.
type diffLine struct {
	Op   string
	Text string
}

// lineDiff is the line diff of a and b (a longest common subsequence;
// rule texts are a few hundred lines).
func lineDiff(a, b string) []diffLine {
	x, y := splitLines(a), splitLines(b)
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{"=", x[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return fold(out, 3)
}

// fold keeps ctx unchanged lines around each change and replaces longer
// unchanged runs by one "…" line saying how many lines it stands for.
func fold(d []diffLine, ctx int) []diffLine {
	var out []diffLine
	for i := 0; i < len(d); {
		if d[i].Op != "=" {
			out = append(out, d[i])
			i++
			continue
		}
		j := i
		for j < len(d) && d[j].Op == "=" {
			j++
		}
		keepHead, keepTail := ctx, ctx
		if i == 0 {
			keepHead = 0
		}
		if j == len(d) {
			keepTail = 0
		}
		if j-i <= keepHead+keepTail+1 {
			out = append(out, d[i:j]...)
		} else {
			out = append(out, d[i:i+keepHead]...)
			out = append(out, diffLine{"…", fmt.Sprintf("%d unchanged lines", j-i-keepHead-keepTail)})
			out = append(out, d[j-keepTail:j]...)
		}
		i = j
	}
	return out
}

func splitLines(s string) []string {
	s = record.CanonicalYAML(s)
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
