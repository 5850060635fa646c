// Package testenv gives integration tests the addresses of the real servers
// that scripts/test.sh starts (Apache Kafka, Redis, PostgreSQL, a Schema
// Registry) and the tools it installs (Chromium, Python clients). A missing
// server skips the test on a developer's machine and fails it under CI=true
// or RECON_REQUIRE_SERVERS, so CI can never pass by skipping.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
)

func require(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") == "true" || os.Getenv("RECON_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s is not set: this integration test needs %s (run scripts/test.sh)", env, what)
		}
		t.Skipf("%s not set (scripts/test.sh starts %s)", env, what)
	}
	return v
}

// Kafka returns the brokers of KAFKA_BROKERS and logs that the test runs
// against the real broker.
func Kafka(t testing.TB) []string {
	t.Helper()
	v := require(t, "KAFKA_BROKERS", "Apache Kafka")
	lockServers(t, syscall.LOCK_SH)
	t.Logf("server: %s ran against apache kafka at %s", t.Name(), v)
	return strings.Split(v, ",")
}

// Redis returns REDIS_URL.
func Redis(t testing.TB) string {
	t.Helper()
	v := require(t, "REDIS_URL", "redis-server")
	lockServers(t, syscall.LOCK_SH)
	t.Logf("server: %s ran against redis at %s", t.Name(), v)
	return v
}

// uses returns env (require) and logs what the test ran with: ran, with
// {v} standing for the value.
func uses(t testing.TB, env, what, ran string) string {
	t.Helper()
	v := require(t, env, what)
	t.Logf("server: %s %s", t.Name(), strings.ReplaceAll(ran, "{v}", v))
	return v
}

// Postgres returns DATABASE_URL.
func Postgres(t testing.TB) string {
	t.Helper()
	return uses(t, "DATABASE_URL", "PostgreSQL", "ran against postgresql")
}

// SchemaRegistry returns SCHEMA_REGISTRY_URL, a real Confluent-compatible
// Schema Registry (Apicurio Registry's ccompat API).
func SchemaRegistry(t testing.TB) string {
	t.Helper()
	return uses(t, "SCHEMA_REGISTRY_URL", "a Confluent-compatible Schema Registry", "ran against the schema registry at {v}")
}

// Python returns RECON_PYTHON, a Python with the upstream producers'
// clients (confluent-kafka, kafka-python, fastavro).
func Python(t testing.TB) string {
	t.Helper()
	return uses(t, "RECON_PYTHON", "Python with confluent-kafka and kafka-python", "ran with python at {v}")
}

// Prometheus returns PROMETHEUS, the path of Debian's prometheus (its
// promtool beside it) for the dashboards' and alerts' tests.
func Prometheus(t testing.TB) string {
	t.Helper()
	return uses(t, "PROMETHEUS", "Debian's prometheus", "ran against prometheus at {v}")
}

// Keycloak returns KEYCLOAK_HOME, Keycloak's distribution (the test
// starts it with a realm of its own).
func Keycloak(t testing.TB) string {
	t.Helper()
	return uses(t, "KEYCLOAK_HOME", "Keycloak's distribution", "ran against keycloak at {v}")
}

// Chromium returns CHROMIUM, the path of Debian's chromium for browser tests.
func Chromium(t testing.TB) string {
	t.Helper()
	return uses(t, "CHROMIUM", "Debian's chromium", "ran against chromium at {v}")
}

// MainWithRecon builds the recon binary from the package at dir (relative
// to the test's package) into a temporary folder, stores its path in *bin,
// runs the tests and removes the binary: a TestMain for tests that run
// recon as child processes.
func MainWithRecon(m *testing.M, dir string, bin *string) {
	tmp, err := os.MkdirTemp("", "recon-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(tmp, "recon")
	if out, err := exec.Command("go", "build", "-o", *bin, dir).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build recon: %v\n%s", err, out)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// FakeKafka starts an in-process Kafka (kfake, one broker) for the test
// and returns its address; it stops when the test ends.
func FakeKafka(t testing.TB) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

// LintMetrics fails the test for every problem Prometheus' linter finds in
// the metrics of g (names, units, help texts).
func LintMetrics(t testing.TB, g prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// PostgresSchema creates a fresh schema named prefix_<nanoseconds> in
// DATABASE_URL's database and returns a URL whose search_path is that
// schema, and the schema's name: each test's tables apart.
func PostgresSchema(t testing.TB, prefix string) (url, schema string) {
	t.Helper()
	base := Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema = fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, schema
}
