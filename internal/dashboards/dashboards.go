// Package dashboards builds recon's Grafana dashboards as code
// (grafana-foundation-sdk): an overview and one per role. `go generate`
// writes them to deploy/grafana/dashboards; TestFilesUpToDate keeps the
// files and the code the same, and ops/prometheus_test.go evaluates every
// panel's query against a real Prometheus scraping `recon up --demo`.
package dashboards

//go:generate go run ./gen ../../deploy/grafana/dashboards

import (
	"encoding/json"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Query is one target of a panel.
type Query struct {
	Expr, Legend string
}

// Panel is a panel: a time series or a single stat.
type Panel struct {
	Title, Description, Unit string
	Stat                     bool // a single figure (the last value) rather than a time series
	Queries                  []Query
}

// Board is a dashboard: its file name, uid, title and panels.
type Board struct {
	File, UID, Title, Description string
	Panels                        []Panel
}

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// rate is a per-second rate over Grafana's interval.
func rate(metric string) string { return "rate(" + metric + "[$__rate_interval])" }

// Boards are recon's dashboards.
func Boards() []Board {
	// Shared panels.
	records := Panel{Title: "Records in", Description: "Transaction records the ingestor produced, per second, by side.", Unit: "ops",
		Queries: []Query{{"sum by (side) (" + rate("recon_ingest_records_total") + ")", "{{side}}"}}}
	matchRate := Panel{Title: "Match rate (last hour)", Stat: true, Unit: "percentunit",
		Description: "Share of the records the matcher decided in the last hour that did not become breaks.",
		Queries:     []Query{{"1 - sum(increase(recon_breaks_total[1h])) / sum(increase(recon_records_total[1h]))", "match rate"}}}
	matches := Panel{Title: "Matches by rule", Description: "Matches made per second, by the rule that made them.", Unit: "ops",
		Queries: []Query{{"sum by (rule) (" + rate("recon_matches_total") + ")", "{{rule}}"}}}
	breaks := Panel{Title: "Breaks by reason", Description: "Breaks reported per second, by reason.", Unit: "ops",
		Queries: []Query{{"sum by (reason) (" + rate("recon_breaks_total") + ")", "{{reason}}"}}}
	pending := Panel{Title: "Pending records", Description: "Records waiting in the matchers' windows for a counterpart, by side.", Unit: "short",
		Queries: []Query{{"sum by (side) (recon_pending_records)", "{{side}}"}}}
	latency := Panel{Title: "Ingest to decision", Unit: "s",
		Description: "Time from the ingestion of a match's later member to the decision: median and 99th percentile.",
		Queries: []Query{{"histogram_quantile(0.5, sum by (le) (" + rate("recon_match_latency_seconds_bucket") + "))", "p50"},
			{"histogram_quantile(0.99, sum by (le) (" + rate("recon_match_latency_seconds_bucket") + "))", "p99"}}}
	lag := Panel{Title: "Matcher lag", Description: "Records the matchers' consumer group has yet to read, by topic.", Unit: "short",
		Queries: []Query{{"sum by (topic) (recon_consumer_lag_records)", "{{topic}}"}}}
	loaderLag := Panel{Title: "Loader lag", Description: "Records of each output topic not yet in the warehouse.", Unit: "short",
		Queries: []Query{{"sum by (topic) (recon_loader_lag_records)", "{{topic}}"}}}
	dlq := Panel{Title: "Dead letters (last hour)", Description: "Records sent to recon.dlq in the last hour, by the role that sent them.", Unit: "short",
		Queries: []Query{{"sum(increase(recon_ingest_rejected_records_total[1h]))", "ingestor: bad entries"},
			{"sum(increase(recon_matcher_poison_records_total[1h]))", "matcher: undecodable"},
			{"sum(increase(recon_misplaced_records_total[1h]))", "matcher: wrong partition"},
			{"sum(increase(recon_loader_poison_records_total[1h]))", "loader: undecodable"}}}
	notifyFail := Panel{Title: "Notification failures", Description: "Failed deliveries per second, by channel (retried).", Unit: "ops",
		Queries: []Query{{"sum by (channel) (" + rate("recon_notification_failures_total") + ")", "{{channel}}"}}}
	statements := Panel{Title: "Statement issues", Stat: true, Unit: "short",
		Description: "What the console's last sweep found from each account's latest statement up to yesterday: business days without a statement, openings that differ, gaps in the numbers.",
		Queries:     []Query{{"sum by (kind) (recon_statement_issues)", "{{kind}}"}}}

	return []Board{
		{File: "recon-overview.json", UID: "recon-overview", Title: "recon: overview",
			Description: "Continuous bank reconciliation: what comes in, what matches, what breaks, and whether every stage keeps up.",
			Panels:      []Panel{matchRate, statements, records, matches, breaks, pending, latency, lag, loaderLag, dlq, notifyFail}},
		{File: "recon-ingestor.json", UID: "recon-ingestor", Title: "recon: ingestor", Description: "Files and records in.",
			Panels: []Panel{records,
				{Title: "Files by outcome", Unit: "short", Description: "Files handled in the last hour, by outcome (ingested, duplicate, quarantined).",
					Queries: []Query{{"sum by (outcome) (increase(recon_ingest_files_total[1h]))", "{{outcome}}"}}},
				{Title: "Bytes read", Unit: "Bps", Queries: []Query{{rate("recon_ingest_bytes_total"), "bytes"}}},
				{Title: "Time per file", Unit: "s", Description: "From first byte read to the Kafka commit: 99th percentile by format.",
					Queries: []Query{{"histogram_quantile(0.99, sum by (le, format) (" + rate("recon_ingest_file_duration_seconds_bucket") + "))", "{{format}}"}}},
				{Title: "Retries", Unit: "ops", Queries: []Query{{"sum by (stage) (" + rate("recon_ingest_retries_total") + ")", "{{stage}}"}}},
				{Title: "Statements refused", Unit: "short", Description: "Booked statements refused in the last day: duplicates, and conflicts (the file quarantined).",
					Queries: []Query{{"sum by (kind) (increase(recon_ingest_refused_statements_total[1d]))", "{{kind}}"}}},
				dlq}},
		{File: "recon-matcher.json", UID: "recon-matcher", Title: "recon: matcher", Description: "Matching, windows, exactly-once.",
			Panels: []Panel{matchRate,
				{Title: "Records decided", Unit: "ops", Queries: []Query{{"sum by (side) (" + rate("recon_records_total") + ")", "{{side}}"}}},
				matches, breaks, pending, latency, lag,
				{Title: "Time to break", Unit: "s", Description: "From a break's booking date to its report: median and 90th percentile.",
					Queries: []Query{{"histogram_quantile(0.5, sum by (le) (" + rate("recon_time_to_break_seconds_bucket") + "))", "p50"},
						{"histogram_quantile(0.9, sum by (le) (" + rate("recon_time_to_break_seconds_bucket") + "))", "p90"}}},
				{Title: "Rule version", Stat: true, Unit: "none", Description: "The rule set version each matcher instance decides with.",
					Queries: []Query{{"max(recon_matcher_rule_version)", "version"}}},
				{Title: "Resolutions", Unit: "ops", Description: "People's resolutions the matcher decided, by action and outcome.",
					Queries: []Query{{"sum by (action, outcome) (" + rate("recon_resolutions_total") + ")", "{{action}} {{outcome}}"}}},
				{Title: "Fencing, pauses, held ticks", Unit: "short", Description: "In the last hour: batches fenced by another instance, sides paused for the other's backlog, ticks held by an open file.",
					Queries: []Query{{"sum(increase(recon_matcher_fenced_total[1h]))", "fenced"},
						{"sum(increase(recon_matcher_side_pauses_total[1h]))", "pauses"},
						{"sum(increase(recon_matcher_idle_holds_total[1h]))", "idle holds"},
						{"sum(increase(recon_matcher_rule_versions_refused_total[1h]))", "rule versions refused"}}}}},
		{File: "recon-loader.json", UID: "recon-loader", Title: "recon: loader", Description: "The warehouse keeping up.",
			Panels: []Panel{loaderLag,
				{Title: "Rows written", Unit: "ops", Queries: []Query{{"sum by (table) (" + rate("recon_loader_rows_total") + ")", "{{table}}"}}},
				{Title: "Batch time", Unit: "s", Queries: []Query{{"histogram_quantile(0.99, sum by (le) (" + rate("recon_loader_batch_duration_seconds_bucket") + "))", "p99"}}},
				{Title: "Failed batches (last hour)", Stat: true, Unit: "short", Queries: []Query{{"sum(increase(recon_loader_errors_total[1h]))", "failed"}}}}},
		{File: "recon-notifier.json", UID: "recon-notifier", Title: "recon: notifier", Description: "Breaks and escalations told.",
			Panels: []Panel{
				{Title: "Notifications", Unit: "short", Description: "Delivered in the last hour, by channel.",
					Queries: []Query{{"sum by (channel) (increase(recon_notifications_total[1h]))", "{{channel}}"}}},
				notifyFail,
				{Title: "Skipped", Unit: "short", Description: "Breaks not notified in the last hour (already told), by channel.",
					Queries: []Query{{"sum by (channel) (increase(recon_notifications_skipped_total[1h]))", "{{channel}}"}}},
				{Title: "Dead-lettered", Unit: "short", Description: "Deliveries given up in the last hour (refused, or out of attempts) and written to recon.dlq, by channel.",
					Queries: []Query{{"sum by (channel) (increase(recon_notifications_dead_lettered_total[1h]))", "{{channel}}"}}},
				{Title: "Queued", Unit: "short", Description: "Deliveries in the outbox: waiting for quiet hours, a digest, or their next attempt.",
					Queries: []Query{{"max(recon_notifications_queued)", "queued"}}},
				{Title: "Escalations told", Unit: "short", Queries: []Query{{"sum by (kind, level) (increase(recon_escalations_notified_total[1d]))", "{{kind}} level {{level}}"}}}}},
		{File: "recon-console.json", UID: "recon-console", Title: "recon: console", Description: "People's work and the console's health.",
			Panels: []Panel{statements,
				{Title: "Actions", Unit: "short", Description: "People's actions in the last day, by action and status.",
					Queries: []Query{{"sum by (action, status) (increase(recon_console_actions_total[1d]))", "{{action}} {{status}}"}}},
				{Title: "Requests", Unit: "reqps", Queries: []Query{{"sum by (code) (" + rate("recon_console_requests_total") + ")", "{{code}}"}}},
				{Title: "Request time", Unit: "s", Queries: []Query{{"histogram_quantile(0.99, sum by (le) (" + rate("recon_console_request_duration_seconds_bucket") + "))", "p99"}}}}},
	}
}

// Build is the board as Grafana's dashboard JSON.
func (b Board) Build() ([]byte, error) {
	d := dashboard.NewDashboardBuilder(b.Title).Uid(b.UID).Description(b.Description).Tags([]string{"recon"}).
		Refresh("30s").Time("now-6h", "now").Timezone(common.TimeZoneUtc).Editable().
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus"))
	for _, p := range b.Panels {
		if p.Stat {
			sp := stat.NewPanelBuilder().Title(p.Title).Description(p.Description).Unit(p.Unit).Datasource(ds).Height(6).Span(6).
				ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
			for _, q := range p.Queries {
				sp.WithTarget(prometheus.NewDataqueryBuilder().Expr(q.Expr).LegendFormat(q.Legend).Datasource(ds))
			}
			d.WithPanel(sp)
			continue
		}
		tp := timeseries.NewPanelBuilder().Title(p.Title).Description(p.Description).Unit(p.Unit).Datasource(ds).Height(8).Span(12).Min(0)
		for _, q := range p.Queries {
			tp.WithTarget(prometheus.NewDataqueryBuilder().Expr(q.Expr).LegendFormat(q.Legend).Datasource(ds))
		}
		d.WithPanel(tp)
	}
	built, err := d.Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(built, "", "  ")
	return append(out, '\n'), err
}

// PrometheusQuery is expr with Grafana's interval macros given a value
// Prometheus understands (what Grafana does before it sends a query).
func PrometheusQuery(expr, interval string) string {
	return strings.NewReplacer("$__rate_interval", interval, "$__interval", interval).Replace(expr)
}
