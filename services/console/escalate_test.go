package console

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// readTopic reads topic from the start until it has at least want records
// (or 30 s passed) and returns them.
func readTopic(t *testing.T, kc kafka.Config, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		f := cl.PollFetches(ctx)
		f.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	// What else is there arrives within a moment of the last record.
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	return out
}

// TestEscalation: open breaks past their SLA (the stricter of reason and
// account) and requests waiting for an approver are escalated once per
// level, to the assignee, the account's team or the unassigned team (the
// approvers for requests), and produced to recon.escalations.
func TestEscalation(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t6."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"), func(c *Config) {
		c.Escalation.Interval = 0 // the test sweeps
		c.AccountSLADays = []string{"E2=2"}
		c.Escalation.AccountTeams = []string{"E2=treasury"}
	})
	ctx := context.Background()
	h.produce(
		txn("e-b1", record.Bank, "E1", "X-1", 100, 0, "", "one"),
		txn("e-b2", record.Bank, "E1", "X-2", 200, 0, "", "two"),
		txn("e-b3", record.Bank, "E1", "X-3", 300, 7, "", "three"),
		txn("e-l1", record.Ledger, "E2", "Y-1", 400, 0, "", "four"),
	)
	for _, r := range []string{"e-b1", "e-b2", "e-b3", "e-l1"} {
		waitFor(t, "the break of "+r, func() bool { return h.breakOf(r) != nil })
	}
	preparer := h.signIn("preparer")
	preparer.act(200, ActionRequest{Action: "assign", BreakIDs: []string{h.breakOf("e-b2").BreakID}, Assignee: "alice"})
	req := preparer.act(200, ActionRequest{Action: "write_off", BreakIDs: []string{h.breakOf("e-b3").BreakID}, ReasonCode: "other"})
	a, err := h.console.Store().Action(ctx, str(req["action_id"]))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		level     int
		recipient string
	}
	check := func(at time.Time, n int, expect map[string]want) {
		t.Helper()
		got, err := h.console.sweep(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("sweep at %s: %d new escalations, want %d", at.Format(time.RFC3339), got, n)
		}
		for subject, w := range expect {
			es, err := h.console.Store().Escalations(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) == 0 || es[len(es)-1].Level != w.level || es[len(es)-1].Recipient != w.recipient {
				t.Errorf("escalations of %s: %+v, want the last at level %d to %s", subject, es, w.level, w.recipient)
			}
		}
	}
	b1, b2, b3, l1 := h.breakOf("e-b1").BreakID, h.breakOf("e-b2").BreakID, h.breakOf("e-b3").BreakID, h.breakOf("e-l1").BreakID
	// Day 10: day-0 breaks are 10 days old: past the 5-day SLA (level 1),
	// E2's past 2 days more than 3 times (level 3, the highest); the
	// day-7 break is within its SLA.
	check(day(10).Time(), 3, map[string]want{b1: {1, "operations"}, b2: {1, "alice"}, l1: {3, "treasury"}})
	if es, _ := h.console.Store().Escalations(ctx, b3); len(es) != 0 {
		t.Errorf("a break within its SLA escalated: %+v", es)
	}
	check(day(10).Time(), 0, nil) // once per level
	// Day 16: 16 days is more than 3 times 5; the day-7 break is 9 days old.
	check(day(16).Time(), 3, map[string]want{b1: {3, "operations"}, b2: {3, "alice"}, b3: {1, "operations"}, l1: {3, "treasury"}})
	// The write-off request waits 25 h, then 49 h, for an approver (and
	// the day-7 break, now months old, reaches level 3).
	check(a.RequestedAt.Add(25*time.Hour), 2, map[string]want{a.ActionID: {1, "approvers"}, b3: {3, "operations"}})
	check(a.RequestedAt.Add(49*time.Hour), 1, map[string]want{a.ActionID: {2, "approvers"}})

	// The break's detail shows its escalations.
	code, d := preparer.get("/api/v1/breaks/" + b1)
	if es, _ := d["escalations"].([]any); code != 200 || len(es) != 2 {
		t.Errorf("break detail escalations: %d %v", code, d["escalations"])
	}
	if err := h.console.publish(ctx); err != nil {
		t.Fatal(err)
	}
	recs := readTopic(t, kc, kc.Topic(kafka.TopicEscalations), 9)
	codec, _ := avro.NewEscalationCodec(ctx, avro.Embedded{}, "e")
	ids := map[string]bool{}
	for _, r := range recs {
		e, err := codec.Decode(ctx, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != e.Recipient || e.URL == "" || e.Age == "" || e.SLA == "" {
			t.Errorf("escalation record: key %q, %+v", r.Key, e)
		}
		if e.EscalationID != record.EscalationID(e.Kind, e.SubjectID, e.Level) {
			t.Errorf("escalation id %s is not that of %s %s level %d", e.EscalationID, e.Kind, e.SubjectID, e.Level)
		}
		ids[e.EscalationID] = true
	}
	if len(recs) != 9 || len(ids) != 9 {
		t.Errorf("recon.escalations has %d records, %d distinct, want 9", len(recs), len(ids))
	}
	if un, _ := h.console.Store().UnsentEscalations(ctx, 100); len(un) != 0 {
		t.Errorf("%d escalations unsent after publish", len(un))
	}
}

// With sla-business-days an SLA counts business days of the break's
// currency: booked Monday 2 March, a 5-day SLA is passed on Tuesday
// 10 March (6 business days), not on Monday 9 March (7 calendar days, 5
// business days).
func TestEscalationBusinessDays(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t7."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"), func(c *Config) {
		c.Escalation.Interval = 0 // the test sweeps
		c.SLABusinessDays = true
	})
	ctx := context.Background()
	h.produce(txn("w-b1", record.Bank, "W", "X-1", 100, 0, "", "one"))
	waitFor(t, "the break", func() bool { return h.breakOf("w-b1") != nil })
	b1 := h.breakOf("w-b1").BreakID
	if n, err := h.console.sweep(ctx, day(7).Time()); err != nil || n != 0 {
		t.Errorf("Monday 9 March: %d escalations, %v; want none (5 business days)", n, err)
	}
	if n, err := h.console.sweep(ctx, day(8).Time()); err != nil || n != 1 {
		t.Fatalf("Tuesday 10 March: %d escalations, %v; want 1", n, err)
	}
	es, err := h.console.Store().Escalations(ctx, b1)
	if err != nil || len(es) != 1 || es[0].Level != 1 || es[0].Age != "6bd" || es[0].SLA != "5bd" || !strings.Contains(es[0].Detail, "6 business days") {
		t.Errorf("escalation %+v, %v", es, err)
	}
}
