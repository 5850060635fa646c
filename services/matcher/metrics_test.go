package matcher

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/openrecon/recon/internal/testenv"
)

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.records.WithLabelValues("bank").Inc()
	m.matches.WithLabelValues("exact").Inc()
	m.breaks.WithLabelValues("unmatched").Inc()
	m.pending.WithLabelValues("bank").Set(3)
	m.latency.Observe(0.01)
	m.timeToBreak.Observe(4 * 86400)
	m.lag.WithLabelValues("recon.bank.transactions").Set(0)
	m.fenced.Inc()
	m.poison.Inc()
	testenv.LintMetrics(t, reg)
	for _, name := range []string{"recon_records_total", "recon_matches_total", "recon_breaks_total", "recon_pending_records",
		"recon_match_latency_seconds", "recon_time_to_break_seconds", "recon_consumer_lag_records"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("metric %s missing (%v)", name, err)
		}
	}
}
