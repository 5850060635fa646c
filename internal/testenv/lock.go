package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The servers are shared by every package's test process, and the failure
// tests restart Kafka and Redis under them. A test that uses Kafka or
// Redis holds a shared lock on RECON_TESTENV_DIR/servers.lock for its
// duration; Restarts takes it exclusively, so a restart never happens
// under another package's test (it waits for them to finish, and they for
// it).

var (
	lockMu    sync.Mutex
	exclusive bool // this process holds the exclusive lock (Restarts)
)

// lockServers takes the servers' lock (how: syscall.LOCK_SH or LOCK_EX)
// until the end of t; a bounded wait, so a stuck holder fails the test
// with a message rather than hanging the run.
func lockServers(t testing.TB, how int) {
	t.Helper()
	dir := os.Getenv("RECON_TESTENV_DIR")
	if dir == "" {
		return // no shared servers
	}
	lockMu.Lock()
	if exclusive {
		lockMu.Unlock()
		return // this process restarts them: its own tests need no lock
	}
	lockMu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, "servers.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("servers lock: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), how) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			t.Fatalf("servers lock: %v", err)
		}
	case <-time.After(15 * time.Minute):
		t.Fatalf("waited 15 minutes for the servers lock %s (a failure test restarting the servers?)", f.Name())
	}
	if how == syscall.LOCK_EX {
		lockMu.Lock()
		exclusive = true
		lockMu.Unlock()
	}
	t.Cleanup(func() {
		if how == syscall.LOCK_EX {
			lockMu.Lock()
			exclusive = false
			lockMu.Unlock()
		}
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// Restarts reserves the shared servers for a test that restarts them:
// it waits until no other package's test uses Kafka or Redis, and keeps
// them waiting until t ends. Call it before Kafka and Redis.
func Restarts(t testing.TB) {
	t.Helper()
	lockServers(t, syscall.LOCK_EX)
}
