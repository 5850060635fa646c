package ingestor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// writeLedgerCSV writes n canonical ledger rows spread over 500 accounts.
func writeLedgerCSV(w io.Writer, n int, run string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(bw, "%s-%d,DE%020d,EUR,2026-%02d-%02d,%d.%02d,INV-2026-%07d,Customer %d Ltd,payment for order %d\n",
			run, i, i%500, 1+i%12, 1+i%28, (i*7919)%100000-50000, i%100, i, i%977, i)
	}
	return bw.Flush()
}

// BenchmarkIngestCSV measures a generated 1,000,000-row ledger CSV through
// the ingestor into the real Kafka broker (KAFKA_BROKERS): parse, Avro
// encode, produce in one transaction, commit.
//
//	scripts/bench.sh BenchmarkIngestCSV
func BenchmarkIngestCSV(b *testing.B) {
	brokers := testenv.Kafka(b)
	const rows = 1_000_000
	inbox := b.TempDir()
	run := fmt.Sprint(time.Now().UnixNano())
	cfg := Defaults()
	cfg.Kafka.Brokers, cfg.Kafka.Partitions, cfg.TransactionalID, cfg.Inbox, cfg.ConsumeEvents = brokers, 4, "bench-"+run, inbox, false
	cfg.MaxFileSize, cfg.TempDir, cfg.TransactionTimeout = 4<<30, b.TempDir(), 10*time.Minute
	ctx := context.Background()
	s, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := os.MkdirAll(filepath.Join(inbox, "ledger"), 0o755); err != nil {
		b.Fatal(err)
	}
	var bytes int64
	i := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		i++
		name := fmt.Sprintf("ledger/bench-%d.csv", i)
		f, err := os.Create(filepath.Join(inbox, name))
		if err != nil {
			b.Fatal(err)
		}
		if err := writeLedgerCSV(f, rows, fmt.Sprintf("%s-%d", run, i)); err != nil {
			b.Fatal(err)
		}
		st, _ := f.Stat()
		bytes += st.Size()
		f.Close()
		b.StartTimer()
		res, err := s.IngestInboxFile(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		if res.Outcome != record.OutcomeIngested || res.Records != rows {
			b.Fatalf("outcome %+v", res)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows*i)/secs, "records/s")
	b.ReportMetric(float64(bytes)/secs/1e6, "MB/s")
}
