package interop

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
)

// TestTLSAndSCRAM runs ingestor -> matcher -> loader over a broker whose
// only client listener is SASL_SSL (a certificate from a CA the test made,
// SCRAM-SHA-512): every pair is matched and loaded. A wrong password and
// an untrusted certificate are each one clear error at start-up, within
// the start-up check's bound, never a hang.
func TestTLSAndSCRAM(t *testing.T) {
	b := testenv.SecureKafka(t)
	ropt, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(pw, []byte(b.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := kafka.Config{Brokers: []string{b.Addr}, Partitions: 2, ReplicationFactor: 1, Provision: true, TopicPrefix: "sec.",
		TLS:  kafka.TLSConfig{Enabled: true, CAFile: b.CAFile},
		SASL: kafka.SASLConfig{Mechanism: b.Mechanism, User: b.User, PasswordFile: pw}}

	// What an operator gets wrong: each is one line naming the fix, fast.
	bad := filepath.Join(dir, "wrong-password")
	if err := os.WriteFile(bad, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongPW, untrusted, noTLS := kc, kc, kc
	wrongPW.SASL.PasswordFile = bad
	untrusted.TLS.CAFile = b.OtherCA
	noTLS.TLS = kafka.TLSConfig{}
	for _, c := range []struct {
		name string
		cfg  kafka.Config
		want string
	}{
		{"wrong password", wrongPW, "kafka-sasl-password-file"},
		{"untrusted certificate", untrusted, "kafka-tls-ca-file"},
		{"TLS off against a TLS listener", noTLS, "kafka: "},
	} {
		start := time.Now()
		cl, err := kafka.NewClient(c.cfg)
		if err == nil {
			cl.Close()
			t.Errorf("%s: the client started", c.name)
			continue
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("%s: the error took %s", c.name, took)
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || strings.Contains(msg, b.Password) {
			t.Errorf("%s: %q, want one line naming %s", c.name, msg, c.want)
		}
		t.Logf("%s: %v", c.name, err)
	}

	// The pipeline over TLS and SCRAM.
	var bank, ledger bytes.Buffer
	truth, err := gen.Write(gen.Config{Pairs: 300, BankOnly: 5, LedgerOnly: 5, Seed: 7}, &bank, &ledger)
	if err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(dir, "inbox")
	for _, side := range []string{"bank", "ledger"} {
		if err := os.MkdirAll(filepath.Join(inbox, side), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The services log at debug level into one buffer, scanned at the end
	// for the SCRAM password.
	var logs testenv.Buffer
	log := telemetry.NewLogger(&logs, "debug", "json")
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	icfg := ingestor.Defaults()
	icfg.Kafka, icfg.TransactionalID, icfg.Inbox, icfg.ConsumeEvents, icfg.PollInterval = kc, "sec-ingestor", inbox, false, 100*time.Millisecond
	icfg.TempDir = t.TempDir()
	ing, err := ingestor.New(ctx, icfg, ingestor.Deps{Log: log, Metrics: regs[0]})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	shift := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Now())
	mcfg := matcher.Defaults()
	mcfg.Kafka, mcfg.Group, mcfg.RedisPrefix = kc, "sec-matcher", fmt.Sprintf("sec%d", time.Now().UnixNano())
	mcfg.IdleAdvance, mcfg.MinPending, mcfg.Now = 2*time.Second, 2*time.Second, func() time.Time { return time.Now().Add(shift) }
	mat, err := matcher.New(ctx, mcfg, matcher.Deps{Log: log, Metrics: regs[1], Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "warehouse.db")
	lcfg := loader.Defaults()
	lcfg.Kafka, lcfg.Group, lcfg.DatabaseURL, lcfg.BatchInterval = kc, "sec-loader", db, 200*time.Millisecond
	lo, err := loader.New(ctx, lcfg, loader.Deps{Log: log, Metrics: regs[2]})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for name, run := range map[string]func(context.Context) error{"ingestor": ing.Run, "matcher": mat.Run, "loader": lo.Run} {
		go func() {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	for side, body := range map[string][]byte{"bank": bank.Bytes(), "ledger": ledger.Bytes()} {
		tmp := filepath.Join(inbox, side, "day.csv.tmp")
		if err := os.WriteFile(tmp, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, side, "day.csv")); err != nil {
			t.Fatal(err)
		}
	}
	wh, err := sql.Open("sqlite", strings.TrimPrefix(db, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	wantBreaks := len(truth.BankOnly) + len(truth.LedgerOnly)
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		// Matches, and the breaks no late match cleared (on a busy
		// machine one file can come long after the other).
		var matches, open int
		_ = wh.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM recon_matches), (SELECT COUNT(*) FROM recon_break_status WHERE status = 'open')`).Scan(&matches, &open)
		if matches == len(truth.Pairs) && open == wantBreaks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("over SASL_SSL after 90s: %d matches, %d open breaks; want %d and %d", matches, open, len(truth.Pairs), wantBreaks)
		}
		time.Sleep(250 * time.Millisecond)
	}
	cancel()
	var seen bytes.Buffer
	for _, r := range regs {
		mfs, _ := r.Gather()
		for _, mf := range mfs {
			_, _ = expfmt.MetricFamilyToText(&seen, mf)
		}
	}
	seen.WriteString(logs.String())
	if seen.Len() < 1000 || !strings.Contains(seen.String(), "recon_") {
		t.Fatalf("nothing to scan: %d bytes", seen.Len())
	}
	if i := strings.Index(seen.String(), b.Password); i >= 0 {
		t.Errorf("the SCRAM password is in the logs or metrics: …%s…", seen.String()[max(0, i-200):i+len(b.Password)])
	}
}
