package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of three primaries with one replica
// each, every node redis-server with AOF (appendfsync always), started by
// the test and stopped when it ends.
type RedisCluster struct {
	t     testing.TB
	dir   string
	Ports []int
	URL   string // redis://…?addr=…: the seeds, for redisconn.Open
	nodes *nodes
}

// StartRedisCluster starts the six nodes (Debian's redis-server; the
// same binary as REDIS_URL's server, so the test needs what
// scripts/testenv.sh installs), joins them with redis-cli --cluster
// create and waits until every node reports the cluster ok.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	require(t, "REDIS_URL", "redis-server")
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Logf("server: %s ran against a redis cluster (3 primaries, 3 replicas) of %s", t.Name(), bin)
	c := &RedisCluster{t: t, dir: t.TempDir(), Ports: clusterPorts(t, 6), nodes: newNodes()}
	t.Cleanup(c.nodes.stopAll)
	for _, p := range c.Ports {
		c.Start(p)
	}
	var addrs []string
	for _, p := range c.Ports {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.URL = "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	c.WaitOK(90 * time.Second)
	return c
}

// WaitOK waits until every running node reports cluster_state:ok with
// every slot served, and every running replica's link to its primary is
// up (a replica still syncing cannot take over).
func (c *RedisCluster) WaitOK(bound time.Duration) {
	c.t.Helper()
	WaitUntil(c.t, bound, func() string {
		for _, p := range c.running() {
			cl := node(p)
			info, err := cl.ClusterInfo(context.Background()).Result()
			repl, rerr := cl.Info(context.Background(), "replication").Result()
			cl.Close()
			if err != nil || rerr != nil {
				return fmt.Sprintf("node %d: %v %v", p, err, rerr)
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				return fmt.Sprintf("node %d: cluster not ok yet", p)
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return fmt.Sprintf("node %d: a replica whose link to its primary is not up yet", p)
			}
		}
		return ""
	})
}

// Start starts (or restarts, from its AOF and nodes file) the node on port.
func (c *RedisCluster) Start(port int) {
	c.t.Helper()
	dir := filepath.Join(c.dir, strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	c.nodes.start(c.t, port, filepath.Join(dir, "redis.log"), "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
		// A replica takes over however long its link was down (the matchers
		// WAIT for it, so it has every acknowledged batch).
		"--cluster-replica-validity-factor", "0",
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
		err := cl.Ping(context.Background()).Err()
		cl.Close()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("redis node %d did not answer in 30 s: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill ends the node on port with SIGKILL.
func (c *RedisCluster) Kill(port int) { c.nodes.kill(port) }

// node returns a client for the node on port.
func node(port int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
}

// PrimaryOf returns the port of the primary serving key's slot, as the
// node on any running port sees it.
func (c *RedisCluster) PrimaryOf(key string) int {
	c.t.Helper()
	ctx := context.Background()
	for _, p := range c.running() {
		cl := node(p)
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			cl.Close()
			continue
		}
		slots, err := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				_, port, _ := strings.Cut(s.Nodes[0].Addr, ":")
				n, _ := strconv.Atoi(port)
				return n
			}
		}
	}
	c.t.Fatalf("no node knows the primary of %s", key)
	return 0
}

func (c *RedisCluster) running() []int {
	var out []int
	for _, p := range c.Ports {
		if c.nodes.running(p) {
			out = append(out, p)
		}
	}
	return out
}

// Role returns "master" or "slave" for the node on port.
func (c *RedisCluster) Role(port int) string {
	cl := node(port)
	defer cl.Close()
	info, _ := cl.Info(context.Background(), "replication").Result()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return v
		}
	}
	return ""
}

// clusterPorts returns n free ports whose cluster bus ports (10,000
// higher, which Redis Cluster requires to stay under 65,536) are free too.
func clusterPorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n && tries < 1000; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port > 55535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			l.Close()
			continue
		}
		held = append(held, l, bus)
		out = append(out, port)
	}
	if len(out) < n {
		t.Fatalf("found %d of %d ports for a Redis Cluster", len(out), n)
	}
	return out
}
