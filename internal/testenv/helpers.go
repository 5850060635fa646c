package testenv

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that concurrent writers (a service's logs, a
// child process's output) and the test reading it share.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *Buffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *Buffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// WaitUntil calls check every half second until it answers "" (done),
// and fails the test with check's last answer (what is still missing)
// once bound has passed: asynchronous server work is waited for with a
// bound, never raced.
func WaitUntil(t testing.TB, bound time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		what := check()
		if what == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %.3000s", bound, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
