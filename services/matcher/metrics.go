package matcher

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/record"
)

type metrics struct {
	records *prometheus.CounterVec
	matches *prometheus.CounterVec
	breaks  *prometheus.CounterVec
	// resolutions applied or refused, by action and outcome.
	resolutions *prometheus.CounterVec
	pending     *prometheus.GaugeVec
	latency     prometheus.Histogram
	// timeToBreak: from a break's booking date to when it was reported.
	timeToBreak prometheus.Histogram
	lag         *prometheus.GaugeVec
	fenced      prometheus.Counter
	paused      prometheus.Counter
	idleHeld    prometheus.Counter
	poison      prometheus.Counter
	misplaced   *prometheus.CounterVec
	// ruleVersion: the newest rule version this instance decides with;
	// ruleRefused: versions read from the rules topic that did not compile.
	ruleVersion prometheus.Gauge
	ruleRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_records_total",
			Help: "Input transactions decided by the matcher, by side."}, []string{"side"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_matches_total",
			Help: "Matches made, by rule."}, []string{"rule"}),
		breaks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_breaks_total",
			Help: "Breaks reported, by reason."}, []string{"reason"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_resolutions_total",
			Help: "People's resolutions the matcher decided, by action and outcome (applied, refused)."}, []string{"action", "outcome"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recon_pending_records",
			Help: "Records waiting for a counterpart in the windows this instance owns, by side."}, []string{"side"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recon_match_latency_seconds",
			Help:    "Time from ingestion of the later member of a match to the decision.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}),
		timeToBreak: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recon_time_to_break_seconds",
			Help:    "Time from a break's booking date (00:00 UTC) to when the matcher reported it: how soon an unmatched record reaches the break queue (buckets of 0.5 to 62 days).",
			Buckets: dayBuckets(0.5, 1, 2, 3, 4, 5, 7, 10, 14, 21, 31, 45, 62)}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recon_consumer_lag_records",
			Help: "Records the matcher's consumer group has yet to read, by topic."}, []string{"topic"}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_matcher_fenced_total",
			Help: "Batches refused because another instance had claimed the partition."}),
		paused: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_matcher_side_pauses_total",
			Help: "Times one side of a partition was paused to let the other side's unread backlog catch up (--max-lead)."}),
		idleHeld: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_matcher_idle_holds_total",
			Help: "Ticks at which a quiet partition's time was not moved to today because a transaction (a file being produced) was open on its input."}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_matcher_poison_records_total",
			Help: "Undecodable input records sent to the DLQ."}),
	}
	m.misplaced = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_misplaced_records_total",
		Help: "Input records on a partition other than the one Kafka's murmur2 partitioner gives their key (a producer with another partitioner), sent to the DLQ, by topic."}, []string{"topic"})
	m.ruleVersion = prometheus.NewGauge(prometheus.GaugeOpts{Name: "recon_matcher_rule_version",
		Help: "The version of the rule set (recon.rules) this instance switches its partitions to at their next batch."})
	m.ruleRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "recon_matcher_rule_versions_refused_total",
		Help: "Rule set versions read from recon.rules that did not compile here (the previous version kept deciding)."})
	// The series dashboards and alerts read exist from the start, at zero.
	for _, side := range []string{"bank", "ledger"} {
		m.records.WithLabelValues(side)
		m.pending.WithLabelValues(side)
	}
	for _, a := range record.Actions {
		m.resolutions.WithLabelValues(string(a), "applied")
		m.resolutions.WithLabelValues(string(a), "refused")
	}
	for _, c := range []prometheus.Collector{m.ruleVersion, m.ruleRefused, m.records, m.matches, m.breaks, m.resolutions, m.pending, m.latency, m.timeToBreak, m.lag, m.fenced, m.paused, m.idleHeld, m.poison, m.misplaced} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func dayBuckets(days ...float64) []float64 {
	out := make([]float64, len(days))
	for i, d := range days {
		out[i] = d * 86400
	}
	return out
}

// kafkaLag returns the group's lag per topic.
func kafkaLag(ctx context.Context, cl *kgo.Client, group string) (map[string]int64, error) {
	lags, err := kadm.NewClient(cl).Lag(ctx, group)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, gl := range lags {
		for t, ps := range gl.Lag {
			for _, l := range ps {
				if l.Lag > 0 {
					out[t] += l.Lag
				}
			}
			if _, ok := out[t]; !ok {
				out[t] = 0
			}
		}
	}
	return out, nil
}
