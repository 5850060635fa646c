package redisconn

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestOpen: one server, a cluster by its seeds, a cluster by one
// configuration endpoint, and a bad URL.
func TestOpen(t *testing.T) {
	one, err := Open("redis://127.0.0.1:6379/2")
	if c, ok := one.(*redis.Client); err != nil || !ok || c.Options().DB != 2 {
		t.Errorf("one server: %T %v", one, err)
	}
	for u, addrs := range map[string]int{
		"redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379": 3,
		"redis://clustercfg.example:6379?cluster=1":                   1,
	} {
		c, err := Open(u)
		cc, ok := c.(*redis.ClusterClient)
		if err != nil || !ok || len(cc.Options().Addrs) != addrs {
			t.Errorf("%s: %T %v", u, c, err)
		}
	}
	if _, err := Open("http://nope"); err == nil {
		t.Error("an http URL was accepted")
	}
}
