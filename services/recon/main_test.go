package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/testenv"
	_ "modernc.org/sqlite"
)

func TestParseCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"parse", "testdata/sample/bank/2026-03-02-statement.csv", "testdata/sample/ledger/2026-03-02-gl.csv"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines", len(lines))
	}
	var first, last map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[11]), &last)
	if first["type"] != "transaction" || first["side"] != "bank" || first["amount"] != "-1250.00" || first["source_position"] != 1.0 {
		t.Errorf("first = %v", first)
	}
	if last["id"] != "GL-100006" || last["side"] != "ledger" || last["amount"] != "-75.00" {
		t.Errorf("last = %v", last)
	}
	// Same input, same output (deterministic ids).
	var again bytes.Buffer
	run([]string{"parse", "testdata/sample/bank/2026-03-02-statement.csv", "testdata/sample/ledger/2026-03-02-gl.csv"}, &again, io.Discard)
	if again.String() != out.String() {
		t.Error("parse output differs between runs")
	}
}

func TestParseReportsBadRows(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "gl.csv")
	_ = os.WriteFile(f, []byte("id,account,currency,booking_date,amount\nA,X,EUR,2026-01-01,1\nB,X,EUR,2026-13-01,1\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"parse", f}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), f+":3: entry 2: booking_date:") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestUsage(t *testing.T) {
	var errb bytes.Buffer
	if code := run([]string{"nope"}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "nope"`) {
		t.Errorf("exit %d %q", code, errb.String())
	}
	if code := run([]string{"parse"}, io.Discard, &errb); code != 2 {
		t.Errorf("parse without files: exit %d", code)
	}
	var out bytes.Buffer
	if code := run(nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "parse") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

// TestUpDemo runs the all-in-one mode with the demo day: every file is
// ingested (the late one too), the warehouse fills, and the console shows
// every break reason, proposals waiting, and answers a signed-in user.
func TestUpDemo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, []string{"--data-dir", dir, "--ops-addr", "127.0.0.1:0", "--demo", "--log-level", "warn", "--idle-advance", "500ms",
			"--console-addr", "127.0.0.1:0", "--demo-password", "pw-demo-1", "--demo-late-after", "3s"}, out, io.Discard)
	}()
	d, err := makeDemo(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	files := len(d.files) + len(d.late)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(dir, "inbox", "processed"))
		if len(ents) == files {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo files not processed (%d of %d); output: %s", len(ents), files, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "password pw-demo-1") || !strings.Contains(out.String(), "console: http://127.0.0.1:") {
		t.Errorf("up does not print the console and its users: %s", out.String())
	}
	addr := regexp.MustCompile(`metrics: http://([^/]+)/metrics`).FindStringSubmatch(out.String())
	if addr == nil {
		t.Fatalf("no metrics address in %q", out.String())
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	n := regexp.MustCompile(`recon_ingest_records_total\{side="(bank|ledger)"\} (\d+)`).FindAllStringSubmatch(string(body), -1)
	if len(n) != 2 {
		t.Fatalf("ingest metrics: %v", n)
	}
	for _, m := range n {
		if v, _ := strconv.Atoi(m[2]); v < 150 {
			t.Errorf("%s records ingested: %d, want a few hundred over the day", m[1], v)
		}
	}
	// The console's case store (in the warehouse's file, which has no
	// cases.db beside it): every break reason, proposals waiting.
	if _, err := os.Stat(filepath.Join(dir, "cases.db")); err == nil {
		t.Error("a new data dir has a cases.db: the case store is in recon.db")
	}
	cases, err := sql.Open("sqlite", filepath.Join(dir, "recon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cases.Close()
	for {
		reasons := map[string]bool{}
		rows, err := cases.Query("SELECT DISTINCT reason FROM case_breaks")
		if err == nil {
			for rows.Next() {
				var r string
				_ = rows.Scan(&r)
				reasons[r] = true
			}
			rows.Close()
		}
		var proposals, accounts int
		_ = cases.QueryRow("SELECT COUNT(*) FROM case_matches WHERE status = 'proposed'").Scan(&proposals)
		_ = cases.QueryRow("SELECT COUNT(DISTINCT account || currency) FROM case_breaks").Scan(&accounts)
		if len(reasons) == 5 && proposals >= 3 && accounts == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("case store: reasons %v, %d proposals, %d accounts; want all 5 reasons, proposals, 2 accounts", reasons, proposals, accounts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("up: %v", err)
	}
}

func TestReconcileNamesMissingFiles(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"reconcile", "--bank", "/no/such/file", "--ledger", "testdata/sample/ledger/2026-03-02-gl.csv", "nor/this.csv", "--out", t.TempDir()}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := "recon reconcile: /no/such/file: no such file or directory\nrecon reconcile: nor/this.csv: no such file or directory\n"
	if errb.String() != want {
		t.Errorf("stderr %q, want %q (one line per file, no usage)", errb.String(), want)
	}
	errb.Reset()
	if code := run([]string{"reconcile", "--bank", "testdata/sample/bank/2026-03-02-statement.csv"}, &out, &errb); code != 2 ||
		!strings.HasSuffix(errb.String(), "recon reconcile: usage: give --bank and/or --ledger files and --out\n") {
		t.Errorf("without --out: exit %d, stderr %q", code, errb.String())
	}
}

func TestProblemLines(t *testing.T) {
	err := errors.Join(errors.New("a.csv: no such file or directory"),
		errors.New("warehouse: connect: failed to connect to `user=x`:\n\t127.0.0.1:1: dial error: refused\n\t127.0.0.1:1: dial error: refused"))
	want := []string{"a.csv: no such file or directory", "warehouse: connect: failed to connect to `user=x`: 127.0.0.1:1: dial error: refused"}
	if got := problemLines(err); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// Every service prints its settings with --print-config, secrets
// redacted, and stops there.
func TestPrintConfig(t *testing.T) {
	secret := t.TempDir() + "/secret"
	for _, c := range [][]string{
		{"loader", "--database-url", "postgres://recon:pg-pass-1@db/recon"},
		{"matcher", "--redis-url", "redis://:redis-pass-2@cache:6379/0"},
		{"console", "--demo-idp", "--demo-password", "demo-pass-3", "--database-url", "postgres://recon:pg-pass-1@db/cases"},
		{"notifier", "--webhook-url", "https://hooks.example/in?token=hook-token-4", "--webhook-secret-file", secret},
		{"ingestor", "--schema-registry-url", "https://reg:reg-pass-5@registry:8081"},
	} {
		var out, errb strings.Builder
		if code := run(append(c, "--print-config"), &out, &errb); code != 0 {
			t.Errorf("%s --print-config: exit %d: %s", c[0], code, errb.String())
			continue
		}
		for _, s := range []string{"pg-pass-1", "redis-pass-2", "demo-pass-3", "hook-token-4", "reg-pass-5"} {
			if strings.Contains(out.String(), s) {
				t.Errorf("%s --print-config shows the secret %q:\n%s", c[0], s, out.String())
			}
		}
		if !strings.Contains(out.String(), "kafka-brokers = localhost:9092") || !strings.Contains(out.String(), strings.TrimPrefix(c[1], "--")+" = ") {
			t.Errorf("%s --print-config lacks settings:\n%s", c[0], out.String())
		}
	}
}
