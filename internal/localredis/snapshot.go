package localredis

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// chunk is how many fields or members one snapshot command carries.
const chunk = 1000

func (s *Store) snapshot(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked(ctx)
}

// snapshotLocked writes the whole data set as commands into a new snapshot
// of the next generation, renames it into place and starts that
// generation's empty log. mu is held, so no write runs meanwhile.
func (s *Store) snapshotLocked(ctx context.Context) error {
	start := time.Now()
	next := s.gen + 1
	tmp := filepath.Join(s.dir, snapshotName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("embedded redis: snapshot: %w", err)
	}
	defer os.Remove(tmp) // gone after the rename; a leftover otherwise
	w := bufio.NewWriterSize(f, 1<<20)
	ms := time.Now().UnixMilli()
	var buf []byte
	put := func(cmd ...string) error {
		buf = entry{ms: ms, cmds: [][]string{cmd}}.encode(buf)
		_, err := w.Write(buf)
		return err
	}
	err = put(headerCmd, snapshotVer, strconv.FormatUint(next, 10))
	for _, sha := range slices.Sorted(maps.Keys(s.scripts)) {
		err = errors.Join(err, put("script", "load", s.scripts[sha]))
	}
	keys := s.mr.Keys()
	for _, k := range keys {
		if err != nil {
			break
		}
		err = s.dumpKey(ctx, k, put)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		var info os.FileInfo
		if info, err = os.Stat(tmp); err == nil {
			s.snap = info.Size()
		}
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, snapshotName))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("embedded redis: snapshot: %w", err)
	}
	// The snapshot holds everything: the old log is history now.
	old := filepath.Join(s.dir, logName(s.gen))
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.gen = next
	if err := s.openLog(); err != nil {
		return err
	}
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded redis: %w", err)
	}
	s.log.Info("embedded redis snapshot written", "dir", s.dir, "keys", len(keys), "generation", next,
		"ms", time.Since(start).Milliseconds())
	return nil
}

// dumpKey writes the commands that recreate key k.
func (s *Store) dumpKey(ctx context.Context, k string, put func(...string) error) error {
	many := func(cmd string, args []string, step int) error {
		for i := 0; i < len(args); i += step * chunk {
			if err := put(append([]string{cmd, k}, args[i:min(i+step*chunk, len(args))]...)...); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch t := s.mr.Type(k); t {
	case "string":
		var v string
		if v, err = s.mr.Get(k); err == nil {
			err = put("set", k, v)
		}
	case "hash":
		var m map[string]string
		if m, err = s.raw.HGetAll(ctx, k).Result(); err == nil {
			fv := make([]string, 0, 2*len(m))
			for f, v := range m { // order is irrelevant to HSET
				fv = append(fv, f, v)
			}
			err = many("hset", fv, 2)
		}
	case "set":
		var ms []string
		if ms, err = s.mr.Members(k); err == nil {
			err = many("sadd", ms, 1)
		}
	case "list":
		var l []string
		if l, err = s.mr.List(k); err == nil {
			err = many("rpush", l, 1)
		}
	case "zset":
		zs, e := s.raw.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err = e; err == nil {
			sm := make([]string, 0, 2*len(zs))
			for _, z := range zs {
				sm = append(sm, strconv.FormatFloat(z.Score, 'g', -1, 64), fmt.Sprint(z.Member))
			}
			err = many("zadd", sm, 2)
		}
	case "stream":
		es, e := s.mr.Stream(k)
		for i := 0; e == nil && i < len(es); i++ {
			e = put(append([]string{"xadd", k, es[i].ID}, es[i].Values...)...)
		}
		err = e
	default:
		return fmt.Errorf("embedded redis: snapshot: key %q has type %q, which is not kept", k, t)
	}
	if err != nil {
		return fmt.Errorf("key %q: %w", k, err)
	}
	if ttl := s.mr.TTL(k); ttl > 0 {
		return put("pexpire", k, strconv.FormatInt(ttl.Milliseconds(), 10))
	}
	return nil
}
