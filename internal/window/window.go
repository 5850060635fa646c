// Package window keeps the matcher's state in Redis: per partition, the
// pending records and their indexes, the records already reported as
// breaks (so a late counterpart still matches), the stream time, the
// consumed offsets, the owner epoch and an outbox of outputs not yet
// acknowledged by Kafka.
//
// Every key of partition N carries the hash tag {pN}, so a partition lives
// on one Redis Cluster slot. A batch of changes is applied by one Lua script
// that first checks the owner epoch (a fenced instance changes nothing) and
// the offsets (a batch is applied once).
package window

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Errors the store returns.
var (
	// ErrFenced: another instance claimed the partition since this one did.
	ErrFenced = errors.New("window: partition claimed by another instance (fenced)")
	// ErrApplied: the batch's offsets were applied already.
	ErrApplied = errors.New("window: batch already applied")
)

// Store is the Redis state of the matcher.
type Store struct {
	rdb    redis.UniversalClient
	prefix string // "recon" → keys "recon:{p3}:rec"
}

// New returns a store using rdb; prefix namespaces the keys (one
// deployment, or one `recon reconcile` run).
func New(rdb redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = "recon"
	}
	return &Store{rdb: rdb, prefix: prefix}
}

func (s *Store) key(p int32, name string) string {
	return s.prefix + ":{p" + strconv.Itoa(int(p)) + "}:" + name
}

// KeyIndex names the entry of one side, match key and reference key in the
// partition's reference index: a field of one hash (most reference keys
// hold one or two ids, and a field costs far less than a set of its own).
func (s *Store) KeyIndex(p int32, side record.Side, account, currency, refKey string) string {
	return string(side[0]) + ":" + account + "|" + currency + "|" + refKey
}

// idSep separates ids in a reference index field.
const idSep = "\x1f"

// MatchKeyIndex names the set of all ids of one side and match key.
func (s *Store) MatchKeyIndex(p int32, side record.Side, account, currency string) string {
	return s.key(p, "m:"+string(side[0])+":"+account+"|"+currency)
}

// SignatureIndex names the set of matched-provisional markers with one
// engine.Signature.
func (s *Store) SignatureIndex(p int32, signature string) string {
	return s.key(p, "s:"+signature)
}

// index is a place r is listed in: a set (a key) or a reference index field.
type index struct{ set, field string }

// indexesOf lists every index r belongs to.
func (s *Store) indexesOf(p int32, r *engine.Rec) []index {
	if r.Marker {
		return []index{{set: s.SignatureIndex(p, engine.Signature(r))}}
	}
	out := []index{{set: s.MatchKeyIndex(p, r.Side, r.Account, r.Currency)}}
	for _, k := range r.Keys {
		out = append(out, index{field: s.KeyIndex(p, r.Side, r.Account, r.Currency, k)})
	}
	return out
}

// RefPool returns the records listed under the given reference index
// fields (KeyIndex), each once.
func (s *Store) RefPool(ctx context.Context, p int32, fields []string) ([]*engine.Rec, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.key(p, "ix"), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("window: reference index: %w", err)
	}
	seen := map[string]bool{}
	var ids []string
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		for _, id := range strings.Split(str, idSep) {
			if id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return s.Records(ctx, p, ids)
}

// State is a partition's durable progress.
type State struct {
	Epoch      int64
	Offsets    map[string]int64 // topic -> next offset to apply
	StreamTime record.Date
	Pending    map[record.Side]int64
}

// Claim makes the caller the partition's owner: it bumps the epoch and
// returns the state to resume from.
func (s *Store) Claim(ctx context.Context, p int32) (*State, error) {
	meta := s.key(p, "meta")
	epoch, err := s.rdb.HIncrBy(ctx, meta, "epoch", 1).Result()
	if err != nil {
		return nil, fmt.Errorf("window: claim partition %d: %w", p, err)
	}
	st, err := s.Read(ctx, p)
	if err != nil {
		return nil, err
	}
	st.Epoch = epoch
	return st, nil
}

// Read returns the partition's state without claiming it.
func (s *Store) Read(ctx context.Context, p int32) (*State, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(p, "meta")).Result()
	if err != nil {
		return nil, fmt.Errorf("window: read partition %d: %w", p, err)
	}
	st := &State{Offsets: map[string]int64{}, Pending: map[record.Side]int64{}}
	for k, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case k == "epoch":
			st.Epoch = n
		case k == "st":
			st.StreamTime = record.Date(n)
		case strings.HasPrefix(k, "o:"):
			st.Offsets[k[2:]] = n
		case k == "pb":
			st.Pending[record.Bank] = n
		case k == "pl":
			st.Pending[record.Ledger] = n
		}
	}
	return st, nil
}

// Records loads records by id (missing ids are skipped).
func (s *Store) Records(ctx context.Context, p int32, ids []string) ([]*engine.Rec, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.key(p, "rec"), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("window: records: %w", err)
	}
	out := make([]*engine.Rec, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		r, err := decode(ids[i], str)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Due returns the ids of records whose window closes at or before t.
func (s *Store) Due(ctx context.Context, p int32, t record.Date) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.key(p, "due"), &redis.ZRangeBy{Min: "-inf", Max: strconv.Itoa(int(t))}).Result()
	if err != nil {
		return nil, fmt.Errorf("window: due: %w", err)
	}
	return ids, nil
}

// Expired returns the ids of broken records whose retention ended at t.
func (s *Store) Expired(ctx context.Context, p int32, t record.Date) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.key(p, "exp"), &redis.ZRangeBy{Min: "-inf", Max: strconv.Itoa(int(t))}).Result()
	if err != nil {
		return nil, fmt.Errorf("window: expired: %w", err)
	}
	return ids, nil
}

// Has reports which of ids are in the window (pending or broken).
func (s *Store) Has(ctx context.Context, p int32, ids []string) (map[string]*engine.Rec, error) {
	recs, err := s.Records(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*engine.Rec, len(recs))
	for _, r := range recs {
		out[r.ID] = r
	}
	return out, nil
}

// OutEntry is one output waiting in the outbox.
type OutEntry struct {
	ID      string // stream entry id, set when read back
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// Batch is the change one batch of input makes to a partition.
type Batch struct {
	// From and To per topic: the batch covers offsets [From, To).
	From, To   map[string]int64
	StreamTime record.Date
	Put        []*engine.Rec // new records: pending until CloseAt, or already broken (kept until ExpireAt)
	CloseAt    map[string]record.Date
	Matched    []*engine.Rec // records leaving the window (matched, or duplicates reported)
	Broken     []*engine.Rec // pending records now reported as breaks (BreakID set)
	ExpireAt   map[string]record.Date
	Expired    []*engine.Rec // broken records past retention
	Out        []OutEntry
}

// stored is the Redis form of a window record (short keys: it is kept per
// pending record). The id is the record hash's field and the normalised
// reference is derived from the reference, so neither is stored again;
// "i" and "n" written by earlier versions are ignored.
type stored struct {
	S   string   `json:"s"`
	Acc string   `json:"a"`
	C   string   `json:"c"`
	Amt string   `json:"m"`
	D   int32    `json:"d"`
	R   string   `json:"r,omitempty"`
	BR  string   `json:"br,omitempty"`
	CP  string   `json:"cp,omitempty"`
	De  string   `json:"de,omitempty"`
	F   string   `json:"f,omitempty"`
	P   int64    `json:"p,omitempty"`
	I   int64    `json:"t,omitempty"`
	K   string   `json:"k,omitempty"`
	V   bool     `json:"v,omitempty"`
	W   int64    `json:"w,omitempty"`
	Ks  []string `json:"ks,omitempty"`
	MM  bool     `json:"mm,omitempty"`
}

func encode(r *engine.Rec) (string, error) {
	b, err := json.Marshal(stored{S: string(r.Side), Acc: r.Account, C: r.Currency, Amt: r.Amount.String(),
		D: int32(r.BookingDate), R: r.Reference, BR: r.BankReference, CP: r.Counterparty, De: r.Description,
		F: r.SourceFile, P: r.SourcePosition, I: r.IngestedAt.UnixMilli(), K: r.BreakID, V: r.Provisional,
		W: r.PendingSince.UnixMilli(), Ks: r.Keys, MM: r.Marker})
	return string(b), err
}

func decode(id, s string) (*engine.Rec, error) {
	var st stored
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("window: stored record %s: %w", id, err)
	}
	amt, err := money.Parse(st.Amt)
	if err != nil {
		return nil, fmt.Errorf("window: stored record %s: amount: %w", id, err)
	}
	r := &engine.Rec{Item: record.Item{ID: id, Side: record.Side(st.S), Currency: st.C, Amount: amt,
		BookingDate: record.Date(st.D), Reference: st.R, BankReference: st.BR, Counterparty: st.CP, Description: st.De,
		SourceFile: st.F, SourcePosition: st.P, IngestedAt: time.UnixMilli(st.I).UTC()},
		Account: st.Acc, NormRef: engine.NormalizeRef(st.R), BreakID: st.K, Provisional: st.V, PendingSince: time.UnixMilli(st.W).UTC(), Keys: st.Ks, Marker: st.MM}
	return r, nil
}

// applyScript applies a Batch. KEYS: meta, rec, due, exp, outbox, the
// reference index hash, then the index sets. ARGV: epoch, stream time, then sections each led by a count.
var applyScript = redis.NewScript(`
local meta, rec, due, exp, outbox, ix = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sep = '\31'
-- An index entry is a KEYS number (a set) or 'f:' and a field of ix, whose
-- value lists ids separated by \31.
local function idx(e, id, add)
  if string.sub(e, 1, 2) ~= 'f:' then
    if add then redis.call('SADD', KEYS[tonumber(e)], id) else redis.call('SREM', KEYS[tonumber(e)], id) end
    return
  end
  local f = string.sub(e, 3)
  local v = redis.call('HGET', ix, f)
  if add then
    if v then redis.call('HSET', ix, f, v .. sep .. id) else redis.call('HSET', ix, f, id) end
    return
  end
  if not v then return end
  local out = {}
  for x in string.gmatch(v, '[^' .. sep .. ']+') do
    if x ~= id then out[#out + 1] = x end
  end
  if #out == 0 then redis.call('HDEL', ix, f) else redis.call('HSET', ix, f, table.concat(out, sep)) end
end
if redis.call('HGET', meta, 'epoch') ~= ARGV[1] then return redis.error_reply('FENCED') end
local i = 3
local n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do
  local cur = tonumber(redis.call('HGET', meta, 'o:' .. ARGV[i]) or '0')
  if cur > tonumber(ARGV[i+1]) then return redis.error_reply('APPLIED') end
  i = i + 3
end
i = 4
for j = 1, n do
  redis.call('HSET', meta, 'o:' .. ARGV[i], ARGV[i+2])
  i = i + 3
end
local st = tonumber(redis.call('HGET', meta, 'st') or '-2147483648')
if tonumber(ARGV[2]) > st then redis.call('HSET', meta, 'st', ARGV[2]) end
-- put: id, blob, side letter, score, mode (p: pending until score; k:
-- already broken, kept until score), index count, index key numbers
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do
  redis.call('HSET', rec, ARGV[i], ARGV[i+1])
  if ARGV[i+4] == 'p' then
    redis.call('ZADD', due, ARGV[i+3], ARGV[i])
    redis.call('HINCRBY', meta, 'p' .. ARGV[i+2], 1)
  else
    redis.call('ZADD', exp, ARGV[i+3], ARGV[i])
  end
  local nk = tonumber(ARGV[i+5])
  for k = 1, nk do idx(ARGV[i+5+k], ARGV[i], true) end
  i = i + 6 + nk
end
-- remove (matched, duplicate or expired): id, side letter, was pending
-- (1/0), index count, index key numbers
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do
  redis.call('HDEL', rec, ARGV[i])
  redis.call('ZREM', due, ARGV[i])
  redis.call('ZREM', exp, ARGV[i])
  if ARGV[i+2] == '1' then redis.call('HINCRBY', meta, 'p' .. ARGV[i+1], -1) end
  local nk = tonumber(ARGV[i+3])
  for k = 1, nk do idx(ARGV[i+3+k], ARGV[i], false) end
  i = i + 4 + nk
end
-- broken: id, blob, side letter, expire
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do
  redis.call('HSET', rec, ARGV[i], ARGV[i+1])
  redis.call('ZREM', due, ARGV[i])
  redis.call('ZADD', exp, ARGV[i+3], ARGV[i])
  redis.call('HINCRBY', meta, 'p' .. ARGV[i+2], -1)
  i = i + 4
end
-- outbox: topic, key, value, headers
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do
  redis.call('XADD', outbox, '*', 't', ARGV[i], 'k', ARGV[i+1], 'v', ARGV[i+2], 'h', ARGV[i+3])
  i = i + 4
end
return 'OK'
`)

// Apply applies b to partition p if epoch still owns it and b's offsets
// were not applied yet.
func (s *Store) Apply(ctx context.Context, p int32, epoch int64, b *Batch) error {
	keys := []string{s.key(p, "meta"), s.key(p, "rec"), s.key(p, "due"), s.key(p, "exp"), s.key(p, "outbox"), s.key(p, "ix")}
	keyNum := map[string]int{}
	idx := func(x index) string {
		if x.field != "" {
			return "f:" + x.field
		}
		if n, ok := keyNum[x.set]; ok {
			return strconv.Itoa(n)
		}
		keys = append(keys, x.set)
		keyNum[x.set] = len(keys)
		return strconv.Itoa(len(keys))
	}
	args := []any{epoch, int(b.StreamTime), len(b.To)}
	for t, to := range b.To {
		args = append(args, t, b.From[t], to)
	}
	args = append(args, len(b.Put))
	for _, r := range b.Put {
		blob, err := encode(r)
		if err != nil {
			return err
		}
		mode, score := "p", b.CloseAt[r.ID]
		if r.Broken() || r.Marker {
			mode, score = "k", b.ExpireAt[r.ID]
		}
		ix := s.indexesOf(p, r)
		args = append(args, r.ID, blob, string(r.Side[0]), int(score), mode, len(ix))
		for _, k := range ix {
			args = append(args, idx(k))
		}
	}
	rm := append(append([]*engine.Rec(nil), b.Matched...), b.Expired...)
	args = append(args, len(rm))
	for _, r := range rm {
		pending := "1"
		if r.Broken() {
			pending = "0"
		}
		ix := s.indexesOf(p, r)
		args = append(args, r.ID, string(r.Side[0]), pending, len(ix))
		for _, k := range ix {
			args = append(args, idx(k))
		}
	}
	args = append(args, len(b.Broken))
	for _, r := range b.Broken {
		blob, err := encode(r)
		if err != nil {
			return err
		}
		args = append(args, r.ID, blob, string(r.Side[0]), int(b.ExpireAt[r.ID]))
	}
	args = append(args, len(b.Out))
	for _, o := range b.Out {
		h, err := json.Marshal(o.Headers)
		if err != nil {
			return err
		}
		args = append(args, o.Topic, o.Key, o.Value, h)
	}
	err := applyScript.Run(ctx, s.rdb, keys, args...).Err()
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "FENCED"):
		return ErrFenced
	case strings.Contains(err.Error(), "APPLIED"):
		return ErrApplied
	}
	return fmt.Errorf("window: apply batch to partition %d: %w", p, err)
}

// Outbox returns the outputs not yet acknowledged, oldest first.
func (s *Store) Outbox(ctx context.Context, p int32, max int64) ([]OutEntry, error) {
	msgs, err := s.rdb.XRangeN(ctx, s.key(p, "outbox"), "-", "+", max).Result()
	if err != nil {
		return nil, fmt.Errorf("window: outbox: %w", err)
	}
	out := make([]OutEntry, len(msgs))
	for i, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		out[i] = OutEntry{ID: m.ID, Topic: str("t"), Key: []byte(str("k")), Value: []byte(str("v"))}
		if h := str("h"); h != "" && h != "null" {
			if err := json.Unmarshal([]byte(h), &out[i].Headers); err != nil {
				return nil, fmt.Errorf("window: outbox entry %s headers: %w", m.ID, err)
			}
		}
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

// Pool returns the records in any of the given index sets, each once.
func (s *Store) Pool(ctx context.Context, p int32, keys []string) ([]*engine.Rec, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.SMembers(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("window: pool: %w", err)
	}
	seen := map[string]bool{}
	var ids []string
	for _, c := range cmds {
		for _, id := range c.Val() {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return s.Records(ctx, p, ids)
}
