package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
)

// TestReplayRealServers: a generated day decided by a running ingestor,
// matcher and loader on real Kafka, Redis and PostgreSQL with the built-in
// rules; `recon replay` with changed rules then reports exactly the
// changes that `recon reconcile` with the new rules shows against
// `recon reconcile` with the old on the same files, writes the same
// matches and breaks as that reconcile, and leaves the live system as it
// was: its topics and their offsets, its Redis keys, its warehouse rows.
func TestReplayRealServers(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisURL := testenv.Redis(t)
	dbURL, schema := testenv.PostgresSchema(t, "replay")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := fmt.Sprint(time.Now().UnixNano())
	dir := t.TempDir()

	// The day, on disk under the names every run reads them by.
	n := gen.DefaultNoise()
	n.Pairs, n.Accounts, n.BankOnly, n.LedgerOnly, n.Seed, n.BankFileName = 400, 4, 12, 12, 2718, "bank.csv"
	var bankB, ledgerB, truth bytes.Buffer
	if err := gen.WriteNoisy(n, &bankB, &ledgerB, &truth); err != nil {
		t.Fatal(err)
	}
	bankPath, ledgerPath := filepath.Join(dir, "bank.csv"), filepath.Join(dir, "ledger.csv")
	for p, b := range map[string][]byte{bankPath: bankB.Bytes(), ledgerPath: ledgerB.Bytes()} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// New rules: no unique-amount and no weak counterparty proposals, and
	// the exact rule only a business day either way.
	newRules := engine.DefaultConfig()
	var kept []engine.Rule
	for _, r := range newRules.Rules {
		switch r.Name {
		case "unique-amount", "amount-date-counterparty-weak":
			continue
		case "exact":
			r.Date.Before, r.Date.After = 1, 1
		}
		kept = append(kept, r)
	}
	newRules.Rules = kept
	if err := newRules.Validate(); err != nil {
		t.Fatal(err)
	}

	// The batch runs the replay must agree with.
	oldDir, newDir := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for _, c := range []struct {
		out   string
		rules engine.Config
	}{{oldDir, engine.DefaultConfig()}, {newDir, newRules}} {
		if _, err := Run(ctx, Config{Bank: []string{bankPath}, Ledger: []string{ledgerPath}, Out: c.out, Rules: c.rules}); err != nil {
			t.Fatal(err)
		}
	}
	want := diffOutputs(readOutputs(t, oldDir), readOutputs(t, newDir), func(record.Date) bool { return true })
	if len(want.Lines) < 10 {
		t.Fatalf("the rules change only %d decisions: not a test", len(want.Lines))
	}

	// The live system: both files ingested, then the matcher and loader.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	kc := kafka.Config{Brokers: brokers, Partitions: 4, ReplicationFactor: 1, Provision: true, TopicPrefix: "replay-" + run + "."}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	icfg := ingestor.Defaults()
	icfg.Kafka, icfg.TransactionalID, icfg.Manual, icfg.ConsumeEvents = kc, "replay-"+run, true, false
	icfg.MaxFileSize, icfg.TempDir = 1<<30, t.TempDir()
	ing, err := ingestor.New(ctx, icfg, ingestor.Deps{Log: log, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		side record.Side
	}{{bankPath, record.Bank}, {ledgerPath, record.Ledger}} {
		if _, err := ing.IngestPath(ctx, f.path, f.path, f.side); err != nil {
			t.Fatal(err)
		}
	}
	ing.Close()
	shift := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Now()) // idle advancement closes the March windows
	mcfg := matcher.Defaults()
	mcfg.Kafka, mcfg.Group, mcfg.RedisPrefix = kc, "replay-matcher-"+run, "replay-live-"+run
	mcfg.IdleAdvance, mcfg.MinPending, mcfg.Now = 3*time.Second, time.Second, func() time.Time { return time.Now().Add(shift) }
	mat, err := matcher.New(ctx, mcfg, matcher.Deps{Log: log, Metrics: prometheus.NewRegistry(), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	lcfg := loader.Defaults()
	lcfg.Kafka, lcfg.Group, lcfg.DatabaseURL, lcfg.BatchInterval = kc, "replay-loader-"+run, dbURL, 200*time.Millisecond
	lo, err := loader.New(ctx, lcfg, loader.Deps{Log: log, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	sctx, stop := context.WithCancel(ctx)
	for _, s := range []func(context.Context) error{mat.Run, lo.Run} {
		go func() { errs <- s(sctx) }()
	}
	// Bounded wait: the warehouse says what the batch run with the old
	// rules says (continuous mode decides as batch mode).
	liveDir := filepath.Join(dir, "live")
	deadline := time.Now().Add(120 * time.Second)
	for {
		if _, err := Export(ctx, dbURL, liveDir, false); err == nil && sameFile(t, liveDir, oldDir, "matches.jsonl") && sameFile(t, liveDir, oldDir, "breaks.jsonl") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after 120 s the live warehouse still differs from recon reconcile with the old rules")
		}
		select {
		case err := <-errs:
			t.Fatalf("a live service stopped: %v", err)
		case <-time.After(time.Second):
		}
	}
	stop()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	before := liveState(t, ctx, kc, rdb, conn, schema, "replay-live-"+run)

	// The replay, on the same Redis under its own prefix.
	out := filepath.Join(dir, "replay")
	var progress bytes.Buffer
	live := kc
	live.Provision = false
	// The generated day starts 23 March 2026; far-dated entries run weeks
	// after it: the period from 1 March covers everything.
	d, err := Replay(ctx, ReplayConfig{Live: live, DatabaseURL: dbURL, RedisURL: redisURL, Rules: newRules,
		From: record.MakeDate(2026, 3, 1), Out: out, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	sum := d.Summary
	t.Logf("replay:\n%s", progress.String()[max(0, progress.Len()-800):])
	var got []DiffLine
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(out, "diff.jsonl"))), "\n") {
		var d DiffLine
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if !reflect.DeepEqual(got, want.Lines) {
		t.Errorf("replay diff: %d lines, reconcile old vs new: %d lines", len(got), len(want.Lines))
		for i := 0; i < max(len(got), len(want.Lines)) && i < 10; i++ {
			if i >= len(got) || i >= len(want.Lines) || !reflect.DeepEqual(got[i], want.Lines[i]) {
				t.Errorf("first difference at line %d", i+1)
				break
			}
		}
	}
	if !reflect.DeepEqual(sum.Matches, want.Summary.Matches) || !reflect.DeepEqual(sum.Breaks, want.Summary.Breaks) {
		t.Errorf("replay summary %+v %+v, want %+v %+v", sum.Matches, sum.Breaks, want.Summary.Matches, want.Summary.Breaks)
	}
	for _, f := range []string{"matches.jsonl", "breaks.jsonl"} {
		if !sameFile(t, out, newDir, f) {
			t.Errorf("the replay's %s differs from recon reconcile's with the new rules", f)
		}
	}
	if after := liveState(t, ctx, kc, rdb, conn, schema, "replay-live-"+run); !reflect.DeepEqual(before, after) {
		t.Errorf("the replay changed the live system:\n before %v\n after  %v", before, after)
	}
	if keys, _ := rdb.Keys(ctx, "reconcile-replay-*").Result(); len(keys) > 0 {
		t.Errorf("the replay left %d Redis keys, e.g. %s", len(keys), keys[0])
	}
}

// liveState is what a replay must not change: the live topics and their
// end offsets, the live Redis keys, the warehouse's row counts.
func liveState(t *testing.T, ctx context.Context, kc kafka.Config, rdb redis.UniversalClient, conn *pgx.Conn, schema, prefix string) map[string]string {
	t.Helper()
	cl, err := kafka.NewClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	var names []string
	for name := range topics {
		if strings.HasPrefix(name, kc.TopicPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	state["topics"] = strings.Join(names, ",")
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) { state[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = fmt.Sprint(o.Offset) })
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	state["redis keys"] = fmt.Sprint(len(keys))
	for _, table := range []string{"recon_matches", "recon_match_items", "recon_breaks", "recon_break_clears"} {
		var c int
		if err := conn.QueryRow(ctx, "SELECT COUNT(*) FROM "+schema+"."+table).Scan(&c); err != nil {
			t.Fatal(err)
		}
		state[table] = fmt.Sprint(c)
	}
	return state
}

func sameFile(t *testing.T, a, b, name string) bool {
	x, errA := os.ReadFile(filepath.Join(a, name))
	y, errB := os.ReadFile(filepath.Join(b, name))
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readOutputs reads a reconcile output folder back into outputs (the
// fields the diff compares).
func readOutputs(t *testing.T, dir string) *outputs {
	t.Helper()
	type item struct {
		ID             string      `json:"id"`
		Amount         string      `json:"amount"`
		BookingDate    record.Date `json:"booking_date"`
		SourcePosition int64       `json:"source_position"`
	}
	conv := func(it item, cur string) record.Item {
		a, err := money.Parse(it.Amount)
		if err != nil {
			t.Fatal(err)
		}
		return record.Item{ID: it.ID, Currency: cur, Amount: a, BookingDate: it.BookingDate, SourcePosition: it.SourcePosition}
	}
	out := &outputs{}
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "matches.jsonl"))), "\n") {
		var m struct {
			MatchID  string             `json:"match_id"`
			Rule     string             `json:"rule"`
			Account  string             `json:"account"`
			Currency string             `json:"currency"`
			Status   record.MatchStatus `json:"status"`
			Bank     []item             `json:"bank"`
			Ledger   []item             `json:"ledger"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		rm := &record.Match{MatchID: m.MatchID, Rule: m.Rule, Status: m.Status, Account: m.Account, Currency: m.Currency}
		for _, it := range m.Bank {
			rm.Bank = append(rm.Bank, conv(it, m.Currency))
		}
		for _, it := range m.Ledger {
			rm.Ledger = append(rm.Ledger, conv(it, m.Currency))
		}
		out.matches = append(out.matches, rm)
	}
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "breaks.jsonl"))), "\n") {
		var b struct {
			BreakID  string             `json:"break_id"`
			Side     record.Side        `json:"side"`
			Reason   record.BreakReason `json:"reason"`
			Account  string             `json:"account"`
			Currency string             `json:"currency"`
			Record   item               `json:"record"`
		}
		if err := json.Unmarshal([]byte(l), &b); err != nil {
			t.Fatal(err)
		}
		out.breaks = append(out.breaks, &record.Break{BreakID: b.BreakID, Side: b.Side, Reason: b.Reason, Account: b.Account,
			Currency: b.Currency, Record: conv(b.Record, b.Currency)})
	}
	return out
}
