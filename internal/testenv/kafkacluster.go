package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaCluster is three Apache Kafka brokers of the test's own, each a
// KRaft broker and controller (a three-voter quorum), with replication
// factor 3 and min.insync.replicas 2 for every topic, the internal ones
// included, started from the jars of RECON_KAFKA_CLASSPATH and stopped
// when the test ends.
type KafkaCluster struct {
	t       testing.TB
	dir     string
	Brokers []string // host:port of each broker's client listener, by node id - 1
	java    string
	cp      string
	log4j   string
	nodes   *nodes
}

// StartKafkaCluster formats and starts the three brokers and waits until
// all three are in the cluster's metadata.
func StartKafkaCluster(t testing.TB) *KafkaCluster {
	t.Helper()
	java, cp, log4j := kafkaJars(t)
	c := &KafkaCluster{t: t, dir: t.TempDir(), java: java, cp: cp, log4j: log4j, nodes: newNodes()}
	t.Cleanup(c.nodes.stopAll)
	ports := freePorts(t, 6)
	var voters []string
	for i := 0; i < 3; i++ {
		c.Brokers = append(c.Brokers, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[2*i+1]))
	}
	for i := 0; i < 3; i++ {
		cfg := fmt.Sprintf(`process.roles=broker,controller
node.id=%[1]d
controller.quorum.voters=%[2]s
listeners=PLAINTEXT://127.0.0.1:%[3]d,CONTROLLER://127.0.0.1:%[4]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[3]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=%[5]s
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
unclean.leader.election.enable=false
replica.lag.time.max.ms=10000
`, i+1, strings.Join(voters, ","), ports[2*i], ports[2*i+1], filepath.Join(c.dir, fmt.Sprint(i+1), "data"))
		props := c.props(i + 1)
		if err := os.MkdirAll(filepath.Dir(props), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(props, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		format := exec.Command(java, "-cp", c.cp, "kafka.tools.StorageTool", "format", "-t", "recon-three-brokers-cluster", "-c", props)
		if out, err := format.CombinedOutput(); err != nil {
			t.Fatalf("kafka storage format (node %d): %v: %s", i+1, err, out)
		}
	}
	for id := 1; id <= 3; id++ {
		c.Start(id)
	}
	c.WaitBrokers(3, 2*time.Minute)
	t.Logf("server: %s ran against a three-broker apache kafka (replication 3, min.insync.replicas 2) at %s", t.Name(), strings.Join(c.Brokers, ","))
	return c
}

func (c *KafkaCluster) props(id int) string {
	return filepath.Join(c.dir, fmt.Sprint(id), "server.properties")
}

// Start starts broker id (1-3), or starts it again after Kill.
func (c *KafkaCluster) Start(id int) {
	c.t.Helper()
	c.nodes.start(c.t, id, filepath.Join(c.dir, fmt.Sprint(id), "broker.log"), c.java,
		"-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Dlog4j2.configurationFile="+c.log4j, "-cp", c.cp, "kafka.Kafka", c.props(id))
}

// Kill ends broker id with SIGKILL.
func (c *KafkaCluster) Kill(id int) { c.nodes.kill(id) }

// WaitBrokers waits until the metadata lists n live brokers.
func (c *KafkaCluster) WaitBrokers(n int, bound time.Duration) {
	c.t.Helper()
	WaitUntil(c.t, bound, func() string {
		// A new client each time: one made while a broker was down keeps
		// what it learnt then.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
		if err != nil {
			return err.Error()
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil {
			return err.Error()
		}
		if len(m.Brokers) != n {
			in := map[int32]bool{}
			for _, b := range m.Brokers {
				in[b.NodeID] = true
			}
			msg := fmt.Sprintf("%d of %d brokers in the metadata", len(m.Brokers), n)
			for id := 1; id <= 3; id++ {
				if !in[int32(id)] {
					b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprint(id), "broker.log"))
					if keep := os.Getenv("RECON_KAFKA_CLUSTER_KEEP"); keep != "" {
						_ = os.WriteFile(filepath.Join(keep, fmt.Sprintf("broker-%d.log", id)), b, 0o644)
					}
					msg += fmt.Sprintf("\nbroker %d is missing (%s, log %d bytes); its log ends:\n%s", id, c.nodes.state(id), len(b), tail(string(b), 2500))
				}
			}
			return msg
		}
		return ""
	})
}

// LeaderOf returns the node id leading partition p of topic.
func (c *KafkaCluster) LeaderOf(topic string, p int32) int {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		c.t.Fatal(err)
	}
	pd, ok := m.Topics[topic].Partitions[p]
	if !ok {
		c.t.Fatalf("no partition %d of %s in the metadata", p, topic)
	}
	return int(pd.Leader)
}
