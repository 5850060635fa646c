package ingestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/kafkatest"
	"github.com/openrecon/recon/schemas"
)

const bucket = "recon-incoming"

// fakeS3 is an in-process S3-compatible server with one bucket.
func fakeS3(t *testing.T) (*httptest.Server, *s3.Client, S3Config) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	cfg := S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, AccessKey: "test", QuarantinePrefix: "quarantine/"}.WithSecretKey("test")
	st, err := newS3Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, st.cl, cfg
}

func putObject(t *testing.T, cl *s3.Client, key, body string) {
	t.Helper()
	if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// s3Notification builds an event exactly as S3 writes it (keys URL-encoded
// with '+' for spaces).
func s3Notification(keys ...string) []byte {
	var recs []string
	for i, k := range keys {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-03-02T08:15:3%d.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:X"},"requestParameters":{"sourceIPAddress":"10.0.0.1"},"responseElements":{"x-amz-request-id":"R%d","x-amz-id-2":"H"},"s3":{"s3SchemaVersion":"1.0","configurationId":"recon","bucket":{"name":%q,"ownerIdentity":{"principalId":"O"},"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":10,"eTag":"e%d","sequencer":"00%d"}}}`,
			i, i, bucket, bucket, url.QueryEscape(k), i, i))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)
}

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type harness struct {
	t       *testing.T
	brokers []string
	cl      *kgo.Client
	start   map[string]map[int32]int64
	codec   *avro.Codec[record.Transaction]
	fcodec  *avro.Codec[record.FileEvent]
}

func newHarness(t *testing.T, brokers []string) *harness {
	cl := kafkatest.Client(t, kafka.Config{Brokers: brokers, Partitions: 4})
	ctx := context.Background()
	h := &harness{t: t, brokers: brokers, cl: cl, start: map[string]map[int32]int64{}}
	h.codec, _ = avro.NewTransactionCodec(ctx, avro.Embedded{}, "x")
	h.fcodec, _ = avro.NewFileEventCodec(ctx, avro.Embedded{}, "x")
	h.mark()
	return h
}

var watched = []string{kafka.TopicBankTransactions, kafka.TopicLedgerTransactions, kafka.TopicDLQ, kafka.TopicFiles}

// mark remembers the current end offsets; read returns what came after.
func (h *harness) mark() {
	ends, err := kadm.NewClient(h.cl).ListEndOffsets(context.Background(), watched...)
	if err != nil {
		h.t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if h.start[o.Topic] == nil {
			h.start[o.Topic] = map[int32]int64{}
		}
		h.start[o.Topic][o.Partition] = o.Offset
	})
}

// read returns every committed record after the mark, per topic.
func (h *harness) read() map[string][]*kgo.Record {
	offsets := map[string]map[int32]kgo.Offset{}
	for t, ps := range h.start {
		offsets[t] = map[int32]kgo.Offset{}
		for p, o := range ps {
			offsets[t][p] = kgo.NewOffset().At(o)
		}
	}
	cl, err := kafka.NewClient(kafka.Config{Brokers: h.brokers}, kgo.ConsumePartitions(offsets), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(h.cl).ListEndOffsets(context.Background(), watched...)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]*kgo.Record{}
	remaining := map[string]bool{}
	for t, ps := range h.start {
		for p, o := range ps {
			if ends[t][p].Offset > o {
				remaining[fmt.Sprint(t, p)] = true
			}
		}
	}
	for len(remaining) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		f := cl.PollFetches(ctx)
		cancel()
		if f.Empty() {
			break // the rest are transaction markers or aborted records
		}
		f.EachRecord(func(r *kgo.Record) {
			end := ends[r.Topic][r.Partition].Offset
			if r.Offset < end {
				out[r.Topic] = append(out[r.Topic], r)
			}
			if r.Offset+2 >= end { // the last record before the commit marker
				delete(remaining, fmt.Sprint(r.Topic, r.Partition))
			}
		})
	}
	return out
}

// waitOutcomes waits until recon.files holds an outcome for each digest.
func (h *harness) waitOutcomes(digests ...string) map[string]*record.FileEvent {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got := map[string]*record.FileEvent{}
		for _, r := range h.read()[kafka.TopicFiles] {
			fe, err := h.fcodec.Decode(context.Background(), r.Value)
			if err != nil {
				h.t.Fatal(err)
			}
			got[fe.Digest] = fe
		}
		all := true
		for _, d := range digests {
			if got[d] == nil {
				all = false
			}
		}
		if all {
			return got
		}
		time.Sleep(300 * time.Millisecond)
	}
	h.t.Fatalf("no outcome for %v within 60s", digests)
	return nil
}

// skipOldEvents commits the group's offsets at the end of recon.file-events,
// so a test's ingestor does not replay earlier tests' events on a shared broker.
func (h *harness) skipOldEvents(group string) {
	adm := kadm.NewClient(h.cl)
	ends, err := adm.ListEndOffsets(context.Background(), kafka.TopicFileEvents)
	if err != nil {
		h.t.Fatal(err)
	}
	var offs kadm.Offsets = map[string]map[int32]kadm.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if _, err := adm.CommitOffsets(context.Background(), group, offs); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) produce(topic string, value []byte) {
	if err := h.cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

func startIngestor(t *testing.T, cfg Config, store objectStore) (*Service, *prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(ctx, cfg, Deps{Log: log, Metrics: reg, Store: store})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, reg, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func TestS3NotificationToTopics(t *testing.T) {
	brokers := testenv.Kafka(t)
	_, s3cl, s3cfg := fakeS3(t)
	run := fmt.Sprint(time.Now().UnixNano())
	bankCSV := "account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n" +
		"DE89370400440532013000,EUR,2026-03-02,2026-03-02,-1234.50,INV-" + run + ",BR1,ACME GmbH,rent\n" +
		"DE89370400440532013000,EUR,2026-03-02,,\"1,234.5x\",INV-2,BR2,X,bad amount\n" +
		"GB33BUKB20201555555555,GBP,2026-03-03,,99.99,R3,BR3,Y,\"quoted\nnewline\"\n"
	ledgerCSV := "id,account,currency,booking_date,amount,reference,counterparty,description\n" +
		"GL-" + run + ",DE89370400440532013000,EUR,2026-03-01,-1234.50,INV-" + run + ",ACME GmbH,rent March\n"
	putObject(t, s3cl, "bank/March 2026, stmt.csv", bankCSV)
	putObject(t, s3cl, "ledger/gl.csv", ledgerCSV)
	putObject(t, s3cl, "bank/mystery.bin", "%PDF-1.7 "+run)

	h := newHarness(t, brokers)
	cfg := Defaults()
	cfg.Kafka.Brokers, cfg.Kafka.Partitions, cfg.Group, cfg.TransactionalID = brokers, 4, "test-ingestor-"+run, "test-ingestor-"+run
	cfg.S3, cfg.MaxFileSize, cfg.TempDir = s3cfg, 1<<20, t.TempDir()
	h.skipOldEvents(cfg.Group)
	_, reg, stop := startIngestor(t, cfg, nil)
	defer stop()

	h.produce(kafka.TopicFileEvents, []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-02T08:00:00.000Z","Bucket":"recon-incoming","RequestId":"X","HostId":"Y"}`))
	h.produce(kafka.TopicFileEvents, s3Notification("bank/March 2026, stmt.csv", "ledger/gl.csv", "bank/mystery.bin"))
	bankDigest, ledgerDigest, binDigest := digestOf(bankCSV), digestOf(ledgerCSV), digestOf("%PDF-1.7 "+run)
	outcomes := h.waitOutcomes(bankDigest, ledgerDigest, binDigest)
	if o := outcomes[bankDigest]; o.Outcome != record.OutcomeIngested || o.Records != 2 || o.Rejected != 1 || o.Format != "bank-csv" || o.Key != "bank/March 2026, stmt.csv" {
		t.Errorf("bank outcome = %+v", o)
	}
	if o := outcomes[binDigest]; o.Outcome != record.OutcomeQuarantined || !strings.Contains(o.Reason, "unrecognised format") {
		t.Errorf("mystery outcome = %+v", o)
	}

	recs := h.read()
	check := func(topic string, want []string) {
		t.Helper()
		var got []string
		for _, r := range recs[topic] {
			if r.Value[0] != 0 || int(r.Value[4]) != schemas.EmbeddedIDs[schemas.Transaction] {
				t.Errorf("%s: value not Confluent-framed with schema id 1: % x", topic, r.Value[:5])
			}
			tx, err := h.codec.Decode(context.Background(), r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != tx.Key() {
				t.Errorf("key %q, record says %q", r.Key, tx.Key())
			}
			if want := kafka.Partitioner().ForTopic(topic).Partition(r, 4); int32(want) != r.Partition {
				t.Errorf("key %q on partition %d, murmur2 says %d", r.Key, r.Partition, want)
			}
			got = append(got, fmt.Sprintf("%s %s %s %s %s %s %d", tx.ID, tx.Account, tx.Currency, tx.Amount, tx.BookingDate, tx.Reference, tx.SourcePosition))
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", topic, got, want)
		}
	}
	check(kafka.TopicBankTransactions, []string{
		record.ID("b", bankDigest, 1, 0) + " DE89370400440532013000 EUR -1234.50 2026-03-02 INV-" + run + " 1",
		record.ID("b", bankDigest, 3, 0) + " GB33BUKB20201555555555 GBP 99.99 2026-03-03 R3 3",
	})
	check(kafka.TopicLedgerTransactions, []string{"GL-" + run + " DE89370400440532013000 EUR -1234.50 2026-03-01 INV-" + run + " 1"})

	var dlq []string
	for _, r := range recs[kafka.TopicDLQ] {
		hdr := map[string]string{}
		for _, h := range r.Headers {
			hdr[h.Key] = string(h.Value)
		}
		if hdr["recon.digest"] == bankDigest || hdr["recon.digest"] == binDigest {
			dlq = append(dlq, hdr["recon.stage"]+" "+hdr["recon.line"]+" "+hdr["recon.field"]+" "+string(r.Value))
		}
	}
	sort.Strings(dlq)
	if len(dlq) != 2 || dlq[0] != "file   %PDF-1.7 "+run || !strings.HasPrefix(dlq[1], "parse 3 amount DE89370400440532013000,EUR,2026-03-02,,\"1,234.5x\"") {
		t.Errorf("dlq = %q", dlq)
	}
	if _, err := s3cl.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("quarantine/bank/mystery.bin.reason.txt")}); err != nil {
		t.Errorf("quarantine reason not written: %v", err)
	}

	// The same notification again adds nothing.
	h.mark()
	h.produce(kafka.TopicFileEvents, s3Notification("bank/March 2026, stmt.csv", "ledger/gl.csv"))
	waitFor(t, func() bool {
		return counterSum(t, reg, "recon_ingest_files_total", "outcome", "duplicate") >= 2
	})
	again := h.read()
	for _, topic := range []string{kafka.TopicBankTransactions, kafka.TopicLedgerTransactions, kafka.TopicFiles} {
		if n := len(again[topic]); n != 0 {
			t.Errorf("re-delivery added %d records to %s", n, topic)
		}
	}
	// And a garbage event goes to the DLQ instead of stopping the consumer.
	h.produce(kafka.TopicFileEvents, []byte("not an event"))
	waitFor(t, func() bool {
		for _, r := range h.read()[kafka.TopicDLQ] {
			if string(r.Value) == "not an event" {
				return true
			}
		}
		return false
	})
}

// TestRestartSkipsIngestedFiles: a new instance loads the file ledger from
// recon.files and skips a file ingested by the previous one.
func TestRestartSkipsIngestedFiles(t *testing.T) {
	brokers := testenv.Kafka(t)
	inbox := t.TempDir()
	run := fmt.Sprint(time.Now().UnixNano())
	body := "id,account,currency,booking_date,amount\nR-" + run + ",ACC,EUR,2026-03-01,10.00\n"
	h := newHarness(t, brokers)
	cfg := Defaults()
	cfg.Kafka.Brokers, cfg.Kafka.Partitions, cfg.TransactionalID, cfg.Inbox, cfg.ConsumeEvents = brokers, 4, "test-inbox-"+run, inbox, false
	cfg.PollInterval, cfg.MaxFileSize, cfg.TempDir = 50*time.Millisecond, 1<<20, t.TempDir()
	for round := 0; round < 2; round++ {
		// The second instance keeps what it handled compressed.
		cfg.CompressProcessed = round == 1
		s, _, stop := startIngestor(t, cfg, nil)
		if err := os.MkdirAll(filepath.Join(inbox, "ledger"), 0o755); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("gl-%d.csv", round)
		if err := os.WriteFile(filepath.Join(inbox, "ledger", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		kept := filepath.Join(inbox, ProcessedDir, name)
		if cfg.CompressProcessed {
			kept += ".gz"
		}
		waitFor(t, func() bool {
			_, err := os.Stat(kept)
			return err == nil
		})
		if cfg.CompressProcessed {
			if got, _ := readGzip(t, kept); got != body {
				t.Errorf("%s holds %q, want %q", kept, got, body)
			}
			if _, err := os.Stat(filepath.Join(inbox, ProcessedDir, name)); err == nil {
				t.Errorf("%s is kept twice", name)
			}
		}
		_ = s
		stop()
	}
	recs := h.read()
	if n := len(recs[kafka.TopicLedgerTransactions]); n != 1 {
		t.Errorf("ledger records = %d, want 1 (second delivery is a duplicate)", n)
	}
	if n := len(recs[kafka.TopicFiles]); n != 1 {
		t.Errorf("file outcomes = %d, want 1", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counterSum sums the series of a counter family whose label has value.
func counterSum(t *testing.T, g prometheus.Gatherer, name, label, value string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return sum
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.files.WithLabelValues("bank-csv", "ingested").Inc()
	m.records.WithLabelValues("bank").Inc()
	m.rejected.WithLabelValues("bank-csv").Inc()
	m.duration.WithLabelValues("bank-csv").Observe(1)
	m.retries.WithLabelValues("ingest").Inc()
	testenv.LintMetrics(t, reg)
}

func TestSideOf(t *testing.T) {
	for in, want := range map[string]record.Side{"bank/x.csv": record.Bank, "in/ledger/2026/x.csv": record.Ledger,
		"x.csv": "", "bank.csv": "", "ledger/bank/x": record.Bank} {
		if got := SideOf(in); got != want {
			t.Errorf("SideOf(%q) = %q, want %q", in, got, want)
		}
	}
}
