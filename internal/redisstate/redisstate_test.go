package redisstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/window"
)

func rec(id string, side record.Side, ref string) *window.Entry {
	r := &engine.Rec{Item: record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(-100, 2), BookingDate: 100, Reference: ref},
		Account: "A"}
	engine.New(engine.DefaultConfig()).Prepare(r)
	return &window.Entry{Rec: r}
}

func stores(t testing.TB) map[string]*Store {
	mr := miniredis.RunT(t)
	out := map[string]*Store{"miniredis": New(redis.NewClient(&redis.Options{Addr: mr.Addr()}), "t")}
	if url := testenv.Redis(t); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		out["redis"] = New(rdb, "test-"+t.Name()+"-"+randSuffix())
	}
	return out
}

// eachStore runs f as a subtest on every store (miniredis, and real Redis
// when the test has it).
func eachStore(t *testing.T, f func(t *testing.T, s *Store)) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { f(t, s) })
	}
}

var prep = engine.New(engine.DefaultConfig()).Prepare

func TestApplyLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		st, win, err := s.Claim(ctx, 3, prep)
		if err != nil {
			t.Fatal(err)
		}
		if win.Len() != 0 {
			t.Fatalf("new partition holds %d records", win.Len())
		}
		b1, l1 := rec("b1", record.Bank, "INV-1"), rec("l1", record.Ledger, "inv 1")
		b := &window.Change{
			From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1}, StreamTime: 100,
			Put: []*window.Entry{b1}, CloseAt: map[string]record.Date{"b1": 104},
		}
		ids, err := s.Apply(ctx, 3, st.Epoch, b, []OutEntry{{Topic: "x", Key: []byte("k"), Value: []byte{0, 1, 2}}})
		if err != nil || len(ids) != 1 {
			t.Fatalf("apply: %v %v", ids, err)
		}
		win.Commit(b)
		// The same batch again is refused.
		_, err = s.Apply(ctx, 3, st.Epoch, &window.Change{From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1}}, nil)
		if !errors.Is(err, ErrApplied) {
			t.Errorf("re-apply: %v", err)
		}
		// A new owner loads the same window from Redis.
		st2, win2, err := s.Claim(ctx, 3, prep)
		if err != nil {
			t.Fatal(err)
		}
		if st2.Offsets["bank"] != 1 || st2.StreamTime != 100 {
			t.Errorf("state %+v", st2)
		}
		for name, w := range map[string]*window.Part{"committed": win, "loaded": win2} {
			var byRef []*window.Entry
			w.ByRef("A", "EUR", l1.NormRef, func(r *window.Entry) { byRef = append(byRef, r) })
			if len(byRef) != 1 || byRef[0].ID != "b1" {
				t.Errorf("%s: reference lookup %v", name, byRef)
			}
			if acc := w.Account("A", "EUR"); len(acc) != 1 || acc[0].ID != "b1" {
				t.Errorf("%s: account pool %v", name, acc)
			}
			if len(w.Due(103)) != 0 || len(w.Due(104)) != 1 {
				t.Errorf("%s: due %v %v", name, w.Due(103), w.Due(104))
			}
			if p := w.Pending(); p[record.Bank] != 1 || p[record.Ledger] != 0 {
				t.Errorf("%s: pending %v", name, p)
			}
		}
		if got := win2.Get("b1"); got == nil || !reflect.DeepEqual(got.Keys, b1.Keys) || !got.Amount.Equal(b1.Amount) {
			t.Errorf("loaded record %+v, want %+v", got, b1)
		}
		// The old owner is fenced.
		_, err = s.Apply(ctx, 3, st.Epoch, &window.Change{From: map[string]int64{"bank": 1}, To: map[string]int64{"bank": 2}}, nil)
		if !errors.Is(err, ErrFenced) {
			t.Errorf("zombie apply: %v", err)
		}
		if e, _ := s.Epoch(ctx, 3); e != st2.Epoch {
			t.Errorf("epoch %d, want %d", e, st2.Epoch)
		}
		// Break b1 (the batch sets BreakID on the record it holds), then match it late.
		b1 = win2.Get("b1")
		b1.BreakID = "k-1"
		b = &window.Change{From: map[string]int64{"bank": 1}, To: map[string]int64{"bank": 2}, StreamTime: 105,
			Broken: []*window.Entry{b1}, ExpireAt: map[string]record.Date{"b1": 200}}
		if _, err := s.Apply(ctx, 3, st2.Epoch, b, nil); err != nil {
			t.Fatal(err)
		}
		win2.Commit(b)
		_, win3, err := s.Claim(ctx, 3, prep)
		if err != nil {
			t.Fatal(err)
		}
		st2, _ = s.Read(ctx, 3)
		for name, w := range map[string]*window.Part{"committed": win2, "loaded": win3} {
			got := w.Get("b1")
			if got == nil || got.BreakID != "k-1" {
				t.Fatalf("%s: broken record %+v", name, got)
			}
			if len(w.Due(1000)) != 0 || len(w.Expired(199)) != 0 || len(w.Expired(200)) != 1 || w.Pending()[record.Bank] != 0 {
				t.Errorf("%s: broken record still due, or not kept until 200", name)
			}
		}
		b = &window.Change{From: map[string]int64{"ledger": 0}, To: map[string]int64{"ledger": 1}, StreamTime: 106,
			Matched: []*window.Entry{win3.Get("b1")}}
		if _, err := s.Apply(ctx, 3, st2.Epoch, b, nil); err != nil {
			t.Fatal(err)
		}
		win3.Commit(b)
		st3, _ := s.Read(ctx, 3)
		if st3.Offsets["ledger"] != 1 || st3.StreamTime != 106 {
			t.Errorf("state after match %+v", st3)
		}
		_, win4, err := s.Claim(ctx, 3, prep)
		if err != nil || win4.Len() != 0 || win3.Len() != 0 {
			t.Errorf("matched record still held: loaded %d, committed %d (%v)", win4.Len(), win3.Len(), err)
		}
		out, err := s.Outbox(ctx, 3, 100)
		if err != nil || len(out) != 1 || string(out[0].Value) != "\x00\x01\x02" || out[0].Topic != "x" || out[0].ID != ids[0] {
			t.Fatalf("outbox %+v %v", out, err)
		}
		if err := s.Ack(ctx, 3, out[0].ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.OutboxLen(ctx, 3); n != 0 {
			t.Errorf("outbox len %d after ack", n)
		}
	})
}

// State of the layout before the binary one (JSON records, dates in
// sorted sets, indexes in Redis; outbox entries of one output each) is
// refused with ErrOldLayout, never misread.
func TestOldLayoutRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		k := func(n string) string { return s.key(5, n) }
		s.rdb.HSet(ctx, k("rec"), "l9", `{"s":"ledger","a":"A","c":"EUR","m":"2.50","d":90,"k":"k-9"}`)
		if _, _, err := s.Claim(ctx, 5, prep); !errors.Is(err, ErrOldLayout) || !strings.Contains(err.Error(), "partition 5") {
			t.Errorf("a JSON record: %v", err)
		}
		s.rdb.Del(ctx, k("rec"))
		s.rdb.ZAdd(ctx, k("due"), redis.Z{Score: 104, Member: "b1"})
		if _, _, err := s.Claim(ctx, 5, prep); !errors.Is(err, ErrOldLayout) {
			t.Errorf("a due sorted set: %v", err)
		}
		s.rdb.Del(ctx, k("due"))
		if _, _, err := s.Claim(ctx, 5, prep); err != nil {
			t.Fatal(err)
		}
		s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: k("outbox"), Values: []any{"t", "old", "k", "k0", "v", "v0"}})
		if _, err := s.Outbox(ctx, 5, 10); !errors.Is(err, ErrOldLayout) {
			t.Errorf("an outbox entry of one output: %v", err)
		}
	})
}

// A batch's outputs share one outbox entry and come back in order with
// their headers.
func TestOutboxPacked(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		st, _, err := s.Claim(ctx, 7, prep)
		if err != nil {
			t.Fatal(err)
		}
		outs := []OutEntry{
			{Topic: "m", Key: []byte("k1"), Value: []byte{0, 1, 2, 0xff}},
			{Topic: "dlq", Key: nil, Value: []byte("bad"), Headers: map[string]string{"recon.reason": "x", "recon.stage": "match"}},
			{Topic: "m", Key: []byte("k3"), Value: []byte{}},
		}
		ids, err := s.Apply(ctx, 7, st.Epoch, &window.Change{From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 3}}, outs)
		if err != nil || len(ids) != 1 {
			t.Fatalf("apply: %v %v", ids, err)
		}
		if ids2, err := s.Apply(ctx, 7, st.Epoch, &window.Change{From: map[string]int64{"bank": 3}, To: map[string]int64{"bank": 4}}, nil); err != nil || len(ids2) != 0 {
			t.Fatalf("a batch without outputs wrote an outbox entry: %v %v", ids2, err)
		}
		got, err := s.Outbox(ctx, 7, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("outbox %+v", got)
		}
		for i, o := range outs {
			g := got[i]
			if g.ID != ids[0] || g.Topic != o.Topic || string(g.Key) != string(o.Key) || string(g.Value) != string(o.Value) || len(g.Headers) != len(o.Headers) {
				t.Errorf("output %d: got %+v, want %+v", i, g, o)
			}
			for k, v := range o.Headers {
				if g.Headers[k] != v {
					t.Errorf("output %d header %s: %q", i, k, g.Headers[k])
				}
			}
		}
		if err := s.Ack(ctx, 7, ids[0]); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.OutboxLen(ctx, 7); n != 0 {
			t.Errorf("outbox holds %d entries after ack", n)
		}
		if _, err := unpackOut("x", packOut(outs)[:5]); err == nil {
			t.Error("truncated outbox entry read without error")
		}
	})
}

// BenchmarkLoad100k: claiming a partition of 100,000 records (real Redis
// with REDIS_URL, else miniredis).
func BenchmarkLoad100k(b *testing.B) {
	var s *Store
	for name, st := range stores(b) {
		if s == nil || name == "redis" {
			s = st
		}
	}
	ctx := context.Background()
	st, _, err := s.Claim(ctx, 1, prep)
	if err != nil {
		b.Fatal(err)
	}
	const n = 100000
	for i := 0; i < n; i += 5000 {
		batch := &window.Change{From: map[string]int64{"bank": int64(i)}, To: map[string]int64{"bank": int64(i + 5000)}, CloseAt: map[string]record.Date{}}
		for j := i; j < i+5000; j++ {
			r := rec(fmt.Sprintf("b-%024d", j), record.Bank, fmt.Sprintf("INV-2026-%07d", j))
			r.Description, r.Counterparty, r.SourceFile = "transfer "+r.Reference, "Counterparty 17", "bank.csv"
			batch.Put = append(batch.Put, r)
			batch.CloseAt[r.ID] = 200
		}
		if _, err := s.Apply(ctx, 1, st.Epoch, batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		w, err := s.Load(ctx, 1, prep)
		if err != nil || w.Len() != n {
			b.Fatalf("loaded %d: %v", w.Len(), err)
		}
	}
	b.StopTimer()
	s.rdb.Del(ctx, s.key(1, "rec"), s.key(1, "meta"), s.key(1, "str"))
}

// Each side's time is stored and only moves forward; a state written
// before there was one (only the stream time) reads as both sides there.
func TestClockStoredAndMigrated(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// The old layout: the stream time alone.
		if err := s.rdb.HSet(ctx, s.key(5, "meta"), "st", 90, "epoch", 0).Err(); err != nil {
			t.Fatal(err)
		}
		st, _, err := s.Claim(ctx, 5, prep)
		if err != nil {
			t.Fatal(err)
		}
		if st.StreamTime != 90 || st.Clock != (window.Clock{Bank: 90, Ledger: 90}) {
			t.Errorf("migrated state %+v", st)
		}
		apply := func(c window.Clock, stream record.Date, from int64) {
			b := &window.Change{From: map[string]int64{"bank": from}, To: map[string]int64{"bank": from + 1}, StreamTime: stream, Clock: c}
			if _, err := s.Apply(ctx, 5, st.Epoch, b, nil); err != nil {
				t.Fatal(err)
			}
		}
		apply(window.Clock{Bank: 95, Ledger: 91}, 95, 0)
		apply(window.Clock{Bank: 93, Ledger: 92}, 94, 1) // a lower bank time does not move it back
		got, err := s.Read(ctx, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got.StreamTime != 95 || got.Clock != (window.Clock{Bank: 95, Ledger: 92}) {
			t.Errorf("state after two batches: %+v", got)
		}
	})
}

// The string table: a new owner (another store) reads records by it, a
// store that applies without having claimed reads it first, a claim
// forgets the strings no record uses any more, and a table that
// disagrees with Redis stops the batch before it writes anything.
func TestStringTable(t *testing.T) {
	eachStore(t, func(t *testing.T, a *Store) {
		ctx := context.Background()
		st, _, err := a.Claim(ctx, 4, prep)
		if err != nil {
			t.Fatal(err)
		}
		mk := func(id, account, file string) *window.Entry {
			r := rec(id, record.Bank, "INV-"+id)
			r.Account, r.SourceFile = account, file
			return r
		}
		put := func(s *Store, epoch, from int64, rs ...*window.Entry) error {
			b := &window.Change{From: map[string]int64{"bank": from}, To: map[string]int64{"bank": from + 1},
				Put: rs, CloseAt: map[string]record.Date{}}
			for _, r := range rs {
				b.CloseAt[r.ID] = 200
			}
			_, err := s.Apply(ctx, 4, epoch, b, nil)
			return err
		}
		if err := put(a, st.Epoch, 0, mk("b1", "ACC-1", "mon.csv"), mk("b2", "ACC-2", "mon.csv"), mk("b3", "ACC-1", "tue.csv")); err != nil {
			t.Fatal(err)
		}
		if n := a.rdb.HLen(ctx, a.key(4, "str")).Val(); n != 5 {
			t.Errorf("string table holds %d strings, want 5 (2 accounts, EUR, 2 files)", n)
		}
		// Another store applies without claiming: it reads the table and
		// adds only the new file.
		other := New(a.rdb, a.prefix)
		if err := put(other, st.Epoch, 1, mk("b4", "ACC-2", "wed.csv")); err != nil {
			t.Fatal(err)
		}
		if n := a.rdb.HLen(ctx, a.key(4, "str")).Val(); n != 6 {
			t.Errorf("string table holds %d strings after a new file, want 6", n)
		}
		// b1, b2 leave (matched): mon.csv is used by no record any more.
		if _, err := a.Apply(ctx, 4, st.Epoch, &window.Change{From: map[string]int64{"bank": 2}, To: map[string]int64{"bank": 3},
			Matched: []*window.Entry{mk("b1", "", ""), mk("b2", "", "")}}, nil); err != nil {
			t.Fatal(err)
		}
		b := New(a.rdb, a.prefix)
		st2, win, err := b.Claim(ctx, 4, prep)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range win.All() {
			got[e.ID] = e.Account + " " + e.Currency + " " + e.SourceFile
		}
		if want := map[string]string{"b3": "ACC-1 EUR tue.csv", "b4": "ACC-2 EUR wed.csv"}; !reflect.DeepEqual(got, want) {
			t.Errorf("new owner read %v, want %v", got, want)
		}
		strs := a.rdb.HVals(ctx, a.key(4, "str")).Val()
		if slices.Contains(strs, "mon.csv") || len(strs) != 5 {
			t.Errorf("after the claim the table holds %q, want mon.csv forgotten", strs)
		}
		// Redis holds, under the index the owner gives out next (6: the
		// six strings so far had 0-5), another string: the batch is
		// refused whole.
		if err := a.rdb.HSet(ctx, a.key(4, "str"), "6", "intruder").Err(); err != nil {
			t.Fatal(err)
		}
		if err := put(b, st2.Epoch, 3, mk("b5", "ACC-3", "tue.csv")); !errors.Is(err, errStrings) {
			t.Fatalf("conflicting table entry: %v", err)
		}
		if got, _ := b.Read(ctx, 4); got.Offsets["bank"] != 3 || a.rdb.HExists(ctx, a.key(4, "rec"), "b5").Val() {
			t.Errorf("a refused batch wrote something: offsets %v", got.Offsets)
		}
	})
}

// Records stored before the string table (format 2: every string inline)
// load, beside records of the new form.
func TestInlineRecordsLoad(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		str := func(b []byte, v string) []byte { return append(binary.AppendUvarint(b, uint64(len(v))), v...) }
		old := []byte{2, 0}
		old = binary.AppendVarint(old, 150) // until
		for _, v := range []string{"ACC-9", "GBP", "INV-77", "", "", "old payment", "old.csv", ""} {
			old = str(old, v)
		}
		old = append(binary.AppendVarint(old, -4200), 2) // amount -42.00
		for _, v := range []int64{120, 7, 1_790_000_000_000, 1_790_000_000_500} {
			old = binary.AppendVarint(old, v)
		}
		if err := s.rdb.HSet(ctx, s.key(6, "rec"), "b-old", old).Err(); err != nil {
			t.Fatal(err)
		}
		st, _, err := s.Claim(ctx, 6, prep)
		if err != nil {
			t.Fatal(err)
		}
		b := &window.Change{From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1},
			Put: []*window.Entry{rec("b-new", record.Bank, "INV-78")}, CloseAt: map[string]record.Date{"b-new": 160}}
		if _, err := s.Apply(ctx, 6, st.Epoch, b, nil); err != nil {
			t.Fatal(err)
		}
		_, win, err := New(s.rdb, s.prefix).Claim(ctx, 6, prep)
		if err != nil {
			t.Fatal(err)
		}
		e := win.Get("b-old")
		if e == nil || e.Account != "ACC-9" || e.SourceFile != "old.csv" || !e.Amount.Equal(money.New(-4200, 2)) ||
			e.PendingSince.UnixMilli() != 1_790_000_000_500 || win.CloseAt(e) != 150 || win.Get("b-new") == nil {
			t.Errorf("format 2 record read as %+v; window holds %d", e, win.Len())
		}
	})
}
