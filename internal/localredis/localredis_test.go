package localredis

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// crash abandons s the way kill -9 would: nothing is flushed or
// snapshotted, the process's server just disappears.
func crash(s *Store) {
	s.mu.Lock()
	s.closed = true
	close(s.stop)
	s.f.Close()
	s.mu.Unlock()
	s.cli.Close()
	s.raw.Close()
	s.mr.Close()
}

func open(t *testing.T, dir string, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// script is shaped like the matcher's: it checks an epoch, writes a hash
// and appends to a stream with a server-chosen id that it returns.
var script = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return redis.error_reply('FENCED') end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return redis.call('XADD', KEYS[3], '*', 'b', ARGV[3])`)

// state is everything a test compares after a restart.
type state struct {
	Meta   map[string]string
	Rec    map[string]string
	Outbox []redis.XMessage
	Notif  []string
	Set    []string
	Z      []redis.Z
	List   []string
	TTL    bool
}

func read(t *testing.T, c *redis.Client) state {
	t.Helper()
	ctx := context.Background()
	var st state
	var err error
	if st.Meta, err = c.HGetAll(ctx, "{p0}:meta").Result(); err != nil {
		t.Fatal(err)
	}
	if st.Rec, err = c.HGetAll(ctx, "{p0}:rec").Result(); err != nil {
		t.Fatal(err)
	}
	if st.Outbox, err = c.XRange(ctx, "{p0}:outbox", "-", "+").Result(); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "notified:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	st.Notif = keys
	st.Set, _ = c.SMembers(ctx, "set").Result()
	slices.Sort(st.Set)
	st.Z, _ = c.ZRangeWithScores(ctx, "z", 0, -1).Result()
	st.List, _ = c.LRange(ctx, "list", 0, -1).Result()
	ttl, _ := c.TTL(ctx, "notified:0").Result()
	st.TTL = ttl > 0
	return st
}

// work writes n rounds of the kinds of writes the services make and
// returns the outbox ids the script answered.
func work(t *testing.T, c *redis.Client, from, n int) []string {
	t.Helper()
	ctx := context.Background()
	if from == 0 {
		if err := c.HSet(ctx, "{p0}:meta", "epoch", 1).Err(); err != nil {
			t.Fatal(err)
		}
		c.SAdd(ctx, "set", "a", "b")
		c.ZAdd(ctx, "z", redis.Z{Score: 1.5, Member: "x"}, redis.Z{Score: -2, Member: "y"})
		c.RPush(ctx, "list", "1", "2", "3")
	}
	var ids []string
	for i := from; i < from+n; i++ {
		id, err := script.Run(ctx, c, []string{"{p0}:meta", "{p0}:rec", "{p0}:outbox"}, 1, "r"+strconv.Itoa(i), "v"+strconv.Itoa(i)).Text()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if i%3 == 0 {
			if err := c.XDel(ctx, "{p0}:outbox", id).Err(); err != nil {
				t.Fatal(err)
			}
		}
		pipe := c.Pipeline()
		pipe.Set(ctx, "notified:"+strconv.Itoa(i), "1", 90*24*time.Hour)
		pipe.HIncrBy(ctx, "{p0}:meta", "n", 1)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A fenced script fails the same way on replay and changes nothing.
	if err := script.Run(ctx, c, []string{"{p0}:meta", "{p0}:rec", "{p0}:outbox"}, 7, "fenced", "x").Err(); err == nil {
		t.Fatal("stale epoch was not fenced")
	}
	return ids
}

func TestCrashAndReplay(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	ids := work(t, s.Client(), 0, 50)
	want := read(t, s.Client())
	crash(s)

	s = open(t, dir, Options{})
	got := read(t, s.Client())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a crash:\n got %+v\nwant %+v", got, want)
	}
	// The ids the script answered are the ids in the replayed stream.
	for _, m := range got.Outbox {
		if !slices.Contains(ids, m.ID) {
			t.Fatalf("outbox id %s was never answered (answered %v)", m.ID, ids[:3])
		}
	}
	if len(got.Rec) != 50 || len(got.Notif) != 50 || !got.TTL || got.Meta["n"] != "50" {
		t.Fatalf("state incomplete: rec=%d notified=%d ttl=%v n=%s", len(got.Rec), len(got.Notif), got.TTL, got.Meta["n"])
	}
	// The start folded the log into a snapshot; writes go on from there.
	work(t, s.Client(), 50, 10)
	want = read(t, s.Client())
	crash(s)
	s = open(t, dir, Options{})
	if got := read(t, s.Client()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a second crash:\n got %+v\nwant %+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{})
	defer s.Close()
	if got := read(t, s.Client()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a clean close:\n got %+v\nwant %+v", got, want)
	}
}

func TestSnapshotsWhileWriting(t *testing.T) {
	dir := t.TempDir()
	var progress []Progress
	opt := Options{SnapshotBytes: 4 << 10, Progress: func(p Progress) { progress = append(progress, p) }}
	s := open(t, dir, opt)
	work(t, s.Client(), 0, 300)
	if s.gen < 3 {
		t.Fatalf("generation %d: the log was never folded into a snapshot", s.gen)
	}
	want := read(t, s.Client())
	crash(s)
	s = open(t, dir, opt)
	defer s.Close()
	if got := read(t, s.Client()); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("files %v, want the snapshot and one log", names)
	}
}

// The log is folded once it is larger than the setting and than twice
// the last snapshot: a large live state is not rewritten after every few
// writes.
func TestSnapshotAfterTwiceItsSize(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SnapshotBytes: 1 << 10})
	defer s.Close()
	ctx := context.Background()
	big := strings.Repeat("x", 64<<10)
	if err := s.Client().Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if s.gen != 2 || s.snap < 64<<10 {
		t.Fatalf("generation %d, snapshot %d bytes: a log past 1 KiB was not folded", s.gen, s.snap)
	}
	// Small writes: no new snapshot until the log is twice the snapshot.
	for i := 0; s.size <= 2*s.snap-100; i++ {
		if err := s.Client().Set(ctx, "k"+strconv.Itoa(i%50), strings.Repeat("y", 90), 0).Err(); err != nil {
			t.Fatal(err)
		}
		if s.gen != 2 {
			t.Fatalf("folded again with a log of %d bytes and a snapshot of %d", s.size, s.snap)
		}
	}
	for i := 0; s.gen == 2 && i < 100; i++ {
		s.Client().Set(ctx, "k0", strings.Repeat("y", 90), 0)
	}
	if s.gen != 3 || s.size != 0 && s.size > 1<<10 {
		t.Fatalf("generation %d, log %d bytes: a log past twice the snapshot was not folded", s.gen, s.size)
	}
}

func TestTornLastWrite(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	work(t, s.Client(), 0, 5)
	want := read(t, s.Client())
	path := filepath.Join(dir, logName(s.gen))
	crash(s)
	// A write the process did not finish: a header promising more bytes
	// than follow, then garbage.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 'h', 's', 'e'})
	f.Close()
	s = open(t, dir, Options{})
	if got := read(t, s.Client()); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	work(t, s.Client(), 5, 2)
	want = read(t, s.Client())
	crash(s)
	s = open(t, dir, Options{})
	defer s.Close()
	if got := read(t, s.Client()); !reflect.DeepEqual(got, want) {
		t.Fatalf("writes after a torn tail: got %+v\nwant %+v", got, want)
	}
}

func TestStaleLogIgnored(t *testing.T) {
	// A crash between a snapshot's rename and the removal of the log it
	// folded in leaves that log behind: it must not be replayed again.
	dir := t.TempDir()
	s := open(t, dir, Options{})
	work(t, s.Client(), 0, 5)
	old, err := os.ReadFile(filepath.Join(dir, logName(s.gen)))
	if err != nil {
		t.Fatal(err)
	}
	gen := s.gen
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, logName(gen)), old, 0o644); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{})
	defer s.Close()
	if n, _ := s.Client().HGet(context.Background(), "{p0}:meta", "n").Result(); n != "5" {
		t.Fatalf("counter %s after a stale log, want 5 (replayed twice?)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, logName(gen))); !os.IsNotExist(err) {
		t.Fatalf("stale log still there: %v", err)
	}
}

func TestWriteThatDidNotRunStopsTheStore(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	ctx := context.Background()
	if err := s.Client().Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.mr.Close() // the server is gone after the write is logged
	if err := s.Client().Set(ctx, "b", "2", 0).Err(); err == nil {
		t.Fatal("write to a stopped server succeeded")
	}
	if err := s.Client().Get(ctx, "a").Err(); err == nil {
		t.Fatal("the store kept answering after a logged write failed to run")
	}
	s.Close()
	// The restart replays the logged write.
	s = open(t, dir, Options{})
	defer s.Close()
	if v, _ := s.Client().Get(ctx, "b").Result(); v != "2" {
		t.Fatalf("b = %q after restart, want the logged write replayed", v)
	}
}

func TestUnloggableArgumentRefused(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	ctx := context.Background()
	if err := s.Client().Do(ctx, "set", "k", struct{}{}).Err(); err == nil {
		t.Fatal("an argument the log cannot hold was accepted")
	}
	if n, _ := s.Client().Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("a refused write ran")
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := entry{ms: 1764585600123, cmds: [][]string{{"hset", "k", "f", ""}, {"xadd", "s", "*", "b", "\x00\xff"}}}
	rd := newReader(bytes.NewReader(e.encode(nil)))
	got, err := rd.next()
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("got %+v, %v; want %+v", got, err, e)
	}
}

func TestCorruptLengthAllocatesNothing(t *testing.T) {
	// A header claiming a 1 GiB entry followed by 3 bytes.
	b := []byte{0, 0, 0, 64, 1, 2, 3, 4, 'a', 'b', 'c'}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := newReader(bytes.NewReader(b)).next()
	runtime.ReadMemStats(&after)
	if err != errTorn {
		t.Fatalf("err %v, want errTorn", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("reading a corrupt length allocated %d bytes", grew)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(entry{ms: 5, cmds: [][]string{{"set", "a", "b"}}}.encode(nil))
	f.Add([]byte{4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		rd := newReaderSize(bytes.NewReader(b), 64)
		for {
			e, err := rd.next()
			if err != nil {
				break
			}
			// What the reader accepts encodes back to the same bytes.
			again, err := newReaderSize(bytes.NewReader(e.encode(nil)), 64).next()
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("round trip: %+v -> %+v, %v", e, again, err)
			}
		}
		if rd.valid > int64(len(b)) {
			t.Fatalf("valid %d > %d bytes", rd.valid, len(b))
		}
	})
}

// A log of more than a MiB is folded once writes pause, though it is far
// below the size that folds it while they go on; what it held is there
// after a crash.
func TestFoldWhileIdle(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{IdleFold: 100 * time.Millisecond})
	ctx := context.Background()
	for i := 0; i < 24; i++ {
		if err := s.Client().Set(ctx, "k"+strconv.Itoa(i), strings.Repeat("v", 64<<10), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		s.Client().Del(ctx, "k"+strconv.Itoa(i))
	}
	state := func() (uint64, int64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.gen, s.size
	}
	gen, size := state()
	if size < 1<<20 || size > s.opt.SnapshotBytes {
		t.Fatalf("a log of %d bytes shows nothing", size)
	}
	deadline := time.Now().Add(30 * time.Second)
	for g, _ := state(); g == gen; g, _ = state() {
		if time.Now().After(deadline) {
			t.Fatalf("the log (%d bytes) was not folded in 30 s without writes", size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, size := state(); size != 0 {
		t.Errorf("log %d bytes after the fold", size)
	}
	if s.snap > 5*64<<10 {
		t.Errorf("snapshot %d bytes for 4 values of 64 KiB", s.snap)
	}
	crash(s)
	s = open(t, dir, Options{IdleFold: -1})
	defer s.Close()
	if n, err := s.Client().DBSize(ctx).Result(); err != nil || n != 4 {
		t.Fatalf("%d keys after the crash (%v), want 4", n, err)
	}
}
