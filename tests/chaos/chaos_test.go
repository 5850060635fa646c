package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/notifier"
)

// hook receives webhooks, checks signatures and counts deliveries per
// break id (receivers dedupe on the Idempotency-Key, as documented).
type hook struct {
	secret []byte
	mu     sync.Mutex
	got    map[string]int
	bad    int
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notifier.Verify(h.secret, r.Header.Get(notifier.HeaderTimestamp), r.Header.Get(notifier.HeaderSignature), body, time.Now(), 10*time.Minute); err != nil {
		h.bad++
		w.WriteHeader(401)
		return
	}
	h.got[r.Header.Get(notifier.HeaderIdempotency)]++
}

func (h *hook) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.got))
	for k, v := range h.got {
		out[k] = v
	}
	return out
}

// servers are the real servers of the run.
type servers struct {
	brokers             []string
	redisURL, pgURL     string
	restartRedis        string
	restartKafka        string
	run, schema, prefix string
	dbURL               string
	conn                *pgx.Conn
	rdb                 redis.UniversalClient
	replication         int // of the topics the services create (1; 3 on a three-broker cluster)
	partitions          int // of the keyed topics (6)
}

func setup(t *testing.T, needRestarts bool) *servers {
	if needRestarts {
		testenv.Restarts(t) // no other package's test runs on the servers while they restart
	}
	s := &servers{brokers: testenv.Kafka(t), redisURL: testenv.Redis(t), pgURL: testenv.Postgres(t), replication: 1, partitions: 6}
	s.restartRedis, s.restartKafka = os.Getenv("RECON_RESTART_REDIS"), os.Getenv("RECON_RESTART_KAFKA")
	if needRestarts && (s.restartRedis == "" || s.restartKafka == "") {
		if os.Getenv("CI") == "true" || os.Getenv("RECON_REQUIRE_SERVERS") != "" {
			t.Fatal("RECON_RESTART_REDIS and RECON_RESTART_KAFKA are not set (scripts/test.sh sets them)")
		}
		t.Skip("server restart scripts not available (run scripts/test.sh)")
	}
	s.run = fmt.Sprint(time.Now().UnixNano())
	s.prefix = "chaos-" + s.run
	ctx := context.Background()
	var err error
	if s.conn, err = pgx.Connect(ctx, s.pgURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close(context.Background()) })
	s.schema = "chaos_" + s.run
	if _, err := s.conn.Exec(ctx, "CREATE SCHEMA "+s.schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(s.pgURL, "?") {
		sep = "&"
	}
	s.dbURL = s.pgURL + sep + "search_path=" + s.schema
	opt, err := redis.ParseURL(s.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	s.rdb = redis.NewClient(opt)
	t.Cleanup(func() { s.rdb.Close() })
	return s
}

func (s *servers) kafkaEnv() []string {
	return []string{"RECON_KAFKA_BROKERS=" + strings.Join(s.brokers, ","), "RECON_KAFKA_TOPIC_PREFIX=" + s.prefix + ".",
		fmt.Sprintf("RECON_KAFKA_PARTITIONS=%d", s.partitions), fmt.Sprintf("RECON_KAFKA_REPLICATION_FACTOR=%d", s.replication), "RECON_KAFKA_SESSION_TIMEOUT=6s",
		"RECON_OPS_ADDR=", "RECON_LOG_FORMAT=text", "RECON_LOG_LEVEL=warn"}
}

func (s *servers) matcherEnv() []string {
	return append(s.kafkaEnv(), "RECON_REDIS_URL="+s.redisURL, "RECON_REDIS_PREFIX="+s.prefix, "RECON_GROUP="+s.prefix+"-matcher",
		"RECON_MIN_PENDING=5s", "RECON_IDLE_ADVANCE=15s")
}

// chunk writes one bank CSV and one ledger CSV: pairs that match by
// reference, plus unmatched items on both sides; all dates within three
// days, so no window closes before the input is over.
func chunk(dir string, c, pairs, only int) (bankPath, ledgerPath string) {
	rng := rand.New(rand.NewPCG(uint64(c), 7))
	bankPath, ledgerPath = filepath.Join(dir, fmt.Sprintf("bank-%02d.csv", c)), filepath.Join(dir, fmt.Sprintf("ledger-%02d.csv", c))
	bf, _ := os.Create(bankPath)
	lf, _ := os.Create(ledgerPath)
	bw, lw := bufio.NewWriter(bf), bufio.NewWriter(lf)
	bw.WriteString("account,currency,booking_date,amount,reference\n")
	lw.WriteString("id,account,currency,booking_date,amount,reference\n")
	amount := func() string { return fmt.Sprintf("%d.%02d", rng.IntN(90000)+1, rng.IntN(100)) }
	acct := func() string { return fmt.Sprintf("ACC%03d", rng.IntN(60)) }
	for i := 0; i < pairs; i++ {
		a, amt, d := acct(), amount(), 2+rng.IntN(2)
		fmt.Fprintf(bw, "%s,EUR,2026-03-%02d,%s,CH%02d-%05d\n", a, d+rng.IntN(2), amt, c, i)
		fmt.Fprintf(lw, "L%02d-%05d,%s,EUR,2026-03-%02d,%s,CH%02d-%05d\n", c, i, a, d, amt, c, i)
	}
	for i := 0; i < only; i++ {
		fmt.Fprintf(bw, "%s,EUR,2026-03-03,%s,BO%02d-%05d\n", acct(), amount(), c, i)
		fmt.Fprintf(lw, "LO%02d-%05d,%s,EUR,2026-03-03,%s,LO%02d-%05d\n", c, i, acct(), amount(), c, i)
	}
	bw.Flush()
	lw.Flush()
	bf.Close()
	lf.Close()
	return
}

type result struct {
	matches, correct, openBreaks, breaks, dupMatches int
	pending                                          int64
}

func (s *servers) result(t *testing.T) result {
	ctx := context.Background()
	var r result
	q := func(sql string, dst *int) {
		if err := s.conn.QueryRow(ctx, strings.ReplaceAll(sql, "S.", s.schema+".")).Scan(dst); err != nil {
			*dst = -1
		}
	}
	q(`SELECT COUNT(*) FROM S.recon_matches`, &r.matches)
	q(`SELECT COUNT(*) FROM S.recon_match_items b JOIN S.recon_match_items l ON l.match_id = b.match_id AND l.side = 'ledger'
		WHERE b.side = 'bank' AND b.reference = l.reference AND b.reference LIKE 'CH%'`, &r.correct)
	q(`SELECT COUNT(*) FROM S.recon_break_status WHERE status = 'open'`, &r.openBreaks)
	q(`SELECT COUNT(*) FROM S.recon_breaks`, &r.breaks)
	q(`SELECT COUNT(*) FROM (SELECT record_id FROM S.recon_match_items GROUP BY record_id HAVING COUNT(DISTINCT match_id) > 1) d`, &r.dupMatches)
	for p := 0; p < s.partitions; p++ {
		meta := fmt.Sprintf("%s:{p%d}:meta", s.prefix, p)
		vals, _ := s.rdb.HMGet(ctx, meta, "pb", "pl").Result()
		for _, v := range vals {
			if str, ok := v.(string); ok {
				var n int64
				fmt.Sscan(str, &n)
				r.pending += n
			}
		}
		r.pending += s.rdb.ZCard(ctx, fmt.Sprintf("%s:{p%d}:due", s.prefix, p)).Val()
	}
	return r
}

// TestChaos: 202,000 records flow through two matchers, a loader and a
// notifier running as processes that are killed with SIGKILL at random
// moments (at least 20 times); Redis (AOF) and the Kafka broker are
// restarted mid-run. At the end the warehouse holds exactly the expected
// matches and breaks, every break was notified once, and Redis holds no
// pending record.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test in -short mode")
	}
	s := setup(t, true)
	dir := t.TempDir()
	const chunks, pairs, only = 20, 5000, 50
	inputs := chunks * 2 * (pairs + only)

	secretFile := filepath.Join(dir, "secret")
	_ = os.WriteFile(secretFile, []byte("chaos-secret\n"), 0o600)
	h := &hook{secret: []byte("chaos-secret"), got: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	procs := []*proc{
		newProc(t, dir, "matcher-1", s.matcherEnv(), "matcher"),
		newProc(t, dir, "matcher-2", s.matcherEnv(), "matcher"),
		newProc(t, dir, "loader", append(s.kafkaEnv(), "RECON_DATABASE_URL="+s.dbURL, "RECON_GROUP="+s.prefix+"-loader", "RECON_BATCH_SIZE=500"), "loader"),
		newProc(t, dir, "notifier", append(s.kafkaEnv(), "RECON_REDIS_URL="+s.redisURL, "RECON_REDIS_PREFIX="+s.prefix,
			"RECON_GROUP="+s.prefix+"-notifier", "RECON_WEBHOOK_URL="+srv.URL, "RECON_WEBHOOK_SECRET_FILE="+secretFile, "RECON_LOG_BREAKS=false"), "notifier"),
	}
	// The ingestor runs in the test: it produces the chunks while the others die.
	kc := kafka.Config{Brokers: s.brokers, TopicPrefix: s.prefix + ".", Partitions: 6, ReplicationFactor: 1, Provision: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ing, err := ingestor.New(ctx, manualIngestor(kc, s.prefix, dir),
		ingestor.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer ing.Close()
	for _, p := range procs {
		p.start()
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()

	// Chaos: kill a random service every 0.3-1.2 s and restart it shortly
	// after; restart Redis and Kafka once each.
	var kills int
	stopChaos := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		rng := rand.New(rand.NewPCG(42, 42))
		for i := 0; ; i++ {
			select {
			case <-stopChaos:
				return
			case <-time.After(time.Duration(300+rng.IntN(900)) * time.Millisecond):
			}
			switch i {
			case 8:
				if out, err := exec.Command(s.restartRedis, "0.5").CombinedOutput(); err != nil {
					t.Errorf("restart redis: %v %s", err, out)
				}
				continue
			case 16:
				if out, err := exec.Command(s.restartKafka, "1").CombinedOutput(); err != nil {
					t.Errorf("restart kafka: %v %s", err, out)
				}
				continue
			}
			p := procs[rng.IntN(len(procs))]
			p.kill()
			kills++
			time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
			p.start()
		}
	}()
	for c := 0; c < chunks; c++ {
		b, l := chunk(dir, c, pairs, only)
		for _, f := range []struct {
			path string
			side record.Side
		}{{b, record.Bank}, {l, record.Ledger}} {
			if _, err := ing.IngestPath(ctx, f.path, filepath.Base(f.path), f.side); err != nil {
				t.Fatalf("ingest %s: %v", f.path, err)
			}
		}
		time.Sleep(700 * time.Millisecond)
	}
	// Keep killing until at least 20 kills, then let everything settle.
	for kills < 20 {
		time.Sleep(200 * time.Millisecond)
	}
	close(stopChaos)
	<-chaosDone

	wantMatches, wantBreaks := chunks*pairs, chunks*2*only
	deadline := time.Now().Add(6 * time.Minute)
	var r result
	for {
		r = s.result(t)
		got := h.counts()
		if r.matches == wantMatches && r.openBreaks == wantBreaks && len(got) == r.breaks && r.pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, p := range procs {
				t.Logf("%s log tail:\n%s", p.name, p.tail())
			}
			t.Fatalf("not settled: %+v, %d notified (want %d matches, %d breaks)", r, len(got), wantMatches, wantBreaks)
		}
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second) // anything extra would show now
	r = s.result(t)
	got := h.counts()
	// Breaks that a late counterpart cleared (a window closed while a
	// matcher was down) are legitimate; each must still be notified once.
	lost := (wantMatches - r.correct) + (wantBreaks - r.openBreaks)
	duplicated := r.dupMatches + (r.matches - r.correct) + max(0, r.openBreaks-wantBreaks)
	for _, n := range got {
		if n > 1 {
			duplicated += n - 1
		}
	}
	if len(got) < r.breaks {
		lost += r.breaks - len(got)
	}
	if r.breaks > r.openBreaks {
		t.Logf("%d breaks were cleared by late counterparts", r.breaks-r.openBreaks)
	}
	if h.bad > 0 {
		t.Errorf("%d badly signed webhook calls", h.bad)
	}
	if r.pending != 0 {
		t.Errorf("Redis still holds %d pending or due records", r.pending)
	}
	if lost != 0 || duplicated != 0 {
		t.Errorf("lost %d, duplicated %d: %+v", lost, duplicated, r)
	}
	line := fmt.Sprintf("chaos: inputs=%d matches=%d breaks=%d lost=%d duplicated=%d kills=%d", inputs, r.matches, r.openBreaks, lost, duplicated, kills)
	fmt.Println(line)
	t.Log("server: " + line)
}

// TestZombieMatcher: a matcher paused past its session timeout loses its
// partitions; resumed, it can neither change the window state nor publish.
func TestZombieMatcher(t *testing.T) {
	s := setup(t, false)
	dir := t.TempDir()
	kc := kafka.Config{Brokers: s.brokers, TopicPrefix: s.prefix + ".", Partitions: 6, ReplicationFactor: 1, Provision: true}
	ctx := context.Background()
	ing, err := ingestor.New(ctx, manualIngestor(kc, s.prefix, dir),
		ingestor.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer ing.Close()
	ingest := func(c int) {
		b, l := chunk(dir, c, 500, 0)
		for _, f := range []struct {
			p    string
			side record.Side
		}{{b, record.Bank}, {l, record.Ledger}} {
			if _, err := ing.IngestPath(ctx, f.p, filepath.Base(f.p), f.side); err != nil {
				t.Fatal(err)
			}
		}
	}
	a := newProc(t, dir, "zombie", s.matcherEnv(), "matcher")
	a.start()
	defer a.stop()
	ingest(0)
	epochs := func() string {
		var parts []string
		for p := 0; p < 6; p++ {
			parts = append(parts, s.rdb.HGet(ctx, fmt.Sprintf("%s:{p%d}:meta", s.prefix, p), "epoch").Val())
		}
		return strings.Join(parts, ",")
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out; zombie log:\n%s", what, a.tail())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("first matches", func() bool { return s.matchCount(t, kc) >= 500 })
	before := epochs()
	a.signal(syscall.SIGSTOP)
	b := newProc(t, dir, "successor", s.matcherEnv(), "matcher")
	b.start()
	defer b.stop()
	waitFor("successor claims every partition", func() bool {
		e := epochs()
		old, cur := strings.Split(before, ","), strings.Split(e, ",")
		for i := range old {
			if old[i] == cur[i] {
				return false
			}
		}
		return true
	})
	ingest(1) // work only the successor may do
	waitFor("successor matches", func() bool { return s.matchCount(t, kc) >= 1000 })
	claimed := epochs()
	a.signal(syscall.SIGCONT)
	ingest(2)
	waitFor("all matches", func() bool { return s.matchCount(t, kc) >= 1500 })
	time.Sleep(8 * time.Second) // the zombie has had time to act
	if e := epochs(); e != claimed && !strings.Contains(a.tail(), "fenced") {
		t.Logf("epochs %s -> %s (a rebalance after the zombie rejoined)", claimed, e)
	}
	ids, dups := s.matchIDs(t, kc)
	if dups != 0 || len(ids) != 1500 {
		t.Errorf("matches topic: %d distinct, %d published twice (a zombie published or changed state)", len(ids), dups)
	}
}

// matchCount counts the match records on the run's matches topic.
func (s *servers) matchCount(t *testing.T, kc kafka.Config) int {
	ids, _ := s.matchIDs(t, kc)
	return len(ids)
}

func (s *servers) matchIDs(t *testing.T, kc kafka.Config) (map[string]bool, int) {
	return readKeys(t, kc, kc.Topic(kafka.TopicMatches))
}

// readKeys reads a topic from its start to its end and returns the keys
// seen and how many records repeated a key.
func readKeys(t *testing.T, kc kafka.Config, topic string) (map[string]bool, int) {
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	keys, dups := map[string]bool{}, 0
	for len(left) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		f := cl.PollFetches(ctx)
		cancel()
		if f.Empty() {
			break
		}
		f.EachRecord(func(r *kgo.Record) {
			if keys[string(r.Key)] {
				dups++
			}
			keys[string(r.Key)] = true
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return keys, dups
}

// manualIngestor is an ingestor fed by IngestPath.
func manualIngestor(kc kafka.Config, txnID, dir string) ingestor.Config {
	c := ingestor.Defaults()
	c.Kafka, c.TransactionalID, c.Manual, c.ConsumeEvents, c.MaxFileSize, c.TempDir = kc, txnID, true, false, 1<<30, dir
	return c
}
