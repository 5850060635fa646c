package chaos

import (
	"testing"
	"time"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/testenv"
)

// TestBrokerKill: the pipeline runs on three Kafka brokers (replication
// factor 3, min.insync.replicas 2): the ingestor's transactions, two
// matchers, the loader and the notifier. While files stream in, the
// broker leading partition 0 of the bank transactions is killed with
// SIGKILL (its partitions' leaders move), started again later, and then
// another broker is killed. At the end the warehouse holds exactly the
// expected matches and breaks and every break was notified once.
func TestBrokerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("broker kill test in -short mode")
	}
	s := setup(t, false)
	kafkaCluster := testenv.StartKafkaCluster(t)
	s.brokers, s.replication = kafkaCluster.Brokers, 3
	const chunks, pairs, only = 10, 2000, 30
	inputs := chunks * 2 * (pairs + only)
	pl := s.newPipeline(t, s.redisURL, s.matcherEnv(), 2)
	pl.start()

	kc := kafka.Config{TopicPrefix: s.prefix + "."}
	bankTopic := kc.Topic(kafka.TopicBankTransactions)
	var killed []int
	for c := 0; c < chunks; c++ {
		pl.ingest(t, c, pairs, only)
		switch c {
		case 2, 6:
			id := kafkaCluster.LeaderOf(bankTopic, 0)
			kafkaCluster.Kill(id)
			killed = append(killed, id)
			start := time.Now()
			testenv.WaitUntil(t, 2*time.Minute, func() string {
				if kafkaCluster.LeaderOf(bankTopic, 0) == id {
					return "partition 0 still led by the killed broker"
				}
				return ""
			})
			t.Logf("broker %d (leader of %s/0) killed; broker %d leads it after %s", id, bankTopic, kafkaCluster.LeaderOf(bankTopic, 0),
				time.Since(start).Round(100*time.Millisecond))
		case 4, 8:
			id := killed[len(killed)-1]
			kafkaCluster.Start(id)
			kafkaCluster.WaitBrokers(3, 2*time.Minute)
			t.Logf("broker %d back", id)
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}
	r, lost, duplicated := s.settle(t, pl.hook, pl.procs, chunks*pairs, chunks*2*only)
	t.Logf("server: brokers: inputs=%d matches=%d breaks=%d lost=%d duplicated=%d broker kills=%d", inputs, r.matches, r.openBreaks, lost, duplicated, len(killed))
}
