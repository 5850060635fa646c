package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/services/matcher"
)

const demoPassword = "demo-pass-123"

// harness runs a console (with the embedded OpenID provider) and a matcher
// on the given servers, and produces transactions like the ingestor.
type harness struct {
	t       *testing.T
	kc      kafka.Config
	rdb     redis.UniversalClient
	dbURL   string
	addr    string // the console's address, kept across restarts
	cfgHook func(*Config)
	console *Service
	stopC   func()
	stopM   func()
	matcher *matcher.Service
	prod    *kgo.Client
	tx      *avro.Codec[record.Transaction]
}

func quietLog() *slog.Logger {
	if os.Getenv("RECON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHarness(t *testing.T, kc kafka.Config, rdb redis.UniversalClient, dbURL string, hook ...func(*Config)) *harness {
	t.Helper()
	kc.Provision, kc.ReplicationFactor = true, 1
	if kc.Partitions == 0 {
		kc.Partitions = 2
	}
	h := &harness{t: t, kc: kc, rdb: rdb, dbURL: dbURL}
	if len(hook) > 0 {
		h.cfgHook = hook[0]
	}
	var err error
	if h.prod, err = kafka.NewProducer(context.Background(), kc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.prod.Close)
	h.tx, _ = avro.NewTransactionCodec(context.Background(), avro.Embedded{}, "t")
	h.startMatcher()
	h.startConsole()
	t.Cleanup(func() {
		if h.stopC != nil {
			h.stopC()
		}
		if h.stopM != nil {
			h.stopM()
		}
	})
	return h
}

func (h *harness) startMatcher() {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := matcher.Defaults()
	cfg.Kafka, cfg.Group, cfg.MinPending, cfg.IdleAdvance = h.kc, "m-"+h.kc.TopicPrefix, time.Millisecond, 300*time.Millisecond
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.RedisPrefix = "recon-" + h.kc.TopicPrefix
	m, err := matcher.New(ctx, cfg, matcher.Deps{Log: quietLog(), Metrics: prometheus.NewRegistry(), Redis: h.rdb})
	if err != nil {
		h.t.Fatal(err)
	}
	h.matcher = m
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	h.stopM = func() { cancel(); <-done; h.stopM = nil }
}

func (h *harness) startConsole() {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Defaults()
	if h.addr == "" {
		h.addr = "127.0.0.1:0"
	}
	cfg.Addr, cfg.DatabaseURL = h.addr, h.dbURL
	cfg.Feed.Kafka, cfg.Feed.Group, cfg.Feed.BatchInterval = h.kc, "console-"+h.kc.TopicPrefix, 50*time.Millisecond
	cfg.Demo = DemoConfig{Enabled: true, Addr: "127.0.0.1:0", Password: demoPassword}
	cfg.Today = func() time.Time { return day(10).Time() }
	if h.cfgHook != nil {
		h.cfgHook(&cfg)
	}
	c, err := New(ctx, cfg, Deps{Log: quietLog(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.console = c
	h.addr = strings.TrimPrefix(c.URL(), "http://")
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	h.stopC = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("console: %v", err)
		}
		h.stopC = nil
	}
}

var day0 = record.MakeDate(2026, 3, 2)

func day(n int) record.Date { return day0 + record.Date(n) }

// txn is a transaction of account acct in EUR.
func txn(id string, side record.Side, acct, ref string, cents int64, d int, cp, desc string) *record.Transaction {
	return &record.Transaction{ID: id, Side: side, Account: acct, Currency: "EUR", Amount: money.New(cents, 2), BookingDate: day(d),
		Reference: ref, Counterparty: cp, Description: desc, SourceFile: "s3://inbox/" + string(side) + ".csv", SourcePosition: 1,
		IngestedAt: time.Now().UTC()}
}

func (h *harness) produce(ts ...*record.Transaction) {
	h.t.Helper()
	var recs []*kgo.Record
	for _, t := range ts {
		v, err := h.tx.Encode(nil, t)
		if err != nil {
			h.t.Fatal(err)
		}
		topic := kafka.TopicBankTransactions
		if t.Side == record.Ledger {
			topic = kafka.TopicLedgerTransactions
		}
		recs = append(recs, &kgo.Record{Topic: h.kc.Topic(topic), Key: []byte(t.Key()), Value: v})
	}
	if err := h.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond (bounded: servers on a busy machine are slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 60 s waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// breakOf returns the break of record id from the case store (nil if none).
func (h *harness) breakOf(recordID string) *casestore.Break {
	bs, _, err := h.console.Store().ListBreaks(context.Background(), casestore.Filter{Status: "all", Text: recordID, Limit: 10})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, b := range bs {
		if b.RecordID == recordID {
			return &b
		}
	}
	return nil
}

// status is the status of record id's break ("" if none).
func (h *harness) status(recordID string) string {
	if b := h.breakOf(recordID); b != nil {
		return b.Status
	}
	return ""
}

// client is a browser-like API client with a session.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
	// set is what the console's sign-in callback set (the session cookie).
	set []*http.Cookie
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn goes through the real sign-in: the console sends the browser to
// the provider, whose login form takes the user and password, and back to
// the console's callback.
func (h *harness) signIn(user string) *client {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: h.t, base: h.console.URL()}
	c.hc = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if prev := req.Response; prev != nil && prev.Request.URL.Path == "/auth/callback" {
			c.set = prev.Cookies()
		}
		return nil
	}}
	resp, err := c.hc.Get(c.base + "/login?next=/api/v1/me")
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := hiddenID.FindSubmatch(body)
	if m == nil {
		h.t.Fatalf("no login form at %s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	form := url.Values{"id": {string(m[1])}, "username": {user}, "password": {demoPassword}}
	loginURL := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host + "/login"
	resp, err = c.hc.PostForm(loginURL, form)
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), c.base) {
		h.t.Fatalf("sign-in of %s ended at %s with %d: %s", user, resp.Request.URL, resp.StatusCode, body)
	}
	var me struct {
		User      string   `json:"user"`
		Roles     []string `json:"roles"`
		CSRFToken string   `json:"csrf_token"`
	}
	if err := json.Unmarshal(body, &me); err != nil || me.User != user || me.CSRFToken == "" {
		h.t.Fatalf("after sign-in, /api/v1/me: %s (%v)", body, err)
	}
	c.csrf = me.CSRFToken
	return c
}

func (c *client) do(method, path string, body any, csrf bool) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if csrf {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

func (c *client) get(path string) (int, map[string]any) { return c.do("GET", path, nil, false) }

// act posts an action and wants the HTTP status.
func (c *client) act(want int, req ActionRequest) map[string]any {
	c.t.Helper()
	code, out := c.do("POST", "/api/v1/actions", req, true)
	if code != want {
		c.t.Fatalf("%s %v: %d %v, want %d", req.Action, req.BreakIDs, code, out, want)
	}
	return out
}

func str(v any) string { return fmt.Sprint(v) }
