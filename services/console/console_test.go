package console

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/xuri/excelize/v2"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// dataset is a day of account A: three records only a person can match
// (b1 = l1 + l2), two pairs the rules only propose, a bank fee to accept,
// a fee to write off and a break to comment on and assign.
func dataset() []*record.Transaction {
	return []*record.Transaction{
		txn("b1", record.Bank, "A", "X-100", 30000, 0, "", "Payout batch 7781"),
		txn("l1", record.Ledger, "A", "Y-1", 10000, 0, "", "Invoice 1"),
		txn("l2", record.Ledger, "A", "Z-2", 20000, 0, "", "Invoice 2"),
		txn("b2", record.Bank, "A", "", -4599, 0, "ACME Office Supplies GmbH", "card"),
		txn("l3", record.Ledger, "A", "", -4599, 1, "Acme Stationery", ""), // half the name: proposed
		txn("b5", record.Bank, "A", "", -7710, 0, "Globex Digital Services", "card"),
		txn("l5", record.Ledger, "A", "", -7710, 1, "Globex Media Services", ""),
		txn("b3", record.Bank, "A", "", -450, 0, "", "Account fee March"),
		txn("b4", record.Bank, "A", "", -1200, 0, "", "Wire fee"),
		txn("b6", record.Bank, "A", "Q-77", 99900, 0, "Initech", "Unknown receipt"),
	}
}

// scenario walks every action type through console -> recon.resolutions ->
// matcher -> outcomes -> case store, with the role, CSRF and
// maker-checker checks; restart (if not nil) restarts the services in the
// middle.
func scenario(t *testing.T, h *harness, restart func()) {
	ctx := context.Background()
	h.produce(dataset()...)
	st := h.console.Store()
	waitFor(t, "8 breaks and 2 proposals in the case store", func() bool {
		n, _ := st.CountBreaks(ctx, casestore.Filter{Status: "all"})
		ps, _ := st.Proposals(ctx, 10)
		return n == 6 && len(ps) == 2
	})
	ps, _ := st.Proposals(ctx, 10)
	proposal := map[string]string{} // bank record -> proposed match id
	for _, p := range ps {
		proposal[p.Bank[0].ID] = p.MatchID
	}
	id := func(rec string) string {
		b := h.breakOf(rec)
		if b == nil {
			t.Fatalf("no break of %s", rec)
		}
		return b.BreakID
	}

	// Who may do what.
	anon := &client{t: t, base: h.console.URL(), hc: &http.Client{}}
	if code, _ := anon.get("/api/v1/breaks"); code != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", code)
	}
	viewer, preparer, preparer2 := h.signIn("viewer"), h.signIn("preparer"), h.signIn("preparer2")
	approver, admin := h.signIn("approver"), h.signIn("admin")
	viewer.act(http.StatusForbidden, ActionRequest{Action: "accept", BreakIDs: []string{id("b3")}, ReasonCode: "bank_fee"})
	if code, out := preparer.do("POST", "/api/v1/actions", ActionRequest{Action: "accept", BreakIDs: []string{id("b3")}, ReasonCode: "bank_fee"}, false); code != http.StatusForbidden {
		t.Errorf("no CSRF token: %d %v, want 403", code, out)
	}
	if code, out := preparer.get("/api/v1/breaks?status=open&account=A&sort=-amount"); code != 200 || len(out["items"].([]any)) != 6 {
		t.Errorf("queue: %d %v", code, out)
	}

	// A manual match of a bank break with two ledger breaks whose sums agree.
	out := preparer.act(200, ActionRequest{Action: "manual_match", BreakIDs: []string{id("b1"), id("l1"), id("l2")}, Comment: "payout batch"})
	if out["status"] != "applied" {
		t.Fatalf("manual match: %v", out)
	}
	manual := str(out["action_id"])
	// A proposal confirmed, another rejected.
	preparer.act(200, ActionRequest{Action: "confirm", MatchID: proposal["b2"]})
	preparer.act(200, ActionRequest{Action: "reject", MatchID: proposal["b5"], Comment: "different Globex"})
	// A bank fee accepted.
	preparer.act(200, ActionRequest{Action: "accept", BreakIDs: []string{id("b3")}, ReasonCode: "bank_fee", Comment: "monthly fee"})
	waitFor(t, "the manual match, the confirmed and the rejected proposal, the accepted fee", func() bool {
		return h.status("b1") == casestore.StatusMatched && h.status("l2") == casestore.StatusMatched &&
			h.status("b5") == casestore.StatusOpen && h.status("l5") == casestore.StatusOpen && h.status("b3") == casestore.StatusAccepted
	})
	if m, _ := st.GetMatch(ctx, proposal["b2"]); m.Status != "confirmed" {
		t.Errorf("confirmed proposal is %s", m.Status)
	}
	if code, a := preparer.get("/api/v1/actions/" + manual); code != 200 || a["status"] != casestore.ActionApplied || !strings.Contains(str(a["outcome"]), "matched 1 bank and 2 ledger") {
		t.Errorf("manual match action: %d %v", code, a)
	}

	// A write-off waits for a different approver.
	out = preparer.act(200, ActionRequest{Action: "write_off", BreakIDs: []string{id("b4")}, ReasonCode: "bank_fee", Comment: "wire fee"})
	if out["status"] != "pending_approval" {
		t.Fatalf("write-off: %v", out)
	}
	wo := str(out["action_id"])
	for _, c := range []*client{preparer, preparer2} {
		if code, out := c.do("POST", "/api/v1/approvals/"+wo, map[string]string{"decision": "approve"}, true); code != http.StatusForbidden {
			t.Errorf("approval by a preparer: %d %v, want 403", code, out)
		}
	}
	preparer2.act(http.StatusConflict, ActionRequest{Action: "accept", BreakIDs: []string{id("b4")}, ReasonCode: "bank_fee"})
	time.Sleep(500 * time.Millisecond)
	if s := h.status("b4"); s != casestore.StatusOpen {
		t.Fatalf("a pending write-off changed the break: %s", s)
	}
	if restart != nil {
		restart() // sessions live in the case store: every client stays signed in
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+wo, map[string]string{"decision": "approve", "comment": "ok"}, true); code != 200 || out["status"] != "applied" {
		t.Fatalf("approval: %d %v", code, out)
	}
	if code, _ := approver.do("POST", "/api/v1/approvals/"+wo, map[string]string{"decision": "approve"}, true); code != http.StatusConflict {
		t.Errorf("a second approval: %d, want 409", code)
	}
	waitFor(t, "the approved write-off", func() bool { return h.status("b4") == casestore.StatusWrittenOff })

	// Undo the manual match; reopen the write-off (admin only).
	mm := h.breakOf("b1").MatchedBy
	preparer.act(http.StatusForbidden, ActionRequest{Action: "reopen", BreakIDs: []string{id("b4")}, Comment: "wrong"})
	preparer.act(200, ActionRequest{Action: "unmatch", MatchID: mm, Comment: "wrong batch"})
	admin.act(200, ActionRequest{Action: "reopen", BreakIDs: []string{id("b4")}, Comment: "bank refunded the fee"})
	waitFor(t, "the undone match and the reopened break", func() bool {
		return h.status("b1") == casestore.StatusOpen && h.status("l1") == casestore.StatusOpen && h.status("b4") == casestore.StatusOpen
	})
	// A resolved break is no longer open: 409.
	preparer.act(http.StatusConflict, ActionRequest{Action: "accept", BreakIDs: []string{id("b3")}, ReasonCode: "bank_fee"})
	// Comment and assign.
	preparer.act(200, ActionRequest{Action: "comment", BreakIDs: []string{id("b6")}, Comment: "asked Initech"})
	preparer.act(200, ActionRequest{Action: "assign", BreakIDs: []string{id("b6")}, Assignee: "preparer2"})
	if code, d := preparer.get("/api/v1/breaks/" + id("b6")); code != 200 || d["assignee"] != "preparer2" || len(d["comments"].([]any)) != 1 || len(d["history"].([]any)) != 2 {
		t.Errorf("break detail: %d %v", code, d)
	}
	// Booked Monday 2 March, today Thursday 12 March: 10 days, 8 business days.
	if _, d := preparer.get("/api/v1/breaks/" + id("b6")); d["age_days"] != 10.0 || d["age_business_days"] != 8.0 {
		t.Errorf("break age: %v days, %v business days; want 10 and 8", d["age_days"], d["age_business_days"])
	}

	// Every resolution was decided by the matcher exactly once.
	outcomes := readOutcomes(t, h.kc)
	seen := map[string]int{}
	for _, o := range outcomes {
		seen[o.ResolutionID]++
		if !o.Applied {
			t.Errorf("refused: %+v", o)
		}
	}
	if len(seen) != 7 { // comment and assign stay in the case store
		t.Errorf("%d resolutions decided, want 7: %v", len(seen), seen)
	}
	for rid, n := range seen {
		if n != 1 {
			t.Errorf("resolution %s decided %d times", rid, n)
		}
	}
	// The audit chain holds every action and sign-in, and verifies.
	if code, a := viewer.get("/api/v1/audit?verify=1&limit=1000"); code != 200 || a["valid"] != true || len(a["entries"].([]any)) != 16 { // 5 sign-ins, 10 actions and decisions, rule version 1 kept
		t.Errorf("audit: %d valid=%v entries=%d", code, a["valid"], len(a["entries"].([]any)))
	}
}

func readOutcomes(t *testing.T, kc kafka.Config) []*record.Outcome {
	oc, _ := avro.NewOutcomeCodec(context.Background(), avro.Embedded{}, "o")
	var out []*record.Outcome
	for _, v := range readValues(t, kc, kafka.TopicOutcomes) {
		o, err := oc.Decode(context.Background(), v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// readValues reads the values of the run's topic from its start to its end.
func readValues(t *testing.T, kc kafka.Config, topic string) [][]byte {
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(topic)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out [][]byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		f := cl.PollFetches(ctx)
		cancel()
		if f.Empty() {
			return out
		}
		f.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
	}
}

// TestConsole runs the scenario on in-process Kafka and Redis and an SQLite
// case store, restarting the console and the matcher in the middle; an
// expired session is sent to sign in again; a changed audit entry is found.
func TestConsole(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t1."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	dbPath := filepath.Join(t.TempDir(), "cases.db")
	h := newHarness(t, kc, rdb, "sqlite:"+dbPath)
	scenario(t, h, func() {
		h.stopC()
		h.stopM()
		h.startMatcher()
		h.startConsole()
	})

	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// An expired session: pages send the browser to sign in, the API says 401.
	c := h.signIn("viewer")
	if _, err := db.Exec(`UPDATE case_sessions SET expires_at = ? WHERE user_name = 'viewer'`, time.Now().Add(-time.Minute).UTC()); err != nil {
		t.Fatal(err)
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.hc.Get(c.base + "/breaks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("expired session on a page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := c.get("/api/v1/me"); code != http.StatusUnauthorized {
		t.Errorf("expired session on the API: %d", code)
	}
	// A tampered audit entry is found by verify.
	if _, err := db.Exec(`UPDATE case_audit SET entry = REPLACE(entry, '"preparer2"', '"preparer"') WHERE entry LIKE '%assign%'`); err != nil {
		t.Fatal(err)
	}
	if code, a := h.signIn("admin").get("/api/v1/audit?verify=1"); code != 200 || a["valid"] != false || a["broken_at"] == nil {
		t.Errorf("tampered chain: %d %v", code, a)
	}
}

// Pages answer for a signed-in user and carry the security headers; the
// static files and the OpenAPI document are served.
func TestPagesAndHeaders(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t2."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	h.produce(dataset()...)
	waitFor(t, "breaks", func() bool {
		n, _ := h.console.Store().CountBreaks(context.Background(), casestore.Filter{})
		return n == 6
	})
	c := h.signIn("preparer")
	b3 := h.breakOf("b3").BreakID
	for _, p := range []string{"/", "/breaks", "/breaks?status=all&sort=-amount&q=fee", "/breaks/" + b3, "/match", "/match?break_id=" + b3,
		"/proposals", "/approvals", "/audit", "/static/htmx.min.js", "/static/app.css", "/api/v1/openapi.json",
		"/api/v1/export?format=csv", "/api/v1/export?format=xlsx", "/api/v1/summary"} {
		resp, err := c.hc.Get(c.base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			continue
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if p == "/api/v1/export?format=csv" && (!strings.HasPrefix(string(body), "break_id,status") || strings.Count(string(body), "\n") != 7) {
			t.Errorf("CSV export: %s", body)
		}
		if p == "/api/v1/export?format=xlsx" {
			x, err := excelize.OpenReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("XLSX export: %v", err)
			}
			rows, err := x.GetRows("Breaks")
			if err != nil || len(rows) != 7 || rows[0][0] != "break_id" {
				t.Errorf("XLSX export: %d rows %v", len(rows), err)
			}
			amounts := map[string]bool{}
			for _, r := range rows[1:] {
				amounts[r[6]] = true // exact decimal text, never a float
			}
			if !amounts["-4.50"] || !amounts["300.00"] {
				t.Errorf("XLSX amounts %v", amounts)
			}
			x.Close()
		}
	}
	// The session cookie is HttpOnly and SameSite=Lax, not Secure on plain
	// http to loopback (browsers would drop it), and lasts the session TTL.
	var sc *http.Cookie
	for _, ck := range c.set {
		if ck.Name == cookieSession {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure || sc.MaxAge != int(Defaults().SessionTTL.Seconds()) || sc.Path != "/" {
		t.Errorf("session cookie %+v", sc)
	}
	resp, _ := (&http.Client{}).Get(c.base + "/breaks")
	if resp.Request.URL.Path != "/login" && !strings.Contains(resp.Request.URL.String(), "authRequestID") {
		t.Errorf("a page without a session did not lead to sign-in: %s", resp.Request.URL)
	}
	resp.Body.Close()
	// The embedded provider listens on loopback only.
	if _, err := New(context.Background(), func() Config {
		cfg := Defaults()
		cfg.Demo = DemoConfig{Enabled: true, Addr: "0.0.0.0:0", Password: "x"}
		cfg.Feed.Kafka = kc
		cfg.Addr, cfg.DatabaseURL = "127.0.0.1:0", "sqlite:"+filepath.Join(t.TempDir(), "c.db")
		return cfg
	}(), Deps{Log: quietLog()}); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("embedded provider on 0.0.0.0: %v", err)
	}
}

// A write-off under its currency's limit needs no second person; one over
// it waits for an approver; a malformed limit is a configuration error.
func TestWriteOffLimit(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t3."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"), func(c *Config) { c.WriteOffLimits = []string{"EUR=5.00"} })
	h.produce(dataset()...)
	waitFor(t, "breaks", func() bool {
		n, _ := h.console.Store().CountBreaks(context.Background(), casestore.Filter{})
		return n == 6
	})
	p := h.signIn("preparer")
	if out := p.act(200, ActionRequest{Action: "write_off", BreakIDs: []string{h.breakOf("b3").BreakID}, ReasonCode: "bank_fee"}); out["status"] != "applied" {
		t.Errorf("write-off of 4.50 under a 5.00 limit: %v", out)
	}
	if out := p.act(200, ActionRequest{Action: "write_off", BreakIDs: []string{h.breakOf("b4").BreakID}, ReasonCode: "bank_fee"}); out["status"] != "pending_approval" {
		t.Errorf("write-off of 12.00 over a 5.00 limit: %v", out)
	}
	waitFor(t, "the write-off under the limit", func() bool { return h.status("b3") == casestore.StatusWrittenOff })
	cfg := Defaults()
	cfg.Demo.Enabled, cfg.WriteOffLimits = true, []string{"EUR:1"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "write-off-limits") {
		t.Errorf("a malformed limit: %v", err)
	}
}
