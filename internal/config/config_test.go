package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(file, []byte("kafka_brokers: [a:1, b:2]\nlinger: 2s\nname: fromfile\nworkers: 3\n"), 0o600)
	t.Setenv("RECON_NAME", "fromenv")
	var brokers []string
	var linger time.Duration
	var name string
	var workers int
	var flagged bool
	l := New("x")
	l.List(&brokers, "kafka-brokers", []string{"localhost:9092"}, "brokers")
	l.Duration(&linger, "linger", time.Second, "linger")
	l.String(&name, "name", "default", "name")
	l.Int(&workers, "workers", 1, "workers")
	l.Bool(&flagged, "flagged", false, "flag")
	rest, err := l.Parse([]string{"--config", file, "--flagged", "pos"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(brokers, []string{"a:1", "b:2"}) || linger != 2*time.Second || name != "fromenv" || workers != 3 || !flagged {
		t.Errorf("got brokers=%v linger=%v name=%q workers=%d flagged=%v", brokers, linger, name, workers, flagged)
	}
	if len(rest) != 1 || rest[0] != "pos" {
		t.Errorf("rest = %v", rest)
	}
}

func TestBadValueNamesSource(t *testing.T) {
	t.Setenv("RECON_WORKERS", "many")
	var workers int
	l := New("x")
	l.Int(&workers, "workers", 1, "workers")
	if _, err := l.Parse(nil); err == nil || !strings.Contains(err.Error(), "RECON_WORKERS") {
		t.Errorf("err = %v", err)
	}
}
