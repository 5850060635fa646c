package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/matcher"
)

// upstream is one way an upstream team produces its ledger records.
type upstream struct {
	name, client, partitioner string
	murmur2                   bool // places records like Kafka's default partitioner
}

var upstreams = []upstream{
	{"kafka-python", "kafka-python", "default", true},
	{"confluent-murmur2", "confluent", "murmur2_random", true},
	{"confluent-default", "confluent", "default", false}, // librdkafka's default: CRC32
}

const partitions = 6

// TestUpstreamProducers: ledger records produced from Python by clients
// that are not ours, Avro through a real Schema Registry, and their bank
// counterparts produced by recon: with a murmur2 partitioner (kafka-python's
// default, librdkafka's murmur2_random) every record matches as through the
// ingestor; with librdkafka's default (CRC32) partitioner the records that
// land on another partition than murmur2 gives their key are refused to
// the DLQ with the reason and the fix, counted, and the rest match: nothing
// is silently broken.
func TestUpstreamProducers(t *testing.T) {
	brokers, regURL, py := testenv.Kafka(t), testenv.SchemaRegistry(t), testenv.Python(t)
	ropt, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prefix := fmt.Sprintf("up%d.", time.Now().UnixNano())
	kc := kafka.Config{Brokers: brokers, Partitions: partitions, ReplicationFactor: 1, Provision: true, TopicPrefix: prefix}
	reg, err := avro.NewHTTPRegistry(regURL, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	bankCodec, err := avro.NewTransactionCodec(ctx, reg, kc.Topic(kafka.TopicBankTransactions)+"-value")
	if err != nil {
		t.Fatal(err)
	}

	// 70 ledger records per upstream over 10 accounts, and their bank
	// entries, produced by recon.
	type ledgerRec struct {
		ID, Account, Currency, Amount, BookingDate, Reference string
		Position                                              int `json:"position"`
	}
	sets := map[string][]ledgerRec{}
	byID := map[string]string{} // ledger id -> upstream
	keyOf := map[string]string{}
	for u, up := range upstreams {
		for i := 0; i < 70; i++ {
			acct := fmt.Sprintf("DE%02d37040044053201%04d", 10+u, i%10)
			r := ledgerRec{ID: fmt.Sprintf("%s-%03d", up.name, i), Account: acct, Currency: "EUR", Amount: fmt.Sprintf("%d.%02d", 100+i, i),
				BookingDate: "2026-03-02", Reference: fmt.Sprintf("INV-%d-%03d", u, i), Position: i + 1}
			sets[up.name] = append(sets[up.name], r)
			byID[r.ID], keyOf[r.ID] = up.name, acct+"|EUR"
			amt, _ := money.Parse(r.Amount)
			b := &record.Transaction{ID: "b-" + r.ID, Side: record.Bank, Account: acct, Currency: "EUR", Amount: amt,
				BookingDate: record.MakeDate(2026, 3, 2), Reference: r.Reference, SourceFile: "bank.xml", SourcePosition: int64(u*100 + i + 1)}
			v, err := bankCodec.Encode(nil, b)
			if err != nil {
				t.Fatal(err)
			}
			prod.Produce(ctx, &kgo.Record{Topic: kc.Topic(kafka.TopicBankTransactions), Key: []byte(b.Key()), Value: v}, nil)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The upstream producers.
	placed := map[string]int32{}
	for _, up := range upstreams {
		var in bytes.Buffer
		enc := json.NewEncoder(&in)
		for _, r := range sets[up.name] {
			_ = enc.Encode(map[string]any{"id": r.ID, "account": r.Account, "currency": r.Currency, "amount": r.Amount,
				"booking_date": r.BookingDate, "reference": r.Reference, "position": r.Position})
		}
		cmd := exec.Command(py, "testdata/produce_ledger.py", "--client", up.client, "--partitioner", up.partitioner,
			"--brokers", strings.Join(brokers, ","), "--topic", kc.Topic(kafka.TopicLedgerTransactions), "--registry", regURL,
			"--schema", "../../schemas/transaction.avsc")
		cmd.Stdin = &in
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", up.name, err, stderr.String())
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		n := 0
		for sc.Scan() {
			var d struct {
				ID        string `json:"id"`
				Partition int32  `json:"partition"`
			}
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("%s output %q: %v", up.name, sc.Text(), err)
			}
			placed[d.ID] = d.Partition
			n++
		}
		if n != 70 {
			t.Fatalf("%s delivered %d of 70 records: %s", up.name, n, stderr.String())
		}
	}
	misplaced := map[string]bool{}
	for id, p := range placed {
		want := kafka.PartitionOf([]byte(keyOf[id]), partitions)
		up := byID[id]
		if p != want {
			misplaced[id] = true
			if up != "confluent-default" {
				t.Errorf("%s put %s on partition %d, murmur2 says %d", up, id, p, want)
			}
		}
	}
	if len(misplaced) == 0 {
		t.Fatal("librdkafka's default partitioner placed every record like murmur2: the test shows nothing")
	}
	t.Logf("librdkafka's default partitioner misplaced %d of 70 records", len(misplaced))

	// The matcher decides them (values of the registry's ids).
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	mcfg := matcher.Defaults()
	mcfg.Kafka, mcfg.Group, mcfg.MinPending, mcfg.IdleAdvance = kc, prefix+"matcher", time.Second, time.Hour
	mcfg.RedisPrefix, mcfg.SchemaRegistry.URL = prefix, regURL
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg2 := prometheus.NewRegistry()
	m, err := matcher.New(mctx, mcfg, matcher.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg2, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()
	defer func() { cancel(); <-done }()

	matchCodec, err := avro.NewMatchCodec(ctx, reg, kc.Topic(kafka.TopicMatches)+"-value")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicDLQ)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	matched := map[string]bool{}
	dead := map[string]kafka.DLQInfo{}
	want := 3*70 - len(misplaced)
	deadline := time.Now().Add(90 * time.Second)
	for (len(matched) < want || len(dead) < len(misplaced)) && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		f := cl.PollFetches(pctx)
		pcancel()
		f.EachRecord(func(r *kgo.Record) {
			if r.Topic == kc.Topic(kafka.TopicDLQ) {
				info := kafka.ParseDLQ(r.Headers)
				rec, err := bankCodec.Decode(ctx, r.Value)
				if err != nil {
					t.Errorf("dead letter undecodable: %v (%+v)", err, info)
					return
				}
				dead[rec.ID] = info
				return
			}
			mt, err := matchCodec.Decode(ctx, r.Value)
			if err != nil {
				t.Errorf("match undecodable: %v", err)
				return
			}
			for _, it := range mt.Ledger {
				matched[it.ID] = true
			}
		})
	}
	for _, up := range upstreams {
		n := 0
		for _, r := range sets[up.name] {
			switch {
			case matched[r.ID] && misplaced[r.ID]:
				t.Errorf("%s: misplaced %s matched", up.name, r.ID)
			case matched[r.ID]:
				n++
			case misplaced[r.ID]:
				d, ok := dead[r.ID]
				if !ok {
					t.Errorf("%s: misplaced %s neither matched nor in the DLQ", up.name, r.ID)
				} else if !strings.Contains(d.Reason, "murmur2_random") || d.SourceTopic != kc.Topic(kafka.TopicLedgerTransactions) {
					t.Errorf("%s: dead letter of %s: %+v", up.name, r.ID, d)
				}
			default:
				t.Errorf("%s: %s on the right partition was not matched", up.name, r.ID)
			}
		}
		wantN := 70
		if !up.murmur2 {
			wantN = 70 - len(misplaced)
		}
		if n != wantN {
			t.Errorf("%s: %d records matched, want %d", up.name, n, wantN)
		}
		t.Logf("%s: %d of 70 matched", up.name, n)
	}
	if len(dead) != len(misplaced) {
		t.Errorf("%d dead letters, want the %d misplaced records", len(dead), len(misplaced))
	}
	mfs, _ := reg2.Gather()
	var counted float64
	for _, mf := range mfs {
		if mf.GetName() == "recon_misplaced_records_total" {
			for _, mm := range mf.GetMetric() {
				counted += mm.GetCounter().GetValue()
			}
		}
	}
	if int(counted) != len(misplaced) {
		t.Errorf("recon_misplaced_records_total = %v, want %d", counted, len(misplaced))
	}
}
