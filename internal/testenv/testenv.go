// Package testenv gives integration tests the addresses of the real servers
// that scripts/test.sh starts (Apache Kafka, Redis, PostgreSQL). A missing
// server skips the test on a developer's machine and fails it under CI=true
// or RECON_REQUIRE_SERVERS, so CI can never pass by skipping.
package testenv

import (
	"os"
	"strings"
	"testing"
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
	t.Logf("server: %s ran against apache kafka at %s", t.Name(), v)
	return strings.Split(v, ",")
}

// Redis returns REDIS_URL.
func Redis(t testing.TB) string {
	t.Helper()
	v := require(t, "REDIS_URL", "redis-server")
	t.Logf("server: %s ran against redis at %s", t.Name(), v)
	return v
}

// Postgres returns DATABASE_URL.
func Postgres(t testing.TB) string {
	t.Helper()
	v := require(t, "DATABASE_URL", "PostgreSQL")
	t.Logf("server: %s ran against postgresql", t.Name())
	return v
}
