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
	s.rules = &rulesState{topic: t, replays: make(chan struct{}, 1)}
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
	next := int64(1)
	if l := s.rules.topic.Latest(); l != nil {
		if l.ProposalID == p.ProposalID {
			return nil // published before a stop; the reader marked it
		}
		next = l.Version + 1
	}
	rs := &record.RuleSet{Version: next, YAML: p.YAML, Aliases: slices.Clone(p.Aliases), Author: p.Author, Approver: approver,
		Comment: p.Comment, ActivatedAt: time.Now().UTC().Truncate(time.Millisecond), ProposalID: p.ProposalID}
	if err := s.rules.topic.Publish(ctx, rs); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.rules.topic.WaitFor(wctx, next); err != nil {
		return err
	}
	s.log.Info("rule version published", "version", next, "proposal_id", p.ProposalID, "author", p.Author, "approver", approver)
	return nil
}
