package durable

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/openrecon/recon/internal/testenv"
)

var reconBin string

func TestMain(m *testing.M) { testenv.MainWithRecon(m, "../../services/recon", &reconBin) }

// sink is a webhook receiver counting deliveries per break id.
type sink struct {
	mu    sync.Mutex
	count map[string]int
}

func newSink(t *testing.T) (*sink, string) {
	s := &sink{count: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Breaks []struct {
				BreakID string `json:"break_id"`
			} `json:"breaks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		for _, b := range msg.Breaks {
			s.count[b.BreakID]++
		}
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *sink) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.count)
}

// up is a `recon up` child process on one data dir.
type up struct {
	t       *testing.T
	dir     string
	args    []string
	log     *os.File
	cmd     *exec.Cmd
	done    chan struct{}
	started int
}

func (u *up) start() {
	u.t.Helper()
	cmd := exec.Command(reconBin, u.args...)
	cmd.Stdout, cmd.Stderr = u.log, u.log
	fmt.Fprintf(u.log, "=== start %d\n", u.started+1)
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	u.cmd, u.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(u.done)
	u.started++
}

// ready waits until the started process has printed its banner.
func (u *up) ready() {
	u.t.Helper()
	want := u.started
	waitFor(u.t, 2*time.Minute, "recon up start "+fmt.Sprint(want), func() bool {
		b, _ := os.ReadFile(u.log.Name())
		parts := strings.Split(string(b), "=== start ")
		return len(parts) > want && strings.Contains(parts[want], "Ctrl-C stops.")
	})
}

// stop ends the process with sig and waits for it.
func (u *up) stop(sig syscall.Signal) {
	u.t.Helper()
	_ = u.cmd.Process.Signal(sig)
	select {
	case <-u.done:
	case <-time.After(time.Minute):
		u.cmd.Process.Kill()
		u.t.Fatalf("recon up did not stop on %v:\n%s", sig, u.tail())
	}
	fmt.Fprintf(u.log, "=== stopped with %v\n", sig)
}

// metric is the sum of the samples of a metric whose line contains label,
// read from the running process's /metrics.
func (u *up) metric(name, label string) (float64, error) {
	b, _ := os.ReadFile(u.log.Name())
	parts := strings.Split(string(b), "=== start ")
	m := regexp.MustCompile(`metrics: (http://\S+/metrics)`).FindStringSubmatch(parts[len(parts)-1])
	if m == nil {
		return 0, fmt.Errorf("no metrics address printed yet")
	}
	resp, err := http.Get(m[1])
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name) && strings.Contains(line, label) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				return 0, err
			}
			sum += v
		}
	}
	return sum, nil
}

func (u *up) tail() string {
	b, _ := os.ReadFile(u.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outcome is what a run decided: match ids and open break ids.
type outcome struct {
	matches, open []string
}

func reconciled(t *testing.T, dir string) outcome {
	t.Helper()
	cmd := exec.Command(reconBin, "reconcile", "--bank", "bank/big.csv", "bank/noisy.csv", "--ledger", "ledger/big.csv", "ledger/noisy.csv", "--out", "out")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	var o outcome
	for _, f := range []string{"matches", "breaks"} {
		b, err := os.ReadFile(filepath.Join(dir, "out", f+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var v struct {
				MatchID string `json:"match_id"`
				BreakID string `json:"break_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			if f == "matches" {
				o.matches = append(o.matches, v.MatchID)
			} else {
				o.open = append(o.open, v.BreakID)
			}
		}
	}
	slices.Sort(o.matches)
	slices.Sort(o.open)
	return o
}

// warehouse reads what a recon up run has loaded: its match ids, its open
// break ids and every break id it ever emitted.
func warehouse(t *testing.T, db string) (o outcome, all []string) {
	t.Helper()
	if _, err := os.Stat(db); err != nil {
		return o, nil
	}
	c, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	col := func(q string) []string {
		rows, err := c.Query(q)
		if err != nil {
			return nil // tables not created yet
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	o.matches = col("SELECT match_id FROM recon_matches ORDER BY match_id")
	o.open = col("SELECT break_id FROM recon_break_status WHERE status = 'open' ORDER BY break_id")
	all = col("SELECT break_id FROM recon_breaks ORDER BY break_id")
	return o, all
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed, as a file transfer would: the inbox
	// never sees half a file.
	if err := os.WriteFile(dst+".part", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".part", dst); err != nil {
		t.Fatal(err)
	}
}

// rows counts the data rows of a CSV file (lines after the header).
func rows(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n")) - 1
}

// globSize adds up the sizes of the files in the folders matching pattern.
func globSize(pattern string) int64 {
	dirs, _ := filepath.Glob(pattern)
	var n int64
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
	}
	return n
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestRestartsLoseNothing is the all-in-one mode's guarantee: recon up,
// stopped at any moment (SIGKILL, or Ctrl-C) and started again on its data
// dir, ends with exactly what recon reconcile decides on the same files,
// every break notified once.
func TestRestartsLoseNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"kill", syscall.SIGKILL}, {"interrupt", syscall.SIGINT}} {
		t.Run(tc.name, func(t *testing.T) { restarts(t, tc.sig) })
	}
}

func restarts(t *testing.T, sig syscall.Signal) {
	work := t.TempDir()
	if keep := os.Getenv("RECON_DURABLE_KEEP"); keep != "" { // to look at a failure
		work = filepath.Join(keep, t.Name())
		os.RemoveAll(work)
		os.MkdirAll(work, 0o755)
	}
	// A realistic day (every break reason) and a large plain set whose
	// ingestion takes long enough to be stopped in the middle.
	for _, g := range [][]string{{"--noisy", "--pairs", "60", "--seed", "7", "--out", "noisy"},
		{"--pairs", "20000", "--accounts", "4", "--seed", "3", "--out", "big"}} {
		gen := exec.Command(reconBin, append([]string{"gen"}, g...)...)
		gen.Dir = work
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("gen: %v\n%s", err, out)
		}
	}
	files := filepath.Join(work, "files")
	for _, side := range []string{"bank", "ledger"} {
		os.MkdirAll(filepath.Join(files, side), 0o755)
		for _, set := range []string{"big", "noisy"} {
			copyFile(t, filepath.Join(work, set, side+".csv"), filepath.Join(files, side, set+".csv"))
		}
	}
	want := reconciled(t, files)
	if len(want.matches) < 100 || len(want.open) < 10 {
		t.Fatalf("data set too small: %d matches, %d breaks", len(want.matches), len(want.open))
	}

	secret := filepath.Join(work, "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	notified, url := newSink(t)
	data := filepath.Join(work, "data")
	logf, err := os.Create(filepath.Join(work, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// A record waits at least a minute in its window (min-pending), longer
	// than the whole sequence of stops below takes even on a loaded
	// machine, so no window closes before the last file is in, as at the
	// end of a reconcile. Continuous matching decides by wall-clock time:
	// with short waits, how a busy machine spreads the files over batches
	// changes which of two duplicates is matched, without any restart (the
	// matching issue's watermark per side). idle-advance then closes the
	// windows 10 s after the last input.
	u := &up{t: t, dir: data, log: logf, args: []string{"up", "--data-dir", data, "--ops-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0",
		"--min-pending", "60s", "--idle-advance", "10s", "--webhook-url", url, "--webhook-secret-file", secret,
		"--log-level", "warn"}}
	defer func() {
		if t.Failed() {
			t.Logf("recon up output:\n%s", u.tail())
		}
	}()
	db := filepath.Join(data, "recon.db")
	inbox := filepath.Join(data, "inbox")
	// A dropped file leaves its side's folder once it is acknowledged.
	processed := func(side string) bool {
		return !exists(filepath.Join(inbox, side, "big.csv")) && !exists(filepath.Join(inbox, side, "noisy.csv"))
	}
	restart := func(moment string) {
		t.Helper()
		u.stop(sig)
		t.Logf("stopped (%v) %s", sig, moment)
		u.start()
		u.ready()
	}

	u.start()
	u.ready()
	restart("before any file")

	// Each side's files: a stop just after they are dropped (before the
	// inbox took them), one while their records are being produced (the
	// transaction open, the file not acknowledged), one after they were
	// acknowledged while their records wait in their windows. The ledger
	// comes first: with the bank file first, continuous matching decides
	// some ledger duplicates differently from batch matching even without
	// any restart (the matching issue's "continuous as exact as batch").
	during := 0
	for _, side := range []string{"ledger", "bank"} {
		for _, set := range []string{"big", "noisy"} {
			copyFile(t, filepath.Join(files, side, set+".csv"), filepath.Join(inbox, side, set+".csv"))
		}
		time.Sleep(50 * time.Millisecond)
		restart("just after dropping the " + side + " files")

		topic := filepath.Join(data, "kafka", "partitions", "recon."+side+".transactions-*")
		base := globSize(topic)
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) && !processed(side) && globSize(topic) == base {
			time.Sleep(2 * time.Millisecond)
		}
		if !processed(side) && globSize(topic) > base {
			during++
			restart("while the " + side + " records were being produced")
		} else {
			t.Logf("the %s files were ingested before a stop could hit their ingestion", side)
		}
		waitFor(t, time.Minute, side+" files acknowledged", func() bool { return processed(side) })
		restart("after the " + side + " files were acknowledged, their records in open windows")
		if side == "ledger" {
			// The whole ledger is in its windows before the bank file comes.
			// Otherwise a matcher lagging after the restarts may read bank
			// records of a partition before the rest of its ledger records,
			// and continuous matching decides by arrival order (the
			// matching issue, "whatever their arrival order"), which has
			// nothing to do with durability.
			want := float64(rows(t, filepath.Join(files, "ledger", "big.csv")) + rows(t, filepath.Join(files, "ledger", "noisy.csv")))
			waitFor(t, 2*time.Minute, "every ledger record pending in its window", func() bool {
				n, err := u.metric("recon_pending_records", `side="ledger"`)
				return err == nil && n == want
			})
		}
	}
	if during == 0 {
		t.Error("no stop hit an ingestion in progress")
	}

	// The windows close once their records waited a minute and the input
	// was quiet for 10 s; then the warehouse must hold what reconcile
	// decided.
	var got outcome
	var all []string
	waitFor(t, 3*time.Minute, "the warehouse to hold every decision", func() bool {
		got, all = warehouse(t, db)
		return len(got.matches) >= len(want.matches) && len(got.open) >= len(want.open) && len(notified.snapshot()) >= len(all)
	})
	time.Sleep(2 * time.Second) // anything extra would show now
	got, all = warehouse(t, db)
	compare(t, "matches", got.matches, want.matches)
	compare(t, "open breaks", got.open, want.open)
	checkNotified(t, notified.snapshot(), all)
	if q, _ := os.ReadDir(filepath.Join(inbox, "quarantine")); len(q) > 0 {
		t.Errorf("files quarantined: %v", q)
	}

	// A stop after everything was decided changes nothing and notifies
	// nothing again.
	restart("after every window closed")
	time.Sleep(5 * time.Second)
	again, allAgain := warehouse(t, db)
	compare(t, "matches after the last restart", again.matches, want.matches)
	compare(t, "open breaks after the last restart", again.open, want.open)
	checkNotified(t, notified.snapshot(), allAgain)
	u.stop(syscall.SIGINT)
	t.Logf("%d starts: %d matches, %d open breaks, %d breaks notified once each", u.started,
		len(got.matches), len(got.open), len(all))
}

func compare(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	t.Errorf("%s: %d, want %d (as recon reconcile); missing %d %v, extra or repeated %d %v",
		what, len(got), len(want), len(missing), head(missing), len(got)-len(want)+len(missing), head(extra))
}

func checkNotified(t *testing.T, count map[string]int, breaks []string) {
	t.Helper()
	for _, b := range breaks {
		if count[b] != 1 {
			t.Errorf("break %s notified %d times, want once", b, count[b])
		}
	}
	if len(count) != len(breaks) {
		t.Errorf("%d breaks notified, the warehouse has %d", len(count), len(breaks))
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }
