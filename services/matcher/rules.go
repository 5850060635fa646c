package matcher

import (
	"context"
	"fmt"
	"time"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/rules"
)

// ruleEngine is one version of the rule set, compiled.
type ruleEngine struct {
	version int64
	hash    string
	eng     *engine.Engine
}

// ruleWait bounds how long a partition claimed with a rule version this
// instance has not read yet waits for the rules topic to deliver it.
const ruleWait = time.Minute

// openRules reads the rules topic to its end, seeds it with the
// configured rules when it holds no version (DESIGN.md §10), and makes
// the newest version the active one.
func (s *Service) openRules(ctx context.Context, reg avro.Registry) error {
	t, err := rules.Open(ctx, s.cfg.Kafka, reg, s.prod, s.log)
	if err != nil {
		return err
	}
	text, err := s.cfg.Rules.Text()
	if err != nil {
		t.Close()
		return fmt.Errorf("rules: %w", err)
	}
	comment := "seeded from the built-in rule set"
	if s.cfg.RulesSource != "" {
		comment = "seeded from " + s.cfg.RulesSource
	}
	rs, err := t.Seed(ctx, text, s.cfg.Rules.Aliases, "matcher", comment, s.cfg.Now())
	if err != nil {
		t.Close()
		return err
	}
	if err := s.useRules(rs); err != nil {
		t.Close()
		return fmt.Errorf("rules: the active version %d on %s does not compile: %w", rs.Version, s.cfg.Kafka.Topic(kafka.TopicRules), err)
	}
	if own := record.RulesHash(text, s.cfg.Rules.Aliases); rs.Hash != own && s.cfg.RulesSource != "" {
		s.log.Warn("the rules topic holds a rule set already; it decides, not the rules file (change rules through the console)",
			"version", rs.Version, "hash", rs.Hash, "file", s.cfg.RulesSource, "file_hash", own)
	}
	t.OnVersion = func(rs *record.RuleSet) {
		if err := s.useRules(rs); err != nil {
			s.m.ruleRefused.Inc()
			s.log.Error("a new rule version does not compile here; the previous one keeps deciding", "version", rs.Version, "err", err)
		}
	}
	s.ruleTopic = t
	return nil
}

// useRules compiles rs and makes it the version partitions switch to.
func (s *Service) useRules(rs *record.RuleSet) error {
	cfg, err := rules.Compile(rs, s.cfg.Rules)
	if err != nil {
		return err
	}
	s.active.Store(&ruleEngine{version: rs.Version, hash: rs.Hash, eng: engine.New(cfg)})
	s.m.ruleVersion.Set(float64(rs.Version))
	s.log.Info("rule version active", "version", rs.Version, "hash", rs.Hash, "author", rs.Author, "approver", rs.Approver)
	return nil
}

// RuleVersion is the newest rule version this instance decides with
// (each partition switches to it at its next batch).
func (s *Service) RuleVersion() int64 { return s.active.Load().version }

// rulesFor returns the active rules if they are version v or later, else
// waits (up to ruleWait) for the rules topic to deliver v.
func (s *Service) rulesFor(ctx context.Context, v int64) (*ruleEngine, error) {
	if re := s.active.Load(); re.version >= v {
		return re, nil
	}
	wctx, cancel := context.WithTimeout(ctx, ruleWait)
	defer cancel()
	if _, err := s.ruleTopic.WaitFor(wctx, v); err != nil {
		return nil, err
	}
	if re := s.active.Load(); re.version >= v {
		return re, nil
	}
	return nil, fmt.Errorf("rules: version %d, which partitions decided with, does not compile here", v)
}

// switchRules moves partition p to the active rules at a batch boundary:
// its window is loaded again so that every record's keys are the new
// version's.
func (s *Service) switchRules(ctx context.Context, p int32, ps *partition) error {
	re, err := s.rulesFor(ctx, ps.rules.version)
	if err != nil || re == ps.rules {
		return err
	}
	old := ps.rules.version
	ps.rules = re
	if err := s.reload(ctx, p, ps); err != nil {
		return err
	}
	s.log.Info("partition switched rule version", "partition", p, "from", old, "to", re.version)
	return nil
}
