package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/kafkatest"
)

// slackSink is a Slack-compatible incoming webhook. It checks each body
// is a Block Kit message and counts the breaks it names. When holdAt > 0,
// the holdAt-th request is held unanswered until its client goes away
// (the notifier is killed while Slack has not yet accepted the message),
// and it is not counted.
type slackSink struct {
	mu     sync.Mutex
	seen   map[string]int
	n      int
	holdAt int
	held   chan struct{}
	bad    []string
}

func (s *slackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.n++
	hold := s.n == s.holdAt
	s.mu.Unlock()
	if hold {
		close(s.held)
		<-r.Context().Done()
		return
	}
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type      string `json:"type"`
			Accessory *struct {
				Type     string `json:"type"`
				URL      string `json:"url"`
				ActionID string `json:"action_id"`
			} `json:"accessory"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
		} `json:"blocks"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := json.Unmarshal(body, &m); err != nil || m.Text == "" || len(m.Blocks) < 2 || m.Blocks[0].Type != "header" {
		s.bad = append(s.bad, string(body))
		http.Error(w, "invalid_blocks", http.StatusBadRequest)
		return
	}
	for _, b := range m.Blocks {
		if b.Type != "section" {
			continue
		}
		if b.Accessory == nil || len(b.Fields) != 6 || !strings.HasPrefix(b.Accessory.URL, "https://recon.bank.test/breaks/") {
			s.bad = append(s.bad, string(body))
			continue
		}
		s.seen[strings.TrimPrefix(b.Accessory.URL, "https://recon.bank.test/breaks/")]++
	}
	_, _ = w.Write([]byte("ok"))
}

func (s *slackSink) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.seen {
		out[k] = v
	}
	return out
}

type testBreak struct {
	b        *record.Break
	large    bool // route "large": |amount| ≥ 1500
	bankEUR  bool // route "bank-eur"
	mismatch bool
}

// TestNotifierChannels routes breaks by rule to Slack (a compatible
// sink), e-mail (mailpit: STARTTLS required, a password, one message per
// break and a digest), SNS (moto, read back through a subscribed SQS
// queue) and a webhook that is always down, with the notifier killed
// (SIGKILL) while Slack holds a message and started again. Each break
// reaches each of its routes once; the down webhook's deliveries end in
// recon.dlq after their attempts.
func TestNotifierChannels(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisURL := testenv.Redis(t)
	mail := testenv.Mailpit(t)
	moto := testenv.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	prefix := fmt.Sprintf("notify%d", time.Now().UnixNano())
	kc := kafka.Config{Brokers: brokers, TopicPrefix: prefix + ".", Partitions: 2}
	cl := kafkatest.Client(t, kc)

	// SNS topic with an SQS queue subscribed, to read what was published.
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snsc := sns.NewFromConfig(awsCfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(moto) })
	sqsc := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(moto) })
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("recon-breaks")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("breaks-copy")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}

	slack := &slackSink{seen: map[string]int{}, holdAt: 4, held: make(chan struct{})}
	slackSrv := httptest.NewServer(slack)
	defer slackSrv.Close()
	var downHits sync.Map
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Breaks []struct {
				ID string `json:"break_id"`
			} `json:"breaks"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		for _, b := range m.Breaks {
			n, _ := downHits.LoadOrStore(b.ID, new(int))
			*n.(*int)++
		}
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()

	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pass := write("smtp-password", mail.Password+"\n")
	secret := write("hook-secret", "k\n")
	routes := write("routes.yaml", fmt.Sprintf(`
channels:
  team-slack: {type: slack, url: %q}
  treasury-mail: {type: email, smtp: %q, from: recon@bank.test, username: %s, password_file: %s, ca_file: %s}
  ops-digest: {type: email, smtp: %q, from: recon@bank.test, to: [ops@bank.test], username: %s, password_file: %s, ca_file: %s, digest: 2s}
  breaks-sns: {type: sns, topic_arn: %q, endpoint: %q, region: eu-west-1}
  down-hook: {type: webhook, url: %q, secret_file: %s}
routes:
  - name: large
    match: {min_amount: "1500.00"}
    channels: [team-slack, treasury-mail]
    recipients: [treasury@bank.test]
  - name: bank-eur
    match: {sides: [bank], currencies: [EUR]}
    channels: [breaks-sns]
  - name: mismatches
    match: {reasons: [amount_mismatch]}
    channels: [down-hook]
  - name: daily-ops
    channels: [ops-digest]
retry: {attempts: 3, backoff: 100ms, max_backoff: 300ms}
`, slackSrv.URL, mail.SMTP, mail.User, pass, mail.CAFile, mail.SMTP, mail.User, pass, mail.CAFile,
		*topic.TopicArn, moto, down.URL, secret))

	// 24 breaks, each produced twice (a replay must not notify twice).
	codec, err := avro.NewBreakCodec(ctx, avro.Embedded{}, "b")
	if err != nil {
		t.Fatal(err)
	}
	var breaks []testBreak
	for i := range 24 {
		side, cur, reason := record.Bank, "EUR", record.Unmatched
		if i%3 == 1 {
			side = record.Ledger
		}
		if i%4 == 3 {
			cur = "GBP"
		}
		if i%5 == 2 {
			reason = record.AmountMismatch
		}
		amt := money.New(int64(i)*20_000+50, 2) // 0.50, 200.50, … 4600.50
		if i%2 == 1 {
			amt, _ = amt.Neg()
		}
		it := record.Item{ID: fmt.Sprintf("R%02d", i), Side: side, Currency: cur, Amount: amt, BookingDate: 20400, Reference: fmt.Sprintf("INV-%d", i)}
		b := &record.Break{BreakID: record.BreakID(it, reason), Side: side, Reason: reason, Account: "DE01", Currency: cur, Record: it,
			Candidates: []record.Candidate{}, WindowClosedAt: 20403}
		abs, _ := amt.Abs()
		breaks = append(breaks, testBreak{b: b, large: abs.Cmp(money.New(150_000, 2)) >= 0, bankEUR: side == record.Bank && cur == "EUR",
			mismatch: reason == record.AmountMismatch})
		v, err := codec.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kc.Topic(kafka.TopicBreaks), Key: []byte(b.BreakID), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	env := []string{"RECON_KAFKA_BROKERS=" + strings.Join(brokers, ","), "RECON_KAFKA_TOPIC_PREFIX=" + prefix + ".",
		"RECON_KAFKA_SESSION_TIMEOUT=6s", "RECON_OPS_ADDR=", "RECON_LOG_FORMAT=text", "RECON_LOG_LEVEL=info",
		"RECON_REDIS_URL=" + redisURL, "RECON_REDIS_PREFIX=" + prefix, "RECON_GROUP=" + prefix + "-notifier",
		"RECON_ROUTES_FILE=" + routes, "RECON_CONSOLE_URL=https://recon.bank.test", "RECON_LOG_BREAKS=false",
		"RECON_SEND_TIMEOUT=3s"} // the held message is claimed until 18 s after the kill
	p := newProc(t, dir, "notifier", env, "notifier")
	p.start()
	defer p.stop()
	select {
	case <-slack.held:
	case <-time.After(90 * time.Second):
		t.Fatalf("Slack never received its 4th message; notifier log:\n%s", p.tail())
	}
	p.kill()
	p.start()

	want := map[string]map[string]bool{"large": {}, "bank-eur": {}, "mismatches": {}, "daily-ops": {}}
	for _, tb := range breaks {
		id := tb.b.BreakID
		want["daily-ops"][id] = true
		if tb.large {
			want["large"][id] = true
		}
		if tb.bankEUR {
			want["bank-eur"][id] = true
		}
		if tb.mismatch {
			want["mismatches"][id] = true
		}
	}
	for route, ids := range want {
		if len(ids) == 0 || len(ids) == len(breaks) && route != "daily-ops" {
			t.Fatalf("route %s selects %d of %d breaks: the data does not test routing", route, len(ids), len(breaks))
		}
	}

	var treasury, ops map[string]int
	var opsMessages int
	var sns map[string]int
	snsSeen := map[string]int{}
	var snsBad []string
	dlq := map[string]string{}
	testenv.WaitUntil(t, 3*time.Minute, func() string {
		treasury, ops, opsMessages = mailCounts(t, mail.API)
		for {
			out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
			if err != nil || len(out.Messages) == 0 {
				break
			}
			for _, m := range out.Messages {
				var env struct {
					Message           string
					MessageAttributes map[string]struct{ Type, Value string }
				}
				var msg struct {
					Breaks []struct {
						ID      string `json:"break_id"`
						Side    string `json:"side"`
						Account string `json:"account"`
					} `json:"breaks"`
				}
				if json.Unmarshal([]byte(*m.Body), &env) != nil || json.Unmarshal([]byte(env.Message), &msg) != nil || len(msg.Breaks) != 1 ||
					env.MessageAttributes["side"].Value != msg.Breaks[0].Side || env.MessageAttributes["account"].Value != "DE01" ||
					env.MessageAttributes["amount"].Type != "Number" {
					snsBad = append(snsBad, *m.Body)
				} else {
					snsSeen[msg.Breaks[0].ID]++
				}
				_, _ = sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle})
			}
		}
		sns = snsSeen
		readDLQ(t, ctx, kc, dlq)
		for name, got := range map[string]map[string]int{"large (slack)": slack.counts(), "large (mail)": treasury, "bank-eur": sns, "daily-ops": ops} {
			route := strings.Fields(name)[0]
			if len(got) < len(want[route]) {
				return fmt.Sprintf("%s: %d of %d breaks delivered", name, len(got), len(want[route]))
			}
		}
		if len(dlq) < len(want["mismatches"]) {
			return fmt.Sprintf("%d of %d dead letters", len(dlq), len(want["mismatches"]))
		}
		return ""
	})
	time.Sleep(2 * time.Second) // anything sent twice would arrive by now
	treasury, ops, opsMessages = mailCounts(t, mail.API)
	for name, got := range map[string]map[string]int{"large (slack)": slack.counts(), "large (mail)": treasury, "bank-eur": sns, "daily-ops": ops} {
		route := strings.Fields(name)[0]
		for id, n := range got {
			if !want[route][id] {
				t.Errorf("%s: break %s does not belong to the route", name, id)
			} else if n != 1 {
				t.Errorf("%s: break %s delivered %d times", name, id, n)
			}
		}
	}
	if opsMessages >= len(want["daily-ops"]) {
		t.Errorf("the digest channel sent %d messages for %d breaks", opsMessages, len(want["daily-ops"]))
	}
	for id := range want["mismatches"] {
		n, _ := downHits.Load(id)
		if n == nil || *n.(*int) != 3 {
			t.Errorf("down webhook: break %s tried %v times, want 3", id, n)
		}
		if !strings.Contains(dlq[id], "3 attempt(s)") || !strings.Contains(dlq[id], "HTTP 503") {
			t.Errorf("dead letter of %s: %q", id, dlq[id])
		}
	}
	if len(slack.bad)+len(snsBad) > 0 {
		t.Errorf("malformed messages: slack %q sns %q", slack.bad, snsBad)
	}
	t.Logf("channels: slack=%d mail=%d sns=%d digest=%d breaks in %d messages, dead-lettered=%d, notifier killed once",
		len(slack.counts()), len(treasury), len(sns), len(ops), opsMessages, len(dlq))
}

var breakLine = regexp.MustCompile(`(?m)^\s+break (\S+)`)

// mailCounts reads mailpit: per break, how many messages to
// treasury@bank.test and to ops@bank.test named it, and how many messages
// ops got. Each message must have a plain-text and an HTML body.
func mailCounts(t *testing.T, api string) (treasury, ops map[string]int, opsMessages int) {
	t.Helper()
	treasury, ops = map[string]int{}, map[string]int{}
	var list struct {
		Messages []struct {
			ID string
			To []struct{ Address string }
		}
	}
	if err := getJSON(api+"/api/v1/messages?limit=1000", &list); err != nil {
		return
	}
	for _, m := range list.Messages {
		var msg struct{ Text, HTML string }
		if err := getJSON(api+"/api/v1/message/"+m.ID, &msg); err != nil {
			continue
		}
		if !strings.Contains(msg.HTML, "<table") {
			t.Errorf("message %s has no HTML table", m.ID)
		}
		into := treasury
		if len(m.To) > 0 && m.To[0].Address == "ops@bank.test" {
			into = ops
			opsMessages++
		}
		for _, sm := range breakLine.FindAllStringSubmatch(msg.Text, -1) {
			into[sm[1]]++
		}
	}
	return
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// readDLQ reads recon.dlq from the start and records the notify stage's
// dead letters by break id with their reason header.
func readDLQ(t *testing.T, ctx context.Context, kc kafka.Config, into map[string]string) {
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicDLQ)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for pctx.Err() == nil {
		f := cl.PollFetches(pctx)
		f.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			var d struct {
				BreakID string `json:"break_id"`
			}
			if json.Unmarshal(r.Value, &d) == nil && d.BreakID != "" {
				into[d.BreakID] = fmt.Sprint(h)
			}
		})
	}
}
