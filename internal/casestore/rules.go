package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openrecon/recon/internal/record"
)

// Rules as governed data (DESIGN.md §10): every version of the rule set
// the matchers decided with, and the proposals to change it.
//
//	case_rule_versions   one row per version (kept forever), fed from recon.rules
//	case_rule_proposals  a proposed text, its replay's diff, its approval request

// KindRulesChange is the approval request of a rules proposal.
const KindRulesChange = "rules_change"

// Proposal statuses.
const (
	ProposalReplaying = "replaying" // the replay of its period runs
	ProposalReady     = "ready"     // replayed; its approval request waits for an approver
	ProposalFailed    = "failed"    // the replay failed (Error says why)
	ProposalApproved  = "approved"  // approved, about to be published
	ProposalRejected  = "rejected"
	ProposalWithdrawn = "withdrawn"
	ProposalActive    = "active" // published as Version
)

// Proposal is a proposed change of the rule set.
type Proposal struct {
	ProposalID  string          `json:"proposal_id"`
	BaseVersion int64           `json:"base_version"` // the version it was proposed against
	YAML        string          `json:"yaml"`
	Aliases     []record.Alias  `json:"aliases"`
	Comment     string          `json:"comment,omitempty"`
	From        string          `json:"from"` // the replayed period (booking dates)
	To          string          `json:"to"`
	Author      string          `json:"author"`
	Status      string          `json:"status"`
	Diff        json.RawMessage `json:"diff_summary,omitempty"`
	Samples     json.RawMessage `json:"samples,omitempty"`
	Error       string          `json:"error,omitempty"`
	ActionID    string          `json:"action_id,omitempty"` // its approval request, once ready
	Version     int64           `json:"version,omitempty"`   // the version it became, once active
	CreatedAt   time.Time       `json:"created_at"`
}

const proposalColumns = `proposal_id, base_version, yaml, aliases, comment, period_from, period_to, author, status, diff, samples,
	error, action_id, version, created_at`

func scanProposal(row interface{ Scan(...any) error }) (*Proposal, error) {
	p := &Proposal{}
	var aliases, diff, samples string
	var created tsValue
	if err := row.Scan(&p.ProposalID, &p.BaseVersion, &p.YAML, &aliases, &p.Comment, &p.From, &p.To, &p.Author, &p.Status,
		&diff, &samples, &p.Error, &p.ActionID, &p.Version, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(aliases), &p.Aliases); err != nil {
		return nil, fmt.Errorf("proposal %s: aliases: %w", p.ProposalID, err)
	}
	if diff != "" {
		p.Diff = json.RawMessage(diff)
	}
	if samples != "" {
		p.Samples = json.RawMessage(samples)
	}
	p.CreatedAt = created.t
	return p, nil
}

// Propose records a proposal (status replaying) and its audit entry; it
// sets p's id, status and time.
func (s *Store) Propose(ctx context.Context, p *Proposal) error {
	p.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	p.Status = ProposalReplaying
	if p.Aliases == nil {
		p.Aliases = []record.Alias{}
	}
	aliases, err := json.Marshal(p.Aliases)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		after, _ := json.Marshal(map[string]any{"base_version": p.BaseVersion, "hash": record.RulesHash(p.YAML, p.Aliases),
			"from": p.From, "to": p.To, "comment": p.Comment})
		if _, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(p.CreatedAt), User: p.Author, Event: "rules_propose", After: after},
			func(e *AuditEntry) {
				p.ProposalID = "rp-" + shortID(fmt.Sprint(e.Seq, "\x00rules\x00", p.Author))
				e.ActionID = p.ProposalID
			}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_rule_proposals (`+proposalColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '', 0, ?)`),
			p.ProposalID, p.BaseVersion, p.YAML, string(aliases), p.Comment, p.From, p.To, p.Author, p.Status, p.CreatedAt)
		return err
	})
}

// Replayed records the end of a proposal's replay: with an error it
// failed; else its diff and samples are kept and its approval request
// (KindRulesChange, by the author) is created.
func (s *Store) Replayed(ctx context.Context, id string, diff, samples []byte, replayErr error) (*Proposal, error) {
	p, err := s.Proposal(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Status != ProposalReplaying {
		return nil, fmt.Errorf("%w: proposal %s is %s, not replaying", ErrConflict, id, p.Status)
	}
	if replayErr != nil {
		p.Status, p.Error = ProposalFailed, replayErr.Error()
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE case_rule_proposals SET status = ?, error = ? WHERE proposal_id = ? AND status = ?`),
			p.Status, p.Error, id, ProposalReplaying); err != nil {
			return nil, err
		}
		return p, nil
	}
	a := &Action{Kind: KindRulesChange, Status: ActionPending, User: p.Author, Comment: p.Comment}
	err = s.act(ctx, a, false, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`UPDATE case_rule_proposals SET status = ?, diff = ?, samples = ?, action_id = ?
			WHERE proposal_id = ? AND status = ?`), ProposalReady, string(diff), string(samples), a.ActionID, id, ProposalReplaying)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Proposal(ctx, id)
}

// Proposal returns one proposal (ErrNotFound if there is none).
func (s *Store) Proposal(ctx context.Context, id string) (*Proposal, error) {
	return s.oneProposal(ctx, `proposal_id = ?`, id)
}

// ProposalOf returns the proposal whose approval request is actionID.
func (s *Store) ProposalOf(ctx context.Context, actionID string) (*Proposal, error) {
	return s.oneProposal(ctx, `action_id = ?`, actionID)
}

func (s *Store) oneProposal(ctx context.Context, where string, arg any) (*Proposal, error) {
	p, err := scanProposal(s.db.QueryRowContext(ctx, s.q(`SELECT `+proposalColumns+` FROM case_rule_proposals WHERE `+where), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: proposal %v", ErrNotFound, arg)
	}
	return p, err
}

// RuleProposals returns the latest rules proposals, newest first (status "" : any).
func (s *Store) RuleProposals(ctx context.Context, status string, limit int) ([]*Proposal, error) {
	where, args := "", []any{}
	if status != "" {
		where, args = " WHERE status = ?", append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+proposalColumns+` FROM case_rule_proposals`+where+
		fmt.Sprintf(` ORDER BY created_at DESC, proposal_id DESC LIMIT %d`, max(limit, 1))), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// decideProposal follows an approval request's decision in tx.
func (s *Store) decideProposal(ctx context.Context, tx *sql.Tx, a *Action) error {
	status := map[string]string{ActionApplied: ProposalApproved, ActionRejected: ProposalRejected, ActionWithdrawn: ProposalWithdrawn}[a.Status]
	if status == "" {
		return fmt.Errorf("rules proposal of %s: status %s", a.ActionID, a.Status)
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE case_rule_proposals SET status = ? WHERE action_id = ? AND status = ?`),
		status, a.ActionID, ProposalReady)
	return err
}

// SaveRuleVersion keeps a version read from (or published to) the rules
// topic; a version kept already is left as it is. A version of a
// proposal makes the proposal active as that version. A new version is an audit
// entry.
func (s *Store) SaveRuleVersion(ctx context.Context, rs *record.RuleSet) error {
	proposalID := rs.ProposalID
	aliases, err := json.Marshal(append([]record.Alias{}, rs.Aliases...))
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM case_rule_versions WHERE version = ?`), rs.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		after, _ := json.Marshal(map[string]any{"version": rs.Version, "hash": rs.Hash, "author": rs.Author, "approver": rs.Approver,
			"proposal_id": proposalID})
		user := rs.Approver
		if user == "" {
			user = rs.Author
		}
		if _, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(time.Now()), User: user, Event: "rules_activate", ActionID: proposalID,
			After: after}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_rule_versions (version, yaml, aliases, hash, author, approver, comment,
			activated_at, proposal_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), rs.Version, rs.YAML, string(aliases), rs.Hash, rs.Author,
			rs.Approver, rs.Comment, rs.ActivatedAt.UTC(), proposalID); err != nil {
			return err
		}
		if proposalID != "" {
			_, err := tx.ExecContext(ctx, s.q(`UPDATE case_rule_proposals SET status = ?, version = ? WHERE proposal_id = ?`),
				ProposalActive, rs.Version, proposalID)
			return err
		}
		return nil
	})
}

const versionColumns = `version, yaml, aliases, hash, author, approver, comment, activated_at, proposal_id`

// RuleVersion is a kept version.
type RuleVersion struct {
	record.RuleSet
}

func scanVersion(row interface{ Scan(...any) error }) (*RuleVersion, error) {
	v := &RuleVersion{}
	var aliases string
	var at tsValue
	if err := row.Scan(&v.Version, &v.YAML, &aliases, &v.Hash, &v.Author, &v.Approver, &v.Comment, &at, &v.ProposalID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(aliases), &v.Aliases); err != nil {
		return nil, fmt.Errorf("rule version %d: aliases: %w", v.Version, err)
	}
	v.ActivatedAt = at.t
	return v, nil
}

// RuleVersions returns every kept version, newest first.
func (s *Store) RuleVersions(ctx context.Context) ([]*RuleVersion, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+versionColumns+` FROM case_rule_versions ORDER BY version DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*RuleVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// GetRuleVersion returns version v (0: the newest; ErrNotFound when none).
func (s *Store) GetRuleVersion(ctx context.Context, v int64) (*RuleVersion, error) {
	q, args := `SELECT `+versionColumns+` FROM case_rule_versions ORDER BY version DESC LIMIT 1`, []any{}
	if v > 0 {
		q, args = s.q(`SELECT `+versionColumns+` FROM case_rule_versions WHERE version = ?`), []any{v}
	}
	rv, err := scanVersion(s.db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: rule version %d", ErrNotFound, v)
	}
	return rv, err
}
