// Package redisconn opens the Redis a setting names: one server
// (redis://host:6379/0) or a Redis Cluster, named by its seed nodes
// (redis://h1:6379?addr=h2:6379&addr=h3:6379) or by one address with
// cluster=1 (a cluster's configuration endpoint:
// redis://clustercfg.example:6379?cluster=1). rediss:// is TLS. The
// matcher's keys carry {pN} hash tags, so each partition's state, and the
// script that changes it, lives on one node.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// isCluster reports whether u names a Redis Cluster.
func isCluster(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	q := p.Query()
	return q.Has("addr") || q.Get("cluster") == "1" || q.Get("cluster") == "true"
}

// Open returns a client for u. Commands retry across a cluster's
// failovers (MOVED, ASK, a primary gone while its replica takes over).
func Open(u string) (redis.UniversalClient, error) {
	if !isCluster(u) {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		return redis.NewClient(opt), nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	q := p.Query()
	q.Del("cluster")
	p.RawQuery = q.Encode()
	p.Path = "" // a cluster has database 0 only
	opt, err := redis.ParseClusterURL(p.String())
	if err != nil {
		return nil, fmt.Errorf("redis cluster url: %w", err)
	}
	// A failover takes the cluster's node timeout plus an election: keep
	// redirecting and retrying long enough to ride through it.
	opt.MaxRedirects = 16
	opt.MaxRetries = 16
	opt.MinRetryBackoff, opt.MaxRetryBackoff = 100*time.Millisecond, 2*time.Second
	return redis.NewClusterClient(opt), nil
}

// OnPrimary runs write on one connection to the primary holding key's
// slot, then waits until n replicas acknowledged what it wrote there
// (WAIT counts a connection's own writes, hence one connection), so that
// a failover to a replica keeps the write. With n ≤ 0 it runs write on
// rdb itself. A redirect (the slot moved, a failover under way) or a lost
// connection is retried on the slot's primary as the cluster now sees it,
// for up to a minute; write must be safe to run again (the matcher's
// scripts refuse a batch already applied). An error reply of write's own
// (a script's) is returned at once. While the primary cannot reach n
// replicas the write waits, rather than be acknowledged and then lost.
func OnPrimary(ctx context.Context, rdb redis.UniversalClient, key string, n int, write func(redis.Cmdable) error) error {
	if n <= 0 {
		return write(rdb)
	}
	deadline := time.Now().Add(time.Minute)
	backoff := 100 * time.Millisecond
	for {
		err := onPrimary(ctx, rdb, key, n, write)
		if err == nil || !retryable(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if c, ok := rdb.(*redis.ClusterClient); ok {
			c.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func onPrimary(ctx context.Context, rdb redis.UniversalClient, key string, n int, write func(redis.Cmdable) error) error {
	var node *redis.Client
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		node = m
	case *redis.Client:
		node = c
	default:
		return fmt.Errorf("redis: replicated writes need a server or cluster client, not %T", rdb)
	}
	conn := node.Conn()
	defer conn.Close()
	if err := write(conn); err != nil {
		return err
	}
	backoff := 50 * time.Millisecond
	for {
		got, err := conn.Wait(ctx, n, 2*time.Second).Result()
		if err != nil {
			return err
		}
		if got >= int64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// retryable: the command did not run (a redirect, a cluster without a
// primary for the slot, a replica that is not writable yet) or the
// connection failed. Error replies of a script are not retried.
func retryable(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	msg := re.Error()
	for _, p := range []string{"MOVED ", "ASK ", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "READONLY", "MASTERDOWN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
