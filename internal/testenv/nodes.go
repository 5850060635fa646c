package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// nodes are the server processes of a test's own cluster, by number (a
// node id or a port): each can be killed and started again.
type nodes struct {
	mu    sync.Mutex
	procs map[int]*exec.Cmd
	done  map[int]chan struct{}
}

func newNodes() *nodes { return &nodes{procs: map[int]*exec.Cmd{}, done: map[int]chan struct{}{}} }

// start runs bin with args as node n, its output appended to logPath.
func (ns *nodes) start(t testing.TB, n int, logPath, bin string, args ...string) {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	ns.mu.Lock()
	ns.procs[n], ns.done[n] = cmd, done
	ns.mu.Unlock()
}

// kill ends node n with SIGKILL and waits for it.
func (ns *nodes) kill(n int) {
	ns.mu.Lock()
	cmd, done := ns.procs[n], ns.done[n]
	delete(ns.procs, n)
	ns.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// stopAll kills every node.
func (ns *nodes) stopAll() {
	ns.mu.Lock()
	var all []int
	for n := range ns.procs {
		all = append(all, n)
	}
	ns.mu.Unlock()
	for _, n := range all {
		ns.kill(n)
	}
}

// running reports whether node n was started and not killed.
func (ns *nodes) running(n int) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.procs[n] != nil
}

// exited reports whether node n's process ended.
func (ns *nodes) exited(n int) bool {
	ns.mu.Lock()
	done := ns.done[n]
	ns.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// state says what became of node n, for a failure message.
func (ns *nodes) state(n int) string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	p := ns.procs[n]
	if p == nil {
		return "not started"
	}
	select {
	case <-ns.done[n]:
		return fmt.Sprintf("pid %d exited (%v)", p.Process.Pid, p.ProcessState)
	default:
		return fmt.Sprintf("pid %d running", p.Process.Pid)
	}
}

// kafkaJars returns java, the Kafka classpath of RECON_KAFKA_CLASSPATH
// (scripts/testenv.sh resolves it) and the brokers' log4j2 file.
func kafkaJars(t testing.TB) (java, classpath, log4j string) {
	t.Helper()
	cpFile := require(t, "RECON_KAFKA_CLASSPATH", "the Apache Kafka jars")
	cpb, err := os.ReadFile(cpFile)
	if err != nil {
		t.Fatalf("RECON_KAFKA_CLASSPATH: %v", err)
	}
	if java, err = exec.LookPath("java"); err != nil {
		t.Fatalf("java: %v", err)
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(cpFile)))) // deploy/kafka/target/kafka.classpath -> the repository
	return java, strings.TrimSpace(string(cpb)), filepath.Join(root, "deploy", "kafka", "log4j2.properties")
}
