package kafka

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/testenv"
)

// javaPartitions: the partition the Java client (kafka-clients 4.1.1,
// Utils.toPositive(Utils.murmur2(key)) % n) picks for each key, for n = 1, 3,
// 4, 12 and 100. Computed with the real jar (see deploy/kafka).
var javaPartitions = []struct {
	key  string
	want []int32
}{
	{"DE89370400440532013000|EUR", []int32{0, 0, 0, 0, 60}},
	{"GB33BUKB20201555555555|GBP", []int32{0, 2, 0, 8, 64}},
	{"123456789|USD", []int32{0, 0, 3, 3, 11}},
	{"acct-1|EUR", []int32{0, 0, 3, 3, 63}},
	{"acct-2|EUR", []int32{0, 2, 2, 2, 90}},
	{"", []int32{0, 0, 1, 9, 81}},
	{"x", []int32{0, 1, 2, 10, 46}},
	{"0001234567|JPY", []int32{0, 1, 3, 7, 75}},
	{"Müller|CHF", []int32{0, 1, 2, 10, 98}},
	{"NL91ABNA0417164300|EUR", []int32{0, 1, 1, 1, 57}},
}

var partitionCounts = []int{1, 3, 4, 12, 100}

func TestPartitionerMatchesJava(t *testing.T) {
	tp := Partitioner().ForTopic("recon.bank.transactions")
	for _, tt := range javaPartitions {
		for i, n := range partitionCounts {
			if got := tp.Partition(&kgo.Record{Key: []byte(tt.key)}, n); int32(got) != tt.want[i] {
				t.Errorf("key %q, %d partitions: got %d, Java picks %d", tt.key, n, got, tt.want[i])
			}
		}
	}
}

// TestProducedPartitions produces through a configured client and checks
// where the records land.
func TestProducedPartitions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(12, "t12"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := NewClient(Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range javaPartitions {
		r := &kgo.Record{Topic: "t12", Key: []byte(tt.key)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if r.Partition != tt.want[3] {
			t.Errorf("key %q landed on %d, Java picks %d", tt.key, r.Partition, tt.want[3])
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no brokers"},
		{Config{Brokers: []string{"localhost"}}, "want host:port"},
		{Config{Brokers: []string{"h:9092"}, SASL: SASLConfig{Mechanism: "GSSAPI", User: "u"}}, "SASL mechanism"},
		{Config{Brokers: []string{"h:9092"}, SASL: SASLConfig{Mechanism: "PLAIN"}}, "needs a user"},
		{Config{Brokers: []string{"h:9092"}, TLS: TLSConfig{Enabled: true, CertFile: "c"}}, "both a cert file and a key file"},
		{Config{Brokers: []string{"h:9092"}, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u"}}, ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := (Config{Brokers: []string{"h:1"}, TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent"}}).Options(); err == nil {
		t.Error("missing CA file accepted")
	}
	dir := t.TempDir()
	_ = os.WriteFile(dir+"/pw", []byte("secret\n"), 0o600)
	if _, err := (Config{Brokers: []string{"h:1"}, SASL: SASLConfig{Mechanism: "PLAIN", User: "u", PasswordFile: dir + "/pw"}}).Options(); err != nil {
		t.Error(err)
	}
}

// TestProvisionRealKafka creates the project's topics on the real broker
// (KAFKA_BROKERS) and checks partitions and configs, then runs again.
func TestProvisionRealKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	cfg := Config{Brokers: brokers, Partitions: 4}
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	specs := Topics(cfg)
	for i := range specs {
		specs[i].Name = fmt.Sprintf("provision-test-%d-%s", time.Now().UnixNano(), specs[i].Name)
	}
	for round := 0; round < 2; round++ {
		if err := Provision(ctx, cl, 1, specs); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	md, err := kadm.NewClient(cl).ListTopics(ctx, specs[0].Name, specs[len(specs)-1].Name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(md[specs[0].Name].Partitions); n != 4 {
		t.Errorf("%s has %d partitions", specs[0].Name, n)
	}
	rc, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, specs[len(specs)-1].Name)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc[0].Configs {
		if c.Key == "cleanup.policy" && c.MaybeValue() == "compact" {
			found = true
		}
	}
	if !found {
		t.Errorf("%s is not compacted", specs[len(specs)-1].Name)
	}
}

func TestDLQInfoRoundTrip(t *testing.T) {
	in := DLQInfo{Stage: "parse", Reason: "bad amount", Error: "f.csv:3: entry 2: amount: bad", File: "f.csv",
		Digest: "ab", Format: "bank-csv", Side: "bank", Truncated: true, Line: 3, Entry: 2, Field: "amount",
		Path: "/Document/Stmt/Ntry[2]", SourceTopic: "t", SourcePartition: 3, SourceOffset: 99}
	hs := RecordHeaders(in.Headers())
	if !slices.IsSortedFunc(hs, func(a, b kgo.RecordHeader) int { return strings.Compare(a.Key, b.Key) }) || len(hs) != 15 { // every field but Bucket
		t.Errorf("headers %d, not sorted by name: %v", len(hs), hs)
	}
	if got := ParseDLQ(hs); got != in {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
	if h := (DLQInfo{Stage: "match", Reason: "x"}).Headers(); len(h) != 2 || h[HeaderStage] != "match" {
		t.Errorf("zero fields written: %v", h)
	}
}

// PartitionOf places keys exactly where the client's murmur2 partitioner
// (the Java default) does, for any partition count.
func TestPartitionOfIsMurmur2(t *testing.T) {
	p := Partitioner().ForTopic("t")
	for _, n := range []int{1, 2, 3, 12, 13, 100} {
		for i := 0; i < 2000; i++ {
			key := []byte(fmt.Sprintf("DE89370400440532013%03d|EUR", i)[:5+i%20])
			want := p.Partition(&kgo.Record{Key: key}, n)
			if got := PartitionOf(key, int32(n)); int(got) != want {
				t.Fatalf("key %q, %d partitions: %d, want %d", key, n, got, want)
			}
		}
	}
	// Java's Utils.murmur2 of these bytes (Kafka's own test vectors).
	for s, want := range map[string]int32{"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
		"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107} {
		if got := int32(murmur2([]byte(s))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", s, got, want)
		}
	}
}
