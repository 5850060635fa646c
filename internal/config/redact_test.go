package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"database-url", "postgres://recon:s3cr3t@db:5432/recon?sslmode=require", "postgres://recon:***@db:5432/recon?sslmode=require"},
		{"redis-url", "redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"},
		{"webhook-url", "https://hooks.example/x?token=abc&team=ops", "https://hooks.example/x?team=ops&token=***"},
		{"demo-password", "pw", "***"},
		{"kafka-sasl-password-file", "/run/secrets/kafka", "/run/secrets/kafka"},
		{"kafka-brokers", "a:9092,b:9092", "a:9092,b:9092"},
		{"schema-registry-url", "https://user:pass@reg:8081", "https://user:***@reg:8081"},
	} {
		if got := Redact(c.name, c.in); got != c.want {
			t.Errorf("Redact(%s, %q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestPrintRedacts(t *testing.T) {
	l := New("x")
	var db, pw string
	l.String(&db, "database-url", "", "")
	l.String(&pw, "demo-password", "", "")
	if _, err := l.Parse([]string{"--database-url", "postgres://u:topsecret@h/db", "--demo-password", "letmein"}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l.Print(&b)
	out := b.String()
	if strings.Contains(out, "topsecret") || strings.Contains(out, "letmein") || !strings.Contains(out, "database-url = postgres://u:***@h/db") {
		t.Errorf("printed settings:\n%s", out)
	}
}
