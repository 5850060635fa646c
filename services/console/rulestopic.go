package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/learn"
	"github.com/openrecon/recon/internal/reconcile"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/rules"
	"github.com/openrecon/recon/internal/workflow"
)

// Rules as governed data (DESIGN.md §10): the console keeps every version
// read from recon.rules in the case store, replays proposals against the
// warehouse's live decisions, and publishes an approved one as the next
// version.

// rulesState is the console's side of the rules topic.
type rulesState struct {
	topic     *rules.Topic
	publishMu sync.Mutex    // one version published at a time
	replays   chan struct{} // one replay at a time
	// sketches are the replays of rule suggestions, by suggestion id
	// (computed once per console run).
	sketchMu sync.Mutex
	sketches map[string]*sketchReplay
}

// sketchReplay is a rule suggestion's replay: running, or its diff
// summary or error.
type sketchReplay struct {
	done bool
	diff json.RawMessage
	err  string
}

// samplesPerKind bounds the diff lines a proposal keeps per change and
// kind (matches gained, matches lost, breaks gained, breaks lost).
const samplesPerKind = 5

// openRules reads the rules topic to its end into the case store.
func (s *Service) openRules(ctx context.Context, reg avro.Registry) error {
	t, err := rules.Open(ctx, s.cfg.Feed.Kafka, reg, s.prod, s.log)
	if err != nil {
		return err
	}
	t.OnVersion = func(rs *record.RuleSet) {
		if err := s.store.SaveRuleVersion(context.Background(), rs); err != nil {
			s.log.Error("keeping a rule version in the case store failed", "version", rs.Version, "err", err)
		}
	}
	s.rules = &rulesState{topic: t, replays: make(chan struct{}, 1), sketches: map[string]*sketchReplay{}}
	if err := t.CatchUp(ctx); err != nil {
		t.Close()
		return err
	}
	return nil
}

// workflowRules are the rules dependencies of the workflow.
func (s *Service) workflowRules() *workflow.RulesDeps {
	return &workflow.RulesDeps{Active: s.activeRules, Replay: func(p *casestore.Proposal) { go s.replay(context.Background(), p) },
		Publish: s.publishRules}
}

// activeRules is the version in force.
func (s *Service) activeRules(ctx context.Context) (*record.RuleSet, error) {
	v, err := s.store.GetRuleVersion(ctx, 0)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, &workflow.Error{Reason: workflow.Conflict, Code: "no_rules",
			Msg: "no rule version yet: the first matcher to start publishes version 1 from its rules"}
	}
	if err != nil {
		return nil, err
	}
	return &v.RuleSet, nil
}

// runRules reads new versions and finishes what a stop interrupted:
// replays still running and approved proposals not yet published.
func (s *Service) runRules(ctx context.Context) error {
	go s.rules.topic.Run(ctx)
	ps, err := s.store.RuleProposals(ctx, casestore.ProposalReplaying, 100)
	if err != nil {
		return err
	}
	for _, p := range ps {
		go s.replay(ctx, p)
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s.cfg.AliasAutoAccept {
			s.autoAccept(ctx)
		}
		ps, err := s.store.RuleProposals(ctx, casestore.ProposalApproved, 10)
		if err != nil && ctx.Err() == nil {
			s.log.Error("reading approved rules proposals", "err", err)
			continue
		}
		for _, p := range ps {
			a, err := s.store.Action(ctx, p.ActionID)
			if err == nil {
				err = s.publishRules(ctx, p, a.DecidedBy)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("publishing approved rules failed; retrying", "proposal_id", p.ProposalID, "err", err)
			}
		}
	}
}

// replay runs a proposal's replay and records its diff (or its failure).
func (s *Service) replay(ctx context.Context, p *casestore.Proposal) {
	select {
	case s.rules.replays <- struct{}{}:
		defer func() { <-s.rules.replays }()
	case <-ctx.Done():
		return
	}
	diff, samples, err := s.runReplay(ctx, p)
	if ctx.Err() != nil {
		return // a stop: replayed again at the next start
	}
	if err != nil {
		s.log.Warn("rules proposal replay failed", "proposal_id", p.ProposalID, "err", err)
	}
	if _, err := s.store.Replayed(context.WithoutCancel(ctx), p.ProposalID, diff, samples, err); err != nil {
		s.log.Error("recording a proposal's replay failed", "proposal_id", p.ProposalID, "err", err)
	}
}

// runReplay replays p's period with its rules against the live decisions.
func (s *Service) runReplay(ctx context.Context, p *casestore.Proposal) (diff, samples []byte, err error) {
	if s.cfg.WarehouseURL == "" {
		return nil, nil, errors.New("the console has no warehouse-url: a replay compares with the live decisions in the warehouse")
	}
	rs := &record.RuleSet{Version: p.BaseVersion + 1, YAML: p.YAML, Aliases: p.Aliases}
	cfg, err := rules.Compile(rs, engine.Config{Calendars: s.cfg.calendars, Rates: s.cfg.rates})
	if err != nil {
		return nil, nil, err
	}
	from, _ := record.ParseDate(p.From)
	to, _ := record.ParseDate(p.To)
	out, err := os.MkdirTemp("", "recon-replay-"+p.ProposalID+"-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(out)
	d, err := reconcile.Replay(ctx, reconcile.ReplayConfig{Live: s.cfg.Feed.Kafka, Registry: s.cfg.Feed.SchemaRegistry,
		DatabaseURL: s.cfg.WarehouseURL, Rules: cfg, From: from, To: to, Out: out, Progress: io.Discard, Log: s.log})
	if err != nil {
		return nil, nil, fmt.Errorf("replay %s to %s: %w", p.From, p.To, err)
	}
	if diff, err = json.Marshal(d.Summary); err != nil {
		return nil, nil, err
	}
	kept := map[string]int{}
	var lines []reconcile.DiffLine
	for _, l := range d.Lines {
		k := l.Change + " " + l.Kind
		if kept[k] < samplesPerKind {
			kept[k]++
			lines = append(lines, l)
		}
	}
	samples, err = json.Marshal(append([]reconcile.DiffLine{}, lines...))
	return diff, samples, err
}

// publishRules makes an approved proposal the next version on the rules
// topic and waits until the case store keeps it (the proposal active).
func (s *Service) publishRules(ctx context.Context, p *casestore.Proposal, approver string) error {
	s.rules.publishMu.Lock()
	defer s.rules.publishMu.Unlock()
	if cur, err := s.store.Proposal(ctx, p.ProposalID); err != nil || cur.Status != casestore.ProposalApproved {
		return err // published meanwhile, or not approved
	}
	if err := s.rules.topic.CatchUp(ctx); err != nil {
		return err
	}
	if l := s.rules.topic.Latest(); l != nil && l.ProposalID == p.ProposalID {
		return nil // published before a stop; the reader marked it
	}
	return s.publishNext(ctx, &record.RuleSet{YAML: p.YAML, Aliases: slices.Clone(p.Aliases), Author: p.Author, Approver: approver,
		Comment: p.Comment, ProposalID: p.ProposalID})
}

// publishNext publishes rs as the version after the latest one (the
// caller holds publishMu and has caught up) and waits until the case
// store keeps it.
func (s *Service) publishNext(ctx context.Context, rs *record.RuleSet) error {
	rs.Version = 1
	if l := s.rules.topic.Latest(); l != nil {
		rs.Version = l.Version + 1
	}
	rs.ActivatedAt = time.Now().UTC().Truncate(time.Millisecond)
	if err := s.rules.topic.Publish(ctx, rs); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.rules.topic.WaitFor(wctx, rs.Version); err != nil {
		return err
	}
	s.log.Info("rule version published", "version", rs.Version, "proposal_id", rs.ProposalID, "author", rs.Author, "approver", rs.Approver)
	return nil
}

// suggestions are what the matches people made or confirmed in the last
// learn-days suggest and nobody decided yet: aliases, and rule changes
// (each with its replay's diff once computed).
func (s *Service) suggestions(ctx context.Context) ([]learn.Suggestion, error) {
	ev, err := s.store.Evidence(ctx, s.now().AddDate(0, 0, -s.cfg.LearnDays))
	if err != nil {
		return nil, err
	}
	active, err := s.store.GetRuleVersion(ctx, 0)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, nil // nothing decides yet
	}
	if err != nil {
		return nil, err
	}
	decided, err := s.store.SuggestionDecisions(ctx)
	if err != nil {
		return nil, err
	}
	all := learn.Aliases(ev, s.cfg.AliasMinEvidence, active.Aliases)
	ruleSgs, err := learn.Rules(ev, s.cfg.AliasMinEvidence, active.YAML,
		engine.Config{Calendars: s.cfg.calendars, Rates: s.cfg.rates, Aliases: active.Aliases})
	if err != nil {
		s.log.Warn("some rule suggestions left out", "err", err)
	}
	all = append(all, ruleSgs...)
	out := all[:0]
	for _, sg := range all {
		if _, ok := decided[sg.SuggestionID]; ok {
			continue
		}
		if sg.Kind == learn.KindRule {
			sg.DiffSummary = s.sketchDiff(sg, active.Version)
		}
		out = append(out, sg)
	}
	return out, nil
}

// sketchDiff is a rule suggestion's replay diff, started in the
// background the first time it is asked for ({"status": "replaying"}
// until then).
func (s *Service) sketchDiff(sg learn.Suggestion, base int64) any {
	s.rules.sketchMu.Lock()
	defer s.rules.sketchMu.Unlock()
	if r, ok := s.rules.sketches[sg.SuggestionID]; ok {
		switch {
		case !r.done:
			return map[string]string{"status": "replaying"}
		case r.err != "":
			return map[string]string{"status": "failed", "error": r.err}
		}
		return r.diff
	}
	r := &sketchReplay{}
	s.rules.sketches[sg.SuggestionID] = r
	from, _ := record.ParseDate(sg.Rule.From)
	to, _ := record.ParseDate(sg.Rule.To)
	if int(to-from) >= workflow.MaxReplayDays {
		from = to - workflow.MaxReplayDays + 1
	}
	p := &casestore.Proposal{ProposalID: sg.SuggestionID, BaseVersion: base, YAML: sg.Rule.YAML, From: from.String(), To: to.String()}
	go func() {
		s.rules.replays <- struct{}{}
		defer func() { <-s.rules.replays }()
		diff, _, err := s.runReplay(context.Background(), p)
		s.rules.sketchMu.Lock()
		defer s.rules.sketchMu.Unlock()
		r.done, r.diff = true, diff
		if err != nil {
			r.err = err.Error()
		}
	}()
	return map[string]string{"status": "replaying"}
}

// decideSuggestion decides an open suggestion: an alias accepted (by an
// admin) is published at once in the next version; a rule change
// accepted (by a rules editor) becomes a proposal of the user, replayed
// and approved like any other; either is rejected by an admin or a rules
// editor. It returns the version published or the proposal made.
func (s *Service) decideSuggestion(ctx context.Context, u workflow.User, id, decision, comment string) (*record.RuleSet, *casestore.Proposal, error) {
	if decision != "accept" && decision != "reject" {
		return nil, nil, &workflow.Error{Reason: workflow.Invalid, Code: "bad_decision", Msg: fmt.Sprintf("decision %q: want accept or reject", decision)}
	}
	s.rules.publishMu.Lock()
	defer s.rules.publishMu.Unlock()
	open, err := s.suggestions(ctx)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(open, func(sg learn.Suggestion) bool { return sg.SuggestionID == id })
	if i < 0 {
		return nil, nil, &workflow.Error{Reason: workflow.NotFound, Code: "not_found", Msg: "no open suggestion " + id + " (decided already, or no longer supported by the evidence)"}
	}
	sg := open[i]
	isAdmin, isEditor := slices.Contains(u.Roles, RoleAdmin), slices.Contains(u.Roles, RoleEditor)
	switch {
	case sg.Kind == learn.KindAlias && decision == "accept" && !isAdmin:
		return nil, nil, &workflow.Error{Reason: workflow.Forbidden, Code: "forbidden", Msg: "accepting an alias needs the admin role"}
	case !isAdmin && !isEditor:
		return nil, nil, &workflow.Error{Reason: workflow.Forbidden, Code: "forbidden", Msg: "deciding a suggestion needs the admin or rules_editor role"}
	}
	detail, _ := json.Marshal(sg)
	d := casestore.SuggestionDecision{SuggestionID: id, Kind: sg.Kind, Status: casestore.SuggestionRejected, DecidedBy: u.Name,
		Comment: comment, Detail: detail}
	if decision == "reject" {
		return nil, nil, s.store.DecideSuggestion(ctx, d)
	}
	d.Status = casestore.SuggestionAccepted
	if sg.Kind == learn.KindRule {
		c := sg.Rule.Summary
		if comment != "" {
			c = comment + " (" + c + ")"
		}
		p, err := s.wf.Propose(ctx, u, workflow.ProposalRequest{YAML: sg.Rule.YAML, From: sg.Rule.From, To: sg.Rule.To, Comment: c})
		if err != nil {
			return nil, nil, err
		}
		return nil, p, s.store.DecideSuggestion(ctx, d)
	}
	if err := s.rules.topic.CatchUp(ctx); err != nil {
		return nil, nil, err
	}
	active, err := s.activeRules(ctx)
	if err != nil {
		return nil, nil, err
	}
	alias := sg.Alias
	alias.AcceptedBy = u.Name
	rs := &record.RuleSet{YAML: active.YAML, Aliases: append(slices.Clone(active.Aliases), alias), Approver: u.Name,
		Author:  fmt.Sprintf("learned from %d match(es) by %s", sg.Count, alias.LearnedFrom),
		Comment: fmt.Sprintf("alias %q = %q accepted (suggestion %s)", alias.BankName, alias.LedgerName, id)}
	if _, err := rules.Compile(rs, engine.Config{Calendars: s.cfg.calendars, Rates: s.cfg.rates}); err != nil {
		return nil, nil, err
	}
	// Published first: a stop in between leaves the alias in force and the
	// suggestion gone (a known alias is not suggested again).
	if err := s.publishNext(ctx, rs); err != nil {
		return nil, nil, err
	}
	return rs, nil, s.store.DecideSuggestion(ctx, d)
}

// autoAccept accepts the open alias suggestions (alias-auto-accept).
func (s *Service) autoAccept(ctx context.Context) {
	open, err := s.suggestions(ctx)
	if err != nil {
		s.log.Error("reading suggestions", "err", err)
		return
	}
	for _, sg := range open {
		if sg.Kind != learn.KindAlias {
			continue
		}
		auto := workflow.User{Name: "auto", Roles: []string{RoleAdmin}} // the setting stands for the admin
		if rs, _, err := s.decideSuggestion(ctx, auto, sg.SuggestionID, "accept", "alias-auto-accept"); err != nil {
			s.log.Error("accepting an alias automatically failed", "suggestion_id", sg.SuggestionID, "err", err)
		} else {
			s.log.Info("alias accepted automatically", "suggestion_id", sg.SuggestionID, "version", rs.Version)
		}
	}
}
