package ingestor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/telemetry"
)

type metrics struct {
	files    *prometheus.CounterVec
	records  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	bytes    prometheus.Counter
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	dlqErrs  prometheus.Counter
	// statements refused: duplicate (received before) or conflict (differs
	// from the one received for its account and number).
	statements *prometheus.CounterVec
	// sqsMessages: SQS messages handled and deleted.
	sqsMessages prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	ns, sub := telemetry.Namespace, "ingest"
	m := &metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "files_total",
			Help: "Files handled, by detected format and outcome (ingested, duplicate, quarantined)."}, []string{"format", "outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "records_total",
			Help: "Transaction records produced, by side."}, []string{"side"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_records_total",
			Help: "Bad entries sent to the DLQ, by format."}, []string{"format"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bytes_total",
			Help: "Bytes of files read."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "file_duration_seconds",
			Help:    "Time to ingest one file, from first byte read to transaction commit.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}, []string{"format"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Transient failures retried, by stage (fetch, produce, sqs, sqs-delete, …)."}, []string{"stage"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refused_statements_total",
			Help: "Booked statements refused: duplicate (its content was received before, under another file name or header or in another format) or conflict (it differs from the statement received for its account and number: the file is quarantined)."}, []string{"kind"}),
		sqsMessages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sqs_messages_total",
			Help: "SQS messages of S3 notifications handled and deleted."}),
		dlqErrs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dlq_errors_total",
			Help: "Failures to publish to the DLQ (the file is retried)."}),
	}
	// Every series a dashboard or an alert reads exists from the start, at
	// zero, so "none yet" reads 0 rather than no data.
	for _, k := range []format.Kind{format.LedgerCSV, format.BankCSV, format.BAI2, format.MT940, format.CAMT} {
		m.rejected.WithLabelValues(string(k))
	}
	for _, stage := range []string{"fetch", "produce"} {
		m.retries.WithLabelValues(stage)
	}
	for _, k := range []string{"duplicate", "conflict"} {
		m.statements.WithLabelValues(k)
	}
	for _, side := range []record.Side{record.Bank, record.Ledger} {
		m.records.WithLabelValues(string(side))
	}
	for _, c := range []prometheus.Collector{m.files, m.records, m.rejected, m.bytes, m.duration, m.retries, m.dlqErrs, m.statements, m.sqsMessages} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
