// Package redisstate keeps the matcher's state in Redis: per partition,
// every window entry (internal/window: pending records, records already
// reported as breaks, markers of matched provisional entries) in one hash
// in its binary form, and the table of the strings those entries share
// (accounts, currencies, source files: window.Strings); the stream time,
// the consumed offsets and the owner epoch; and an outbox of outputs not
// yet acknowledged by Kafka.
//
// The indexes the matcher decides with (by reference key, by account, by
// close date) live only in the owner's memory (window.Part): they are
// built when the partition is claimed, so Redis holds each record once,
// and a batch costs one write (a Lua script) instead of a read per lookup.
//
// Every key of partition N carries the hash tag {pN}, so a partition lives
// on one Redis Cluster slot. A batch's change is applied by one Lua script
// that first checks the owner epoch (a fenced instance changes nothing) and
// the offsets (a batch is applied once).
package redisstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/redisconn"
	"github.com/openrecon/recon/internal/window"
)

// Errors the store returns.
var (
	// ErrFenced: another instance claimed the partition since this one did.
	ErrFenced = errors.New("window: partition claimed by another instance (fenced)")
	// ErrApplied: the batch's offsets were applied already.
	ErrApplied = errors.New("window: batch already applied")
	// ErrOldLayout: the partition holds state of an earlier layout.
	ErrOldLayout = errors.New("window: the partition holds state in the layout of versions before the binary one (JSON records, Redis indexes); see README, Upgrading")
)

// scriptErrors are the error codes the Lua scripts reply with
// (redis.error_reply) and the sentinel each stands for.
var scriptErrors = map[string]error{"FENCED": ErrFenced, "APPLIED": ErrApplied, "STRINGS": errStrings}

// errStrings: a string table entry the batch adds is in Redis already,
// standing for another string. Only two owners at once could cause it,
// which the epoch rules out.
var errStrings = errors.New("window: the partition's string table in Redis disagrees with the owner's")

// scriptError maps a script's error reply to its sentinel. Redis sends the
// reply as "ERR <code>" (the server puts ERR before a code of its own).
func scriptError(err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		if s, ok := scriptErrors[strings.TrimPrefix(re.Error(), "ERR ")]; ok {
			return s
		}
	}
	return err
}

// Store is the Redis state of the matcher.
type Store struct {
	rdb    redis.UniversalClient
	prefix string // "recon" → keys "recon:{p3}:rec"
	// replicas: a claim and a batch are acknowledged only once this many
	// replicas of the partition's primary have them (Redis Cluster).
	replicas int

	mu   sync.Mutex
	tabs map[int32]*window.Strings // each loaded partition's string table
}

// New returns a store using rdb; prefix namespaces the keys (one
// deployment, or one `recon reconcile` run).
func New(rdb redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = "recon"
	}
	return &Store{rdb: rdb, prefix: prefix, tabs: map[int32]*window.Strings{}}
}

func (s *Store) key(p int32, name string) string {
	return s.prefix + ":{p" + strconv.Itoa(int(p)) + "}:" + name
}

// WaitReplicas makes claims and batches wait until n replicas of their
// primary have them (WAIT), so that a failover keeps every acknowledged
// batch; 0 (the default) does not wait.
func (s *Store) WaitReplicas(n int) { s.replicas = n }

// State is a partition's durable progress.
type State struct {
	Epoch      int64
	Offsets    map[string]int64 // topic -> next offset to apply
	StreamTime record.Date
	Clock      window.Clock // each side's time (a state from before there was one: both at StreamTime)
	// RuleVersion is the highest rule version a batch was decided with
	// (0: none recorded): a new owner decides with it or a later one.
	RuleVersion int64
}

// Claim makes the caller the partition's owner: it bumps the epoch and
// returns the state to resume from and the window, loaded into memory.
// prepare derives each record's reference keys (engine Prepare).
func (s *Store) Claim(ctx context.Context, p int32, prepare func(*engine.Rec)) (*State, *window.Part, error) {
	meta := s.key(p, "meta")
	var epoch int64
	err := redisconn.OnPrimary(ctx, s.rdb, meta, s.replicas, func(c redis.Cmdable) error {
		var err error
		epoch, err = c.HIncrBy(ctx, meta, "epoch", 1).Result()
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("window: claim partition %d: %w", p, err)
	}
	st, err := s.Read(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	st.Epoch = epoch
	part, err := s.Load(ctx, p, prepare)
	if err != nil {
		return nil, nil, err
	}
	if err := s.prune(ctx, p, epoch, part); err != nil {
		return nil, nil, err
	}
	return st, part, nil
}

// pruneScript forgets string table entries no stored record names.
// KEYS: meta, strings. ARGV: epoch, then the indexes.
var pruneScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return redis.error_reply('FENCED') end
for i = 2, #ARGV, 1000 do
  redis.call('HDEL', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 0
`)

// prune drops the strings of p's table that none of the window's entries
// uses any more (the files and accounts of records long matched), in
// memory and in Redis: the table stays as small as what is pending.
func (s *Store) prune(ctx context.Context, p int32, epoch int64, part *window.Part) error {
	used := map[string]bool{}
	for _, e := range part.All() {
		used[e.Account], used[e.Currency], used[e.SourceFile] = true, true, true
	}
	tab, err := s.table(ctx, p)
	if err != nil {
		return err
	}
	gone := tab.Unused(func(v string) bool { return used[v] })
	if len(gone) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(gone))
	args = append(args, epoch)
	for _, i := range gone {
		args = append(args, i)
	}
	if err := scriptError(pruneScript.Run(ctx, s.rdb, []string{s.key(p, "meta"), s.key(p, "str")}, args...).Err()); err != nil {
		return fmt.Errorf("window: prune the string table of partition %d: %w", p, err)
	}
	return nil
}

// table returns p's string table, read from Redis when this store has
// not loaded the partition.
func (s *Store) table(ctx context.Context, p int32) (*window.Strings, error) {
	s.mu.Lock()
	t := s.tabs[p]
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	return s.loadTable(ctx, p)
}

// loadTable reads p's string table from Redis, replacing the one in memory.
func (s *Store) loadTable(ctx context.Context, p int32) (*window.Strings, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(p, "str")).Result()
	if err != nil {
		return nil, fmt.Errorf("window: load the string table of partition %d: %w", p, err)
	}
	t := window.NewStrings()
	for k, v := range m {
		i, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("window: string table of partition %d: index %q: %w", p, k, err)
		}
		t.Set(i, v)
	}
	s.mu.Lock()
	s.tabs[p] = t
	s.mu.Unlock()
	return t, nil
}

// Read returns the partition's state without claiming it.
func (s *Store) Read(ctx context.Context, p int32) (*State, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(p, "meta")).Result()
	if err != nil {
		return nil, fmt.Errorf("window: read partition %d: %w", p, err)
	}
	st := &State{Offsets: map[string]int64{}}
	_, hasBank := m["sb"]
	_, hasLedger := m["sl"]
	for k, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case k == "epoch":
			st.Epoch = n
		case k == "st":
			st.StreamTime = record.Date(n)
			if !hasBank {
				st.Clock.Bank = record.Date(n)
			}
			if !hasLedger {
				st.Clock.Ledger = record.Date(n)
			}
		case k == "sb":
			st.Clock.Bank = record.Date(n)
		case k == "sl":
			st.Clock.Ledger = record.Date(n)
		case k == "rv":
			st.RuleVersion = n
		case strings.HasPrefix(k, "o:"):
			st.Offsets[k[2:]] = n
		}
	}
	return st, nil
}

// Epoch returns the partition's owner epoch.
func (s *Store) Epoch(ctx context.Context, p int32) (int64, error) {
	n, err := s.rdb.HGet(ctx, s.key(p, "meta"), "epoch").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("window: epoch of partition %d: %w", p, err)
	}
	return n, nil
}

// Load reads every entry of partition p into a window. State of the
// layout before the binary one (JSON records, dates in sorted sets) is
// refused with ErrOldLayout: the version that wrote it converts it on its
// next claim (README, Upgrading).
func (s *Store) Load(ctx context.Context, p int32, prepare func(*engine.Rec)) (*window.Part, error) {
	n, err := s.rdb.Exists(ctx, s.key(p, "due"), s.key(p, "exp"), s.key(p, "ix")).Result()
	if err != nil {
		return nil, fmt.Errorf("window: load partition %d: %w", p, err)
	}
	if n > 0 {
		return nil, fmt.Errorf("partition %d: %w", p, ErrOldLayout)
	}
	tab, err := s.loadTable(ctx, p)
	if err != nil {
		return nil, err
	}
	part := window.NewPart()
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, s.key(p, "rec"), cursor, "", 2000).Result()
		if err != nil {
			return nil, fmt.Errorf("window: load partition %d: %w", p, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			e, until, err := window.Decode(kv[i], []byte(kv[i+1]), tab)
			if errors.Is(err, window.ErrOldLayout) {
				return nil, fmt.Errorf("partition %d: %w", p, ErrOldLayout)
			}
			if err != nil {
				return nil, err
			}
			if !e.Marker {
				prepare(e.Rec)
			}
			part.Insert(e, until)
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	return part, nil
}

// OutEntry is one output waiting in the outbox.
type OutEntry struct {
	ID      string // stream entry id, set when read back
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// applyScript applies a window.Change and its outputs. KEYS: meta, rec,
// outbox, strings. ARGV: epoch, the times ("stream time:bank side's:ledger
// side's:rule version"), then sections each led by a count: offsets (topic, from, to),
// string table entries to add (index, string), records to write (id,
// stored form), records to delete (id); then the batch's outputs packed
// into one value (” for none), written as one outbox entry. Every check
// comes before the first write. Returns the outbox entry id (none without
// outputs).
var applyScript = redis.NewScript(`
local meta, rec, outbox, strs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HGET', meta, 'epoch') ~= ARGV[1] then return redis.error_reply('FENCED') end
local i = 3
local n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do
  local cur = tonumber(redis.call('HGET', meta, 'o:' .. ARGV[i]) or '0')
  if cur > tonumber(ARGV[i+1]) then return redis.error_reply('APPLIED') end
  i = i + 3
end
local ns = tonumber(ARGV[i])
for j = i + 1, i + 2 * ns, 2 do
  local cur = redis.call('HGET', strs, ARGV[j])
  if cur and cur ~= ARGV[j+1] then return redis.error_reply('STRINGS') end
end
i = 4
for j = 1, n do
  redis.call('HSET', meta, 'o:' .. ARGV[i], ARGV[i+2])
  i = i + 3
end
i = i + 1
if ns > 0 then redis.call('HSET', strs, unpack(ARGV, i, i + 2 * ns - 1)) end
i = i + 2 * ns
-- times: stream time, bank side's, ledger side's, and the rule version
-- decided with ("st:sb:sl:rv"); each only moves forward
local times = {}
for v in string.gmatch(ARGV[2], '[^:]+') do times[#times + 1] = v end
for j, f in ipairs({'st', 'sb', 'sl', 'rv'}) do
  local cur = tonumber(redis.call('HGET', meta, f) or '-2147483648')
  if tonumber(times[j]) > cur then redis.call('HSET', meta, f, times[j]) end
end
local chunk = 1000
n = tonumber(ARGV[i]); i = i + 1
local last = i + 2 * n - 1
while i <= last do
  local e = math.min(i + chunk - 1, last)
  redis.call('HSET', rec, unpack(ARGV, i, e))
  i = e + 1
end
n = tonumber(ARGV[i]); i = i + 1
last = i + n - 1
while i <= last do
  local e = math.min(i + chunk - 1, last)
  redis.call('HDEL', rec, unpack(ARGV, i, e))
  i = e + 1
end
-- outputs: one stream entry holding the batch's outputs, packed
if ARGV[i] ~= '' then
  return {redis.call('XADD', outbox, '*', 'b', ARGV[i])}
end
return {}
`)

// Apply applies b and its outputs to partition p if epoch still owns it
// and b's offsets were not applied yet, and returns the id of the outbox
// entry holding out (none when out is empty).
func (s *Store) Apply(ctx context.Context, p int32, epoch int64, b *window.Change, out []OutEntry) ([]string, error) {
	keys := []string{s.key(p, "meta"), s.key(p, "rec"), s.key(p, "outbox"), s.key(p, "str")}
	tab, err := s.table(ctx, p)
	if err != nil {
		return nil, err
	}
	// One buffer holds every stored form of the batch; encoding them adds
	// the strings the table lacked, which go first.
	buf := make([]byte, 0, 120*(len(b.Put)+len(b.Broken)+len(b.Restated)))
	forms := make([]any, 0, 2*(len(b.Put)+len(b.Broken)+len(b.Restated)))
	for _, r := range b.Put {
		start := len(buf)
		buf = window.Encode(buf, r, b.Until(r), tab)
		forms = append(forms, r.ID, buf[start:len(buf):len(buf)])
	}
	for _, r := range append(b.Broken[:len(b.Broken):len(b.Broken)], b.Restated...) {
		start := len(buf)
		buf = window.Encode(buf, r, b.ExpireAt[r.ID], tab)
		forms = append(forms, r.ID, buf[start:len(buf):len(buf)])
	}
	newIdx, newStrs := tab.Unsaved()
	args := make([]any, 0, 8+3*len(b.To)+2*len(newIdx)+len(forms)+len(b.Matched)+len(b.Expired)+1)
	args = append(args, epoch, fmt.Sprintf("%d:%d:%d:%d", b.StreamTime, b.Clock.Bank, b.Clock.Ledger, b.RuleVersion), len(b.To))
	for t, to := range b.To {
		args = append(args, t, b.From[t], to)
	}
	args = append(args, len(newIdx))
	for j, i := range newIdx {
		args = append(args, i, newStrs[j])
	}
	args = append(args, len(forms)/2)
	args = append(args, forms...)
	args = append(args, len(b.Matched)+len(b.Expired))
	for _, r := range b.Matched {
		args = append(args, r.ID)
	}
	for _, r := range b.Expired {
		args = append(args, r.ID)
	}
	args = append(args, packOut(out))
	var ids []string
	err = redisconn.OnPrimary(ctx, s.rdb, keys[0], s.replicas, func(c redis.Cmdable) error {
		var err error
		ids, err = applyScript.Run(ctx, c, keys, args...).StringSlice()
		return err
	})
	switch err = scriptError(err); {
	case err == nil:
		tab.Saved(newIdx)
		if want := min(len(out), 1); len(ids) != want {
			return nil, fmt.Errorf("window: apply batch to partition %d: %d outbox ids, want %d", p, len(ids), want)
		}
		return ids, nil
	case errors.Is(err, ErrFenced), errors.Is(err, ErrApplied):
		return nil, err
	}
	return nil, fmt.Errorf("window: apply batch to partition %d: %w", p, err)
}

// Outbox returns the outputs not yet acknowledged, oldest first, from at
// most max outbox entries (a batch's outputs share one entry and its ID).
func (s *Store) Outbox(ctx context.Context, p int32, max int64) ([]OutEntry, error) {
	msgs, err := s.rdb.XRangeN(ctx, s.key(p, "outbox"), "-", "+", max).Result()
	if err != nil {
		return nil, fmt.Errorf("window: outbox: %w", err)
	}
	var out []OutEntry
	for _, m := range msgs {
		packed, ok := m.Values["b"].(string)
		if !ok {
			// One output per entry, as versions before the packed outbox
			// wrote them.
			return nil, fmt.Errorf("outbox entry %s of partition %d: %w", m.ID, p, ErrOldLayout)
		}
		outs, err := unpackOut(m.ID, []byte(packed))
		if err != nil {
			return nil, err
		}
		out = append(out, outs...)
	}
	return out, nil
}

// packOut writes outputs as one value: per output its topic, key, value
// and header count, then each header's name and value, every string led
// by its uvarint length. No outputs: "".
func packOut(outs []OutEntry) []byte {
	if len(outs) == 0 {
		return []byte{}
	}
	n := 0
	for _, o := range outs {
		n += len(o.Topic) + len(o.Key) + len(o.Value) + 16
	}
	b := make([]byte, 0, n)
	str := func(s []byte) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, o := range outs {
		str([]byte(o.Topic))
		str(o.Key)
		str(o.Value)
		b = binary.AppendUvarint(b, uint64(len(o.Headers)))
		for _, k := range slices.Sorted(maps.Keys(o.Headers)) {
			str([]byte(k))
			str([]byte(o.Headers[k]))
		}
	}
	return b
}

func unpackOut(id string, b []byte) ([]OutEntry, error) {
	var out []OutEntry
	bad := false
	str := func() string {
		l, n := binary.Uvarint(b)
		if bad || n <= 0 || uint64(len(b)-n) < l {
			bad = true
			return ""
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s
	}
	for len(b) > 0 && !bad {
		e := OutEntry{ID: id, Topic: str(), Key: []byte(str()), Value: []byte(str())}
		nh, n := binary.Uvarint(b)
		if bad || n <= 0 || nh > uint64(len(b)) {
			return nil, fmt.Errorf("window: outbox entry %s: truncated", id)
		}
		b = b[n:]
		if nh > 0 {
			e.Headers = make(map[string]string, nh)
			for range nh {
				k := str()
				e.Headers[k] = str()
			}
		}
		out = append(out, e)
	}
	if bad {
		return nil, fmt.Errorf("window: outbox entry %s: truncated", id)
	}
	return out, nil
}

// Ack removes acknowledged outbox entries.
func (s *Store) Ack(ctx context.Context, p int32, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.rdb.XDel(ctx, s.key(p, "outbox"), ids...).Err()
}

// OutboxLen is the number of unacknowledged outputs of p.
func (s *Store) OutboxLen(ctx context.Context, p int32) (int64, error) {
	return s.rdb.XLen(ctx, s.key(p, "outbox")).Result()
}
