// Package localredis is the Redis of the all-in-one mode (`recon up`): an
// in-process miniredis made durable the way a Redis server with AOF and
// `appendfsync always` is.
//
// Every write a client sends through Client is appended to a log file and
// fsynced before it runs (write-ahead), so an acknowledged write survives
// kill -9 and power loss; writes run one at a time in the order they were
// logged. Reads run concurrently and never see a write that is not on disk.
// The log is folded into a snapshot when it grows past a size, at start-up
// and at Close, so a start replays a snapshot plus a short log.
//
// What makes a replay reach the same state: each logged write carries the
// clock it ran under (miniredis takes XADD ids and times from it), scripts
// are logged by body and restored with the snapshot, a failing script fails
// the same way again, and a write that was logged but could not be run
// stops the store (every later call fails) instead of letting memory and
// disk disagree.
package localredis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Options of Open.
type Options struct {
	// SnapshotBytes folds the log into a new snapshot once it is larger
	// than this and than twice the last snapshot (as Redis rewrites its
	// append-only file: the log stays within a small multiple of what is
	// live, and a large live state is not rewritten again and again).
	// Default 8 MiB: once a day is matched little is live, and the log of
	// its writes would otherwise stay on disk until the next fold.
	SnapshotBytes int64
	// IdleFold folds a log of more than a MiB once no write came for this
	// long (default 10 s): when a day is matched the windows are nearly
	// empty, and the log of how they filled and emptied, up to twice the
	// largest snapshot, would otherwise stay on disk until the next
	// burst of writes. Negative: never.
	IdleFold time.Duration
	// Progress, if set, is called about once a second while Open loads the
	// snapshot and replays the log.
	Progress func(Progress)
	// Log receives what Open found (a torn last write, the time it took).
	Log *slog.Logger
}

// Progress of a start-up: bytes of the snapshot and log read so far.
type Progress struct {
	Phase       string // "snapshot" or "log"
	Done, Total int64
}

// Store is a durable in-process Redis.
type Store struct {
	dir  string
	opt  Options
	log  *slog.Logger
	mr   *miniredis.Miniredis
	raw  *redis.Client // replay, snapshots: no hook
	cli  *redis.Client // what services use: every write is logged first
	mu   sync.Mutex    // one write at a time: log, then run
	gen  uint64        // generation of the current log file
	f    *os.File      // log.<gen>
	size int64         // bytes in f
	snap int64         // bytes in the last snapshot
	buf  []byte
	// scripts are the bodies of the Lua scripts seen (by SHA-1), so
	// EVALSHA replays after a snapshot and snapshots restore them.
	scripts map[string]string
	failed  atomic.Pointer[error] // sticky: the store stopped
	closed  bool
	written time.Time     // the last logged write
	stop    chan struct{} // ends idleFolds
}

const (
	snapshotName = "snapshot"
	snapshotVer  = "1"
	headerCmd    = "recon-snapshot"
)

func logName(gen uint64) string { return "log." + strconv.FormatUint(gen, 10) }

// Open starts the store on dir (created if missing), loading the snapshot
// and replaying the log found there.
func Open(ctx context.Context, dir string, opt Options) (*Store, error) {
	if opt.SnapshotBytes <= 0 {
		opt.SnapshotBytes = 8 << 20
	}
	if opt.IdleFold == 0 {
		opt.IdleFold = 10 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	s := &Store{dir: dir, opt: opt, log: opt.Log, scripts: map[string]string{}, gen: 1}
	s.mr = miniredis.NewMiniRedis()
	if err := s.mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	s.raw = redis.NewClient(&redis.Options{Addr: s.mr.Addr(), MaxRetries: -1, Protocol: 2})
	ok := false
	defer func() {
		if !ok {
			s.raw.Close()
			s.mr.Close()
		}
	}()
	start := time.Now()
	replayed, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if replayed > 0 {
		// Start the next generation from a snapshot, so the next start
		// does not replay this log again.
		if err := s.snapshot(ctx); err != nil {
			return nil, err
		}
	} else if err := s.openLog(); err != nil {
		return nil, err
	}
	s.log.Info("embedded redis loaded", "dir", dir, "keys", len(s.mr.Keys()), "log_entries", replayed,
		"load_ms", time.Since(start).Milliseconds())
	s.mr.SetTime(time.Now())
	s.cli = redis.NewClient(&redis.Options{Addr: s.mr.Addr(), MaxRetries: -1, Protocol: 2})
	s.cli.AddHook(hook{s})
	s.stop = make(chan struct{})
	if opt.IdleFold > 0 {
		go s.idleFolds()
	}
	ok = true
	return s, nil
}

// idleFoldMin is the least log idleFolds folds.
const idleFoldMin = 1 << 20

// idleFolds folds the log once writes pause (Options.IdleFold).
func (s *Store) idleFolds() {
	t := time.NewTicker(max(s.opt.IdleFold/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if !s.closed && s.failure() == nil && s.size > idleFoldMin && time.Since(s.written) >= s.opt.IdleFold {
			if err := s.snapshotLocked(context.Background()); err != nil {
				s.fail(err)
				s.log.Error("embedded redis: fold while idle", "err", err)
			}
		}
		s.mu.Unlock()
	}
}

// Client is the client every service of the process uses.
func (s *Store) Client() *redis.Client { return s.cli }

// Addr is the loopback address the store listens on.
func (s *Store) Addr() string { return s.mr.Addr() }

// Close folds the log into a snapshot (so the next start is quick) and
// stops the store. A store that failed is closed without a snapshot: the
// next start replays its log.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stop)
	var err error
	if s.failure() == nil {
		err = s.snapshotLocked(context.Background())
	}
	if s.f != nil {
		err = errors.Join(err, s.f.Close())
	}
	err = errors.Join(err, s.cli.Close(), s.raw.Close())
	s.mr.Close()
	return err
}

// load restores the snapshot and replays the log that follows it; it
// returns the number of log entries replayed.
func (s *Store) load(ctx context.Context) (int, error) {
	snap := filepath.Join(s.dir, snapshotName)
	if f, err := os.Open(snap); err == nil {
		err = s.restore(ctx, f)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("embedded redis: snapshot %s: %w", snap, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("embedded redis: %w", err)
	}
	// Logs of other generations are leftovers of a snapshot that was
	// interrupted after its rename: they are in the snapshot already.
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("embedded redis: %w", err)
	}
	for _, e := range ents {
		if n := e.Name(); (strings.HasPrefix(n, "log.") && n != logName(s.gen)) || strings.HasSuffix(n, ".tmp") {
			if err := os.Remove(filepath.Join(s.dir, n)); err != nil {
				return 0, fmt.Errorf("embedded redis: %w", err)
			}
		}
	}
	path := filepath.Join(s.dir, logName(s.gen))
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("embedded redis: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("embedded redis: %w", err)
	}
	rd := newReader(f)
	n := 0
	tick := time.Now()
	for {
		e, err := rd.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTorn) {
			// The last write did not reach the disk whole: it was never
			// acknowledged, so it is dropped, as Redis does with a
			// truncated AOF.
			s.log.Warn("embedded redis: log ends in an unfinished write; dropped", "file", path,
				"bytes", info.Size()-rd.valid)
			break
		}
		if err := s.apply(ctx, e); err != nil {
			return 0, fmt.Errorf("embedded redis: replay %s entry %d: %w", path, n+1, err)
		}
		n++
		if s.opt.Progress != nil && time.Since(tick) >= time.Second {
			tick = time.Now()
			s.opt.Progress(Progress{Phase: "log", Done: rd.valid, Total: info.Size()})
		}
	}
	return n, nil
}

// restore loads a snapshot file.
func (s *Store) restore(ctx context.Context, f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	s.snap = info.Size()
	rd := newReader(f)
	hdr, err := rd.next()
	if err != nil || len(hdr.cmds) != 1 || len(hdr.cmds[0]) != 3 || hdr.cmds[0][0] != headerCmd {
		return errors.New("no snapshot header")
	}
	if hdr.cmds[0][1] != snapshotVer {
		return fmt.Errorf("snapshot version %s, this build reads %s", hdr.cmds[0][1], snapshotVer)
	}
	if s.gen, err = strconv.ParseUint(hdr.cmds[0][2], 10, 64); err != nil {
		return fmt.Errorf("snapshot generation: %w", err)
	}
	tick := time.Now()
	for i := 2; ; i++ {
		e, err := rd.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// A snapshot is written whole and renamed into place: a bad
			// entry is damage, not an unfinished write.
			return fmt.Errorf("entry %d is damaged", i)
		}
		if err := s.apply(ctx, e); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if s.opt.Progress != nil && time.Since(tick) >= time.Second {
			tick = time.Now()
			s.opt.Progress(Progress{Phase: "snapshot", Done: rd.valid, Total: info.Size()})
		}
	}
}

// apply runs a logged entry at its time. Error replies are part of the
// history (a fenced script fails again); only a failure to run is an error.
func (s *Store) apply(ctx context.Context, e entry) error {
	s.mr.SetTime(time.UnixMilli(e.ms))
	for _, c := range e.cmds {
		s.learnScript(c)
		args := make([]any, len(c))
		for i, a := range c {
			args[i] = a
		}
		err := s.raw.Do(ctx, args...).Err()
		if err != nil && !errors.Is(err, redis.Nil) && !isReply(err) {
			return err
		}
	}
	return nil
}

// isReply tells an error reply of the server from a failure to reach it.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func (s *Store) openLog() error {
	path := filepath.Join(s.dir, logName(s.gen))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	// Cut a torn tail off, so new entries follow the last valid one.
	rf, err := os.Open(path)
	if err != nil {
		f.Close()
		return fmt.Errorf("embedded redis: %w", err)
	}
	rd := newReader(rf)
	for {
		if _, err := rd.next(); err != nil {
			break
		}
	}
	rf.Close()
	if err := f.Truncate(rd.valid); err != nil {
		f.Close()
		return fmt.Errorf("embedded redis: %w", err)
	}
	if _, err := f.Seek(rd.valid, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("embedded redis: %w", err)
	}
	if err := errors.Join(f.Sync(), syncDir(s.dir)); err != nil {
		f.Close()
		return fmt.Errorf("embedded redis: %w", err)
	}
	s.f, s.size = f, rd.valid
	return nil
}

// write logs the writes among cmds, then runs them through next.
func (s *Store) write(ctx context.Context, cmds []redis.Cmder, next func(context.Context) error) error {
	all := make([][]string, len(cmds))
	writes := false
	for i, c := range cmds {
		args, write, err := loggable(c)
		if err != nil {
			c.SetErr(err)
			return err
		}
		if write {
			all[i], writes = args, true
		}
	}
	if !writes {
		// Reads, and the connection set-up a write may need while mu is
		// held, take no lock.
		if err := s.failure(); err != nil {
			return err
		}
		return next(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return err
	}
	if s.closed {
		return errors.New("embedded redis: closed")
	}
	var logged [][]string
	for _, args := range all {
		if args != nil && !s.knownToFail(args) {
			logged = append(logged, args)
		}
	}
	if len(logged) > 0 {
		now := time.Now()
		s.mr.SetTime(now)
		s.buf = entry{ms: now.UnixMilli(), cmds: logged}.encode(s.buf)
		if _, err := s.f.Write(s.buf); err != nil {
			return s.fail(fmt.Errorf("embedded redis: write log: %w", err))
		}
		if err := s.f.Sync(); err != nil {
			return s.fail(fmt.Errorf("embedded redis: sync log: %w", err))
		}
		s.size += int64(len(s.buf))
		s.written = time.Now()
		for _, c := range logged {
			s.learnScript(c)
		}
	}
	// Once logged, a write must run: a cancelled caller does not stop it.
	err := next(context.WithoutCancel(ctx))
	for _, e := range append([]error{err}, cmdErrs(cmds)...) {
		if e != nil && !errors.Is(e, redis.Nil) && !isReply(e) {
			return s.fail(fmt.Errorf("embedded redis: a logged write did not run (restart to replay it): %w", e))
		}
	}
	if s.size > max(s.opt.SnapshotBytes, 2*s.snap) {
		if e := s.snapshotLocked(context.Background()); e != nil {
			return s.fail(e)
		}
	}
	return err
}

func cmdErrs(cmds []redis.Cmder) []error {
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		errs[i] = c.Err()
	}
	return errs
}

// failure is the error that stopped the store, or nil.
func (s *Store) failure() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail stops the store: every later call answers err.
func (s *Store) fail(err error) error {
	s.failed.CompareAndSwap(nil, &err)
	return s.failure()
}

// knownToFail is true for an EVALSHA of a script the store has not seen:
// it fails with NOSCRIPT now and the client sends EVAL next, but after a
// snapshot restored the script it would run on replay, twice with the EVAL.
// Called with mu held.
func (s *Store) knownToFail(args []string) bool {
	if !strings.EqualFold(args[0], "evalsha") || len(args) < 2 {
		return false
	}
	_, ok := s.scripts[strings.ToLower(args[1])]
	return !ok
}

func (s *Store) learnScript(c []string) {
	switch {
	case strings.EqualFold(c[0], "eval") && len(c) > 1:
		s.scripts[sha1hex(c[1])] = c[1]
	case strings.EqualFold(c[0], "script") && len(c) > 2 && strings.EqualFold(c[1], "load"):
		s.scripts[sha1hex(c[2])] = c[2]
	}
}

// hook sends every call of the services' client through Store.write.
type hook struct{ s *Store }

func (h hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.s.write(ctx, []redis.Cmder{cmd}, func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.s.write(ctx, cmds, func(ctx context.Context) error { return next(ctx, cmds) })
	}
}

// readOnly are the commands that change nothing, and the connection
// commands that are not part of the data.
var readOnly = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`get mget strlen getrange exists type ttl pttl expiretime randomkey
		hget hmget hgetall hkeys hvals hlen hexists hstrlen hscan hrandfield scan keys dbsize
		smembers sismember smismember scard sscan srandmember sinter sunion sdiff
		zrange zrangebyscore zrevrange zrevrangebyscore zrangebylex zscore zmscore zcard zcount zrank zrevrank zscan
		lrange llen lindex xrange xrevrange xlen xinfo xpending
		ping echo info hello client auth select command time quit readonly wait
		evalsha_ro eval_ro fcall_ro multi exec discard watch unwatch`) {
		readOnly[c] = true
	}
}

// loggable returns a command's arguments as the server receives them and
// whether it writes. SCRIPT EXISTS and friends are read-only; SCRIPT LOAD
// is logged (its body is needed for later EVALSHAs).
func loggable(c redis.Cmder) ([]string, bool, error) {
	raw := c.Args()
	if len(raw) == 0 || readOnly[c.Name()] {
		return nil, false, nil // reads are not logged: no need to format them
	}
	args := make([]string, len(raw))
	for i, a := range raw {
		s, err := argString(a)
		if err != nil {
			return nil, false, fmt.Errorf("embedded redis: %s argument %d: %w", c.Name(), i, err)
		}
		args[i] = s
	}
	name := strings.ToLower(args[0])
	if name == "script" {
		return args, len(args) > 1 && strings.EqualFold(args[1], "load"), nil
	}
	return args, !readOnly[name], nil
}

// argString formats an argument the way go-redis writes it on the wire.
func argString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case int:
		return strconv.FormatInt(int64(v), 10), nil
	case int8:
		return strconv.FormatInt(int64(v), 10), nil
	case int16:
		return strconv.FormatInt(int64(v), 10), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 64), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case time.Duration:
		return strconv.FormatInt(v.Nanoseconds(), 10), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	default:
		return "", fmt.Errorf("type %T cannot be logged", v)
	}
}
