package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
	"github.com/openrecon/recon/services/notifier"
)

// receiver is a webhook endpoint that checks signatures and counts
// notifications per break id. Its first request fails, to exercise retries.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	got    map[string]int
	bad    int
	calls  int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.calls == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := notifier.Verify(rc.secret, r.Header.Get(notifier.HeaderTimestamp), r.Header.Get(notifier.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var msg struct {
		Type   string `json:"type"`
		Breaks []struct {
			BreakID string `json:"break_id"`
		} `json:"breaks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.Breaks) != 1 || r.Header.Get(notifier.HeaderIdempotency) != msg.Breaks[0].BreakID {
		rc.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.got[msg.Breaks[0].BreakID]++
}

func (rc *receiver) snapshot() (map[string]int, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.got))
	for k, v := range rc.got {
		out[k] = v
	}
	return out, rc.bad
}

type runner struct {
	wg   sync.WaitGroup
	errs chan error
}

func (r *runner) start(ctx context.Context, name string, run func(context.Context) error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			r.errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// TestPipelineRealServers: a bank CSV and a ledger CSV dropped into the
// inbox end, on real Kafka, Redis and PostgreSQL, as exactly the expected
// matches and breaks in the warehouse, and one correctly signed webhook
// notification per break.
func TestPipelineRealServers(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisURL := testenv.Redis(t)
	pgURL := testenv.Postgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := fmt.Sprint(time.Now().UnixNano())

	// Warehouse in its own schema.
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := "e2e_" + run
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(pgURL, "?") {
		sep = "&"
	}
	dbURL := pgURL + sep + "search_path=" + schema

	// Input files with known truth.
	inbox := t.TempDir()
	var bank, ledger bytes.Buffer
	truth, err := gen.Write(gen.Config{Pairs: 600, BankOnly: 13, LedgerOnly: 9, Seed: 42}, &bank, &ledger)
	if err != nil {
		t.Fatal(err)
	}

	rc := &receiver{secret: []byte("s3cret-" + run), got: map[string]int{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	kc := kafka.Config{Brokers: brokers, Partitions: 4, ReplicationFactor: 1, Provision: true, TopicPrefix: "e2e-" + run + "."}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// A clock in 2027, so that idle advancement closes the March windows.
	shift := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Now())
	future := func() time.Time { return time.Now().Add(shift) }

	icfg := ingestor.Defaults()
	icfg.Kafka, icfg.TransactionalID, icfg.Inbox, icfg.ConsumeEvents, icfg.PollInterval = kc, "e2e-"+run, inbox, false, 100*time.Millisecond
	icfg.MaxFileSize, icfg.TempDir = 1<<30, t.TempDir()
	ing, err := ingestor.New(ctx, icfg, ingestor.Deps{Log: log, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	mcfg := matcher.Defaults()
	mcfg.Kafka, mcfg.Group, mcfg.RedisPrefix = kc, "e2e-matcher-"+run, "e2e-"+run
	mcfg.IdleAdvance, mcfg.MinPending, mcfg.Now = 3*time.Second, 3*time.Second, future
	mat, err := matcher.New(ctx, mcfg, matcher.Deps{Log: log, Metrics: prometheus.NewRegistry(), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	lcfg := loader.Defaults()
	lcfg.Kafka, lcfg.Group, lcfg.DatabaseURL, lcfg.BatchSize, lcfg.BatchInterval = kc, "e2e-loader-"+run, dbURL, 200, 200*time.Millisecond
	lo, err := loader.New(ctx, lcfg, loader.Deps{Log: log, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ncfg := notifier.Defaults()
	ncfg.Kafka, ncfg.Group, ncfg.RedisPrefix, ncfg.WebhookURL, ncfg.Log = kc, "e2e-notifier-"+run, "e2e-"+run, hook.URL, false
	no, err := notifier.New(ctx, ncfg.WithSecret(string(rc.secret)), notifier.Deps{Log: log, Metrics: prometheus.NewRegistry(), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{errs: make(chan error, 4)}
	r.start(ctx, "ingestor", ing.Run)
	r.start(ctx, "matcher", mat.Run)
	r.start(ctx, "loader", lo.Run)
	r.start(ctx, "notifier", no.Run)

	// Drop the files in, whole (written aside, then renamed).
	for _, f := range []struct {
		dir  string
		body []byte
	}{{"bank", bank.Bytes()}, {"ledger", ledger.Bytes()}} {
		if err := os.MkdirAll(filepath.Join(inbox, f.dir), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(inbox, f.dir, "day.csv.tmp")
		if err := os.WriteFile(tmp, f.body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, f.dir, "day.csv")); err != nil {
			t.Fatal(err)
		}
	}

	wantBreaks := len(truth.BankOnly) + len(truth.LedgerOnly)
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-r.errs:
			t.Fatal(err)
		default:
		}
		var m, b int
		_ = conn.QueryRow(ctx, fmt.Sprintf("SELECT (SELECT COUNT(*) FROM %[1]s.recon_matches), (SELECT COUNT(*) FROM %[1]s.recon_break_status WHERE status = 'open')", schema)).Scan(&m, &b)
		got, _ := rc.snapshot()
		if m == len(truth.Pairs) && b == wantBreaks && len(got) == wantBreaks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s: %d matches (want %d), %d open breaks (want %d), %d notified", m, len(truth.Pairs), b, wantBreaks, len(got))
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // anything extra would show up now

	// The warehouse holds exactly the expected pairs and breaks.
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT b.source_position, l.record_id FROM %[1]s.recon_match_items b
		JOIN %[1]s.recon_match_items l ON l.match_id = b.match_id AND l.side = 'ledger' WHERE b.side = 'bank'`, schema))
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[int64]string{}
	for rows.Next() {
		var pos int64
		var id string
		if err := rows.Scan(&pos, &id); err != nil {
			t.Fatal(err)
		}
		pairs[pos] = id
	}
	if len(pairs) != len(truth.Pairs) {
		t.Errorf("%d matched pairs, want %d", len(pairs), len(truth.Pairs))
	}
	for pos, id := range truth.Pairs {
		if pairs[pos] != id {
			t.Errorf("bank row %d matched %q, want %q", pos, pairs[pos], id)
		}
	}
	rows, err = conn.Query(ctx, fmt.Sprintf(`SELECT break_id, side, record_id, source_position FROM %s.recon_break_status WHERE status = 'open'`, schema))
	if err != nil {
		t.Fatal(err)
	}
	var gotBreaks, wantList []string
	breakIDs := map[string]bool{}
	for rows.Next() {
		var id, side, rec string
		var pos int64
		if err := rows.Scan(&id, &side, &rec, &pos); err != nil {
			t.Fatal(err)
		}
		breakIDs[id] = true
		if side == "bank" {
			gotBreaks = append(gotBreaks, fmt.Sprintf("bank#%d", pos))
		} else {
			gotBreaks = append(gotBreaks, "ledger:"+rec)
		}
	}
	for _, p := range truth.BankOnly {
		wantList = append(wantList, fmt.Sprintf("bank#%d", p))
	}
	for _, id := range truth.LedgerOnly {
		wantList = append(wantList, "ledger:"+id)
	}
	sort.Strings(gotBreaks)
	sort.Strings(wantList)
	if strings.Join(gotBreaks, ",") != strings.Join(wantList, ",") {
		t.Errorf("open breaks\n got %v\nwant %v", gotBreaks, wantList)
	}
	// One correctly signed notification per break.
	got, bad := rc.snapshot()
	if bad != 0 {
		t.Errorf("%d badly signed or malformed webhook calls", bad)
	}
	for id := range breakIDs {
		if got[id] != 1 {
			t.Errorf("break %s notified %d times", id, got[id])
		}
	}
	for id, n := range got {
		if !breakIDs[id] {
			t.Errorf("notified %s (%d times), which is not an open break", id, n)
		}
	}
	cancel()
	r.wg.Wait()
}
