package workflow

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
)

// RulesChange is the approval request of a rules proposal.
const RulesChange = Kind(casestore.KindRulesChange)

// RulesEditor may propose changes of the rule set (DESIGN.md §10).
const RulesEditor Role = "rules_editor"

// MaxReplayDays bounds a proposal's replay period.
const MaxReplayDays = 92

// ProposalRequest proposes a new version of the rule set (the body of
// POST /api/v1/rules/proposals and of the rules page's form).
type ProposalRequest struct {
	YAML string `json:"yaml"`
	// Aliases replace the active version's (nil: kept as they are).
	Aliases *[]record.Alias `json:"aliases,omitempty"`
	Comment string          `json:"comment"`
	From    string          `json:"from"` // the period replayed (booking dates)
	To      string          `json:"to"`
	// RollbackTo proposes an earlier version's text and aliases again
	// (YAML and Aliases are then not given).
	RollbackTo int64 `json:"rollback_to,omitempty"`
}

// RulesDeps is what rules proposals work with.
type RulesDeps struct {
	// Active is the version in force.
	Active func(ctx context.Context) (*record.RuleSet, error)
	// Replay replays a recorded proposal's period in the background and
	// records its end (casestore Replayed).
	Replay func(p *casestore.Proposal)
	// Publish makes an approved proposal the next version.
	Publish func(ctx context.Context, p *casestore.Proposal, approver string) error
}

// ProblemsError is a rules text refused with its problems.
type ProblemsError struct {
	Problems []engine.Problem
}

func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "the rules do not validate:\n" + strings.Join(lines, "\n")
}

// Propose records a proposal and starts its replay; its approval request
// is created when the replay is ready.
func (w *Workflow) Propose(ctx context.Context, u User, req ProposalRequest) (*casestore.Proposal, error) {
	if w.Rules == nil {
		return nil, refuse(Conflict, "no_rules_topic", "this console reads no rules topic: rules cannot be changed here")
	}
	if !u.has(RulesEditor, Admin) {
		return nil, refuse(Forbidden, "forbidden", "proposing rules needs the rules_editor role; you have %s", strings.Join(u.Roles, ", "))
	}
	active, err := w.Rules.Active(ctx)
	if err != nil {
		return nil, err
	}
	p := &casestore.Proposal{BaseVersion: active.Version, YAML: req.YAML, Aliases: active.Aliases, Comment: strings.TrimSpace(req.Comment),
		Author: u.Name}
	if req.RollbackTo > 0 {
		if req.YAML != "" || req.Aliases != nil {
			return nil, refuse(Invalid, "rollback_with_text", "a rollback names a version (rollback_to), not a text")
		}
		v, err := w.Store.GetRuleVersion(ctx, req.RollbackTo)
		if errors.Is(err, casestore.ErrNotFound) {
			return nil, refuse(NotFound, "not_found", "rule version %d not found", req.RollbackTo)
		}
		if err != nil {
			return nil, err
		}
		p.YAML, p.Aliases = v.YAML, v.Aliases
		if p.Comment == "" {
			p.Comment = "roll back to version " + strconv.FormatInt(v.Version, 10)
		}
	} else if req.Aliases != nil {
		p.Aliases = *req.Aliases
	}
	if strings.TrimSpace(p.YAML) == "" {
		return nil, refuse(Invalid, "no_yaml", "a proposal needs the rules text (yaml)")
	}
	p.YAML = record.CanonicalYAML(p.YAML)
	if problems := engine.Check([]byte(p.YAML)); len(problems) > 0 {
		return nil, &ProblemsError{Problems: problems}
	}
	if record.RulesHash(p.YAML, p.Aliases) == record.RulesHash(active.YAML, active.Aliases) {
		return nil, refuse(Conflict, "unchanged", "the proposal is version %d, which is in force", active.Version)
	}
	from, err := record.ParseDate(req.From)
	if err != nil {
		return nil, refuse(Invalid, "bad_period", "from %q: want the first booking date to replay (YYYY-MM-DD)", req.From)
	}
	to := from
	if req.To != "" {
		if to, err = record.ParseDate(req.To); err != nil {
			return nil, refuse(Invalid, "bad_period", "to %q: want the last booking date to replay (YYYY-MM-DD)", req.To)
		}
	}
	if to < from || int(to-from) >= MaxReplayDays {
		return nil, refuse(Invalid, "bad_period", "replay period %s to %s: want from ≤ to, at most %d days", from, to, MaxReplayDays)
	}
	p.From, p.To = from.String(), to.String()
	if err := w.Store.Propose(ctx, p); err != nil {
		return nil, err
	}
	w.count(string(RulesChange), p.Status)
	w.Log.Info("rules proposed", "proposal_id", p.ProposalID, "user", u.Name, "base_version", p.BaseVersion, "from", p.From, "to", p.To)
	w.Rules.Replay(p)
	return p, nil
}

// activate publishes an approved rules change.
func (w *Workflow) activate(ctx context.Context, a *casestore.Action) {
	p, err := w.Store.ProposalOf(ctx, a.ActionID)
	if err == nil {
		err = w.Rules.Publish(ctx, p, a.DecidedBy)
	}
	if err != nil {
		w.Log.Warn("approved rules not published yet; retrying in the background", "action_id", a.ActionID, "err", err)
	}
}
