package console

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/services/loader"
)

// pgSchema returns DATABASE_URL with a fresh schema of its own as search_path.
func pgSchema(t *testing.T, prefix string) string {
	url, _ := testenv.PostgresSchema(t, prefix)
	return url
}

// TestConsoleRealServers runs the scenario on Apache Kafka, redis-server
// and PostgreSQL (case store and warehouse), restarting the console, the
// matcher and the loader in the middle: every action reaches the warehouse
// exactly once, and recon_break_status shows what the console shows.
func TestConsoleRealServers(t *testing.T) {
	brokers := testenv.Kafka(t)
	ropt, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("c%d.", time.Now().UnixNano())
	kc := kafka.Config{Brokers: brokers, Partitions: 3, TopicPrefix: prefix}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	h := newHarness(t, kc, rdb, pgSchema(t, "cases"))
	whURL := pgSchema(t, "wh")
	startLoader := func() func() {
		ctx, cancel := context.WithCancel(context.Background())
		cfg := loader.Defaults()
		cfg.Kafka, cfg.Group, cfg.DatabaseURL, cfg.BatchInterval = h.kc, "loader-"+prefix, whURL, 100*time.Millisecond
		l, err := loader.New(ctx, cfg, loader.Deps{Log: quietLog(), Metrics: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stopL := startLoader()
	restart := func() {
		h.stopC()
		h.stopM()
		stopL()
		h.startMatcher()
		stopL = startLoader()
		h.startConsole()
	}
	scenario(t, h, restart)
	defer func() { stopL() }()

	// The warehouse: every resolution once, applied; the break statuses as in the case store.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, whURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	want := map[string]string{"b1": "open", "l1": "open", "l2": "open", "b3": "accepted", "b4": "open", "b5": "open", "l5": "open", "b6": "open"}
	waitFor(t, "the warehouse to show every resolution", func() bool {
		var n, apps int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT resolution_id) FROM recon_resolutions WHERE status = 'applied'`).Scan(&n, &apps); err != nil {
			t.Fatal(err)
		}
		if n != 7 || apps != 7 {
			return false
		}
		rows, err := conn.Query(ctx, `SELECT record_id, status FROM recon_break_status`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var r, s string
			if err := rows.Scan(&r, &s); err != nil {
				t.Fatal(err)
			}
			got[r] = s
		}
		for r, s := range want {
			if got[r] != s || h.status(r) != s {
				return false
			}
		}
		return true
	})
	var confirmed string
	if err := conn.QueryRow(ctx, `SELECT status FROM recon_match_status WHERE match_id IN (SELECT match_id FROM recon_resolutions WHERE action = 'confirm')`).Scan(&confirmed); err != nil || confirmed != "confirmed" {
		t.Errorf("confirmed proposal in the warehouse: %q %v", confirmed, err)
	}

	// The controls on the same servers: maker-checker across a restart,
	// the balance view, sign-off, lock and reopen.
	signoffScenario(t, h, restart)
	// The sign-off's two states reach the warehouse, once each.
	waitFor(t, "the sign-off states in recon_signoffs", func() bool {
		var n, reopened int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'reopened') FROM recon_signoffs`).Scan(&n, &reopened); err != nil {
			t.Fatal(err)
		}
		return n == 2 && reopened == 1
	})
	var status, approver string
	if err := conn.QueryRow(ctx, `SELECT status, approved_by FROM recon_signoff_status`).Scan(&status, &approver); err != nil ||
		status != "reopened" || approver != "approver" {
		t.Errorf("recon_signoff_status: %q %q %v", status, approver, err)
	}
}
