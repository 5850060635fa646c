package notifier

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/kafkatest"
)

// inbox records what the webhook and the channel received.
type inbox struct {
	mu       sync.Mutex
	digests  map[string][]string // recipient -> escalation ids, over all digests
	messages int
	channel  []string
	signed   bool
}

func (b *inbox) webhook(w http.ResponseWriter, r *http.Request) {
	var m Message
	_ = json.NewDecoder(r.Body).Decode(&m)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.signed = b.signed || r.Header.Get(HeaderSignature) != ""
	if m.Type != "escalations.digest" {
		return
	}
	b.messages++
	for _, e := range m.Escalations {
		b.digests[m.Recipient] = append(b.digests[m.Recipient], e.EscalationID)
	}
}

func (b *inbox) chat(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Text string `json:"text"`
	}
	_ = json.NewDecoder(r.Body).Decode(&m)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.channel = append(b.channel, m.Text)
}

func (b *inbox) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, ids := range b.digests {
		n += len(ids)
	}
	return n
}

// TestEscalationDigests: escalations read from recon.escalations reach
// each recipient in a digest and the channel in one message, each once,
// also when the topic is read again from the start.
func TestEscalationDigests(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2}
	ctx := context.Background()
	cl := kafkatest.Client(t, kc)
	codec, err := avro.NewEscalationCodec(ctx, avro.Embedded{}, "e")
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_790_000_000_000).UTC()
	var es []*record.Escalation
	for i, who := range []string{"alice", "alice", "operations", "approvers"} {
		kind, subject := record.EscalateBreak, "k-"+string(rune('a'+i))
		if who == "approvers" {
			kind, subject = record.EscalateApproval, "a-1"
		}
		es = append(es, &record.Escalation{EscalationID: record.EscalationID(kind, subject, 1), Kind: kind, Level: 1, SubjectID: subject,
			Recipient: who, Account: "DE89", Currency: "EUR", Reason: "unmatched", Amount: "-3.50", Age: "6d", SLA: "5d",
			URL: "http://console/x", EscalatedAt: at})
	}
	for pass := 0; pass < 2; pass++ { // each escalation twice: a console that produced it again
		for _, e := range es {
			v, err := codec.Encode(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kc.Topic(kafka.TopicEscalations), Key: []byte(e.Recipient), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	box := &inbox{digests: map[string][]string{}}
	hook, chat := httptest.NewServer(http.HandlerFunc(box.webhook)), httptest.NewServer(http.HandlerFunc(box.chat))
	defer hook.Close()
	defer chat.Close()
	cfg := Defaults()
	cfg.Kafka, cfg.Group, cfg.WebhookURL, cfg.Log = kc, "esc", hook.URL, false
	cfg = cfg.WithSecret("k").WithChannelURL(chat.URL)
	reg := runUntil(t, cfg, rdb, func() bool { return box.total() == 4 })
	adm := kadm.NewClient(mustClient(t, kc))
	if _, err := adm.DeleteGroups(ctx, "esc"); err != nil {
		t.Fatal(err)
	}
	runUntil(t, cfg, rdb, func() bool { return true })
	time.Sleep(time.Second)
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.digests["alice"]) != 2 || len(box.digests["operations"]) != 1 || len(box.digests["approvers"]) != 1 {
		t.Errorf("digests per recipient: %v", box.digests)
	}
	if !box.signed {
		t.Error("escalation digests are not signed")
	}
	if len(box.channel) == 0 {
		t.Fatal("no channel message")
	}
	all := strings.Join(box.channel, "\n")
	for _, want := range []string{"- alice: 2 breaks past their SLA", "- approvers: 1 request waiting for an approver", "- operations: 1 break past its SLA"} {
		if !strings.Contains(all, want) {
			t.Errorf("channel messages lack %q:\n%s", want, all)
		}
	}
	if strings.Count(all, "level 1 ·") != 4 {
		t.Errorf("channel messages list %d escalations, want 4 (each once):\n%s", strings.Count(all, "level 1 ·"), all)
	}
	testenv.LintMetrics(t, reg)
}
