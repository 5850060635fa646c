package matcher

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/rules"
)

// TestRuleVersions: on real Kafka and Redis, the matcher seeds version 1
// from its rules, switches to a version published on recon.rules at a
// batch boundary, stamps every match with the version that decided it,
// stores the version with the partition's offsets, keeps deciding with it
// after a restart (its own rules file notwithstanding), and refuses a
// version that does not compile, the previous one deciding on.
func TestRuleVersions(t *testing.T) {
	l := liveServers(t, "rules", 3*time.Minute)
	ctx := l.ctx
	pair := func(ref string, cents int64) {
		for _, side := range []record.Side{record.Bank, record.Ledger} {
			x := tx(ref+"-"+string(side), side, ref, "", cents, 2, false)
			if err := l.cl.ProduceSync(ctx, l.txRecord(t, x)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	mc, err := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	if err != nil {
		t.Fatal(err)
	}
	matches := func(n int) map[string]*record.Match {
		t.Helper()
		byRef := map[string]*record.Match{}
		for ctx.Err() == nil {
			for _, r := range readAll(t, l.kc, l.kc.Topic(kafka.TopicMatches)) {
				m, err := mc.Decode(ctx, r.Value)
				if err != nil {
					t.Fatal(err)
				}
				byRef[m.Bank[0].Reference] = m
			}
			if len(byRef) >= n {
				return byRef
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("only %d of %d matches", len(byRef), n)
		return nil
	}
	run := func(cfg Config) (*Service, func()) {
		m, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(), Redis: l.rdb})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(rctx) }()
		return m, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	waitVersion := func(m *Service, v int64) {
		t.Helper()
		for m.active.Load().version != v {
			if ctx.Err() != nil {
				t.Fatalf("the matcher never took version %d", v)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	m, stop := run(l.config())
	pair("INV-1", 1000)
	if got := matches(1)["INV-1"]; got.Rule != "exact" || got.RuleVersion != 1 {
		t.Fatalf("first match: rule %s, version %d; want exact, 1 (the seeded version)", got.Rule, got.RuleVersion)
	}

	// Version 2: the same rules, the first one renamed.
	text, err := engine.DefaultConfig().Text()
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(text, "- name: exact\n", "- name: exact-v2\n", 1)
	if v2 == text {
		t.Fatal("the built-in rules have no rule named exact")
	}
	pub, err := rules.Open(ctx, l.kc, avro.Embedded{}, l.cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, &record.RuleSet{Version: 2, YAML: v2, Author: "editor", Approver: "approver", ActivatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitVersion(m, 2)
	pair("INV-2", 2000)
	if got := matches(2)["INV-2"]; got.Rule != "exact-v2" || got.RuleVersion != 2 {
		t.Fatalf("after version 2: rule %s, version %d", got.Rule, got.RuleVersion)
	}
	p := kafka.PartitionOf([]byte("DE89|EUR"), l.kc.Partitions)
	if st, err := m.store.Read(ctx, p); err != nil || st.RuleVersion != 2 {
		t.Fatalf("stored rule version %d (%v), want 2", st.RuleVersion, err)
	}
	stop()

	// A restart with the built-in rules in its settings decides with
	// version 2; version 3 does not compile and changes nothing.
	m, stop = run(l.config())
	defer stop()
	if v := m.active.Load().version; v != 2 {
		t.Fatalf("restarted matcher active version %d, want 2", v)
	}
	if err := pub.Publish(ctx, &record.RuleSet{Version: 3, YAML: "rules: [{name: x, reference: sometimes}]", Author: "editor", ActivatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for testutil.ToFloat64(m.m.ruleRefused) != 1 {
		if ctx.Err() != nil {
			t.Fatal("version 3 was never refused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pair("INV-3", 3000)
	if got := matches(3)["INV-3"]; got.Rule != "exact-v2" || got.RuleVersion != 2 {
		t.Fatalf("after the restart: rule %s, version %d", got.Rule, got.RuleVersion)
	}
	if g := testutil.ToFloat64(m.m.ruleVersion); g != 2 {
		t.Errorf("recon_matcher_rule_version %v, want 2", g)
	}
}
