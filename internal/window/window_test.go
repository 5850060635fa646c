package window

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

func rec(id string, side record.Side, ref string) *engine.Rec {
	r := &engine.Rec{Item: record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(-100, 2), BookingDate: 100, Reference: ref},
		Account: "A"}
	engine.New(engine.DefaultConfig()).Prepare(r)
	return r
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

var prep = engine.New(engine.DefaultConfig()).Prepare

func TestApplyLifecycle(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, win, err := s.Claim(ctx, 3, prep)
			if err != nil {
				t.Fatal(err)
			}
			if win.Len() != 0 {
				t.Fatalf("new partition holds %d records", win.Len())
			}
			b1, l1 := rec("b1", record.Bank, "INV-1"), rec("l1", record.Ledger, "inv 1")
			b := &Batch{
				From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1}, StreamTime: 100,
				Put: []*engine.Rec{b1}, CloseAt: map[string]record.Date{"b1": 104},
				Out: []OutEntry{{Topic: "x", Key: []byte("k"), Value: []byte{0, 1, 2}}},
			}
			ids, err := s.Apply(ctx, 3, st.Epoch, b)
			if err != nil || len(ids) != 1 {
				t.Fatalf("apply: %v %v", ids, err)
			}
			win.Commit(b)
			// The same batch again is refused.
			_, err = s.Apply(ctx, 3, st.Epoch, &Batch{From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1}})
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
			for name, w := range map[string]*Part{"committed": win, "loaded": win2} {
				var byRef []*engine.Rec
				w.ByRef("A", "EUR", l1.NormRef, func(r *engine.Rec) { byRef = append(byRef, r) })
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
			_, err = s.Apply(ctx, 3, st.Epoch, &Batch{From: map[string]int64{"bank": 1}, To: map[string]int64{"bank": 2}})
			if !errors.Is(err, ErrFenced) {
				t.Errorf("zombie apply: %v", err)
			}
			if e, _ := s.Epoch(ctx, 3); e != st2.Epoch {
				t.Errorf("epoch %d, want %d", e, st2.Epoch)
			}
			// Break b1 (the batch sets BreakID on the record it holds), then match it late.
			b1 = win2.Get("b1")
			b1.BreakID = "k-1"
			b = &Batch{From: map[string]int64{"bank": 1}, To: map[string]int64{"bank": 2}, StreamTime: 105,
				Broken: []*engine.Rec{b1}, ExpireAt: map[string]record.Date{"b1": 200}}
			if _, err := s.Apply(ctx, 3, st2.Epoch, b); err != nil {
				t.Fatal(err)
			}
			win2.Commit(b)
			_, win3, err := s.Claim(ctx, 3, prep)
			if err != nil {
				t.Fatal(err)
			}
			st2, _ = s.Read(ctx, 3)
			for name, w := range map[string]*Part{"committed": win2, "loaded": win3} {
				got := w.Get("b1")
				if got == nil || got.BreakID != "k-1" {
					t.Fatalf("%s: broken record %+v", name, got)
				}
				if len(w.Due(1000)) != 0 || len(w.Expired(199)) != 0 || len(w.Expired(200)) != 1 || w.Pending()[record.Bank] != 0 {
					t.Errorf("%s: broken record still due, or not kept until 200", name)
				}
			}
			b = &Batch{From: map[string]int64{"ledger": 0}, To: map[string]int64{"ledger": 1}, StreamTime: 106,
				Matched: []*engine.Rec{win3.Get("b1")}}
			if _, err := s.Apply(ctx, 3, st2.Epoch, b); err != nil {
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
}

// State written by the earlier layout (JSON records, dates in sorted sets,
// indexes in Redis) is loaded with its dates and converted: records
// rewritten in the binary form, the old keys deleted.
func TestLegacyStateConverted(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			k := func(n string) string { return s.key(5, n) }
			rdb := s.rdb
			pending := `{"s":"bank","a":"A","c":"EUR","m":"-1.00","d":100,"r":"INV-1","f":"f.csv","p":7,"t":1790000000000,"w":1790000000001,"ks":["INV1"]}`
			broken := `{"s":"ledger","a":"A","c":"EUR","m":"2.50","d":90,"r":"X-77","k":"k-9","ks":["X77"]}`
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(rdb.HSet(ctx, k("rec"), "b1", pending, "l9", broken).Err())
			must(rdb.ZAdd(ctx, k("due"), redis.Z{Score: 104, Member: "b1"}).Err())
			must(rdb.ZAdd(ctx, k("exp"), redis.Z{Score: 150, Member: "l9"}).Err())
			must(rdb.HSet(ctx, k("ix"), "b:A|EUR|INV1", "b1").Err())
			must(rdb.SAdd(ctx, k("m:b:A|EUR"), "b1").Err())
			must(rdb.SAdd(ctx, k("m:l:A|EUR"), "l9").Err())
			must(rdb.HSet(ctx, k("meta"), "epoch", 4, "st", 95, "o:bank", 12, "pb", 1).Err())
			for round := 1; round <= 2; round++ { // the second load reads the converted state
				st, w, err := s.Claim(ctx, 5, prep)
				if err != nil {
					t.Fatal(err)
				}
				if st.Epoch != int64(4+round) || st.Offsets["bank"] != 12 || st.StreamTime != 95 {
					t.Errorf("round %d: state %+v", round, st)
				}
				if len(w.Due(103)) != 0 || len(w.Due(104)) != 1 || len(w.Expired(149)) != 0 || len(w.Expired(150)) != 1 {
					t.Errorf("round %d: dates lost: due %v, expired %v", round, w.Due(104), w.Expired(150))
				}
				if r := w.Get("b1"); r == nil || r.SourcePosition != 7 || r.Amount.String() != "-1.00" || len(r.Keys) == 0 {
					t.Errorf("round %d: record %+v", round, r)
				}
				if r := w.Get("l9"); r == nil || r.BreakID != "k-9" || r.Side != record.Ledger {
					t.Errorf("round %d: broken record %+v", round, r)
				}
				if n, _ := rdb.Exists(ctx, k("due"), k("exp"), k("ix"), k("m:b:A|EUR"), k("m:l:A|EUR")).Result(); n != 0 {
					t.Errorf("round %d: %d old keys left", round, n)
				}
				if v, _ := rdb.HGet(ctx, k("rec"), "b1").Result(); strings.HasPrefix(v, "{") {
					t.Errorf("round %d: record not rewritten: %s", round, v)
				}
			}
		})
	}
}

// The stored form round-trips every field the engine and the break report
// use, does not repeat the id (it is the hash field), and is compact.
func TestStoredRoundTrip(t *testing.T) {
	r := rec("b-0123456789abcdef01234567", record.Bank, "inv-2026/00123")
	r.BankReference, r.Counterparty, r.Description = "BR1", "ACME", "payment INV-2026/00123"
	r.SourceFile, r.SourcePosition, r.BreakID, r.Provisional, r.Marker = "s3://b/f.csv", 42, "k-1", true, true
	r.IngestedAt = time.UnixMilli(1_790_000_000_123).UTC()
	r.PendingSince = time.UnixMilli(1_790_000_001_456).UTC()
	blob := encode(nil, r, 321)
	if strings.Contains(string(blob), r.ID) {
		t.Errorf("stored form repeats the id: %q", blob)
	}
	if len(blob) > 120 {
		t.Errorf("stored form is %d bytes: %q", len(blob), blob)
	}
	got, until, err := decode(r.ID, blob)
	if err != nil {
		t.Fatal(err)
	}
	got.Keys = r.Keys // derived again on load, not stored
	if !reflect.DeepEqual(got, r) || until != 321 {
		t.Errorf("round trip:\n got %+v %d\nwant %+v", got, until, r)
	}
	for _, bad := range [][]byte{[]byte("{"), blob[:len(blob)-3], {9, 0}, nil} {
		if _, _, err := decode(r.ID, bad); err == nil || !strings.Contains(err.Error(), r.ID) {
			t.Errorf("bad form %q: error %v does not name the record", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	r := rec("b1", record.Bank, "INV-1")
	f.Add(encode(nil, r, 5))
	f.Add([]byte(`{"s":"bank","m":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, until, err := decode("x", b)
		if err != nil || b[0] == '{' {
			return
		}
		again, until2, err := decode("x", encode(nil, r, until))
		if err != nil || until2 != until || !again.Amount.Equal(r.Amount) || again.Reference != r.Reference || again.BreakID != r.BreakID {
			t.Fatalf("re-encoded record differs: %+v %v", again, err)
		}
	})
}

// A reference key shared by many records (a year, a common token) moves
// from a list to a set and back to empty as records come and go.
func TestPartSharedKey(t *testing.T) {
	w := NewPart()
	var all []*engine.Rec
	for i := 0; i < 3*refListMax; i++ {
		r := rec(fmt.Sprintf("r%02d", i), record.Bank, "2026")
		all = append(all, r)
		w.put(r, record.Date(100+i%3))
	}
	lookup := func() map[string]bool {
		got := map[string]bool{}
		w.ByRef("A", "EUR", "2026", func(r *engine.Rec) {
			if got[r.ID] {
				t.Errorf("%s listed twice", r.ID)
			}
			got[r.ID] = true
		})
		return got
	}
	if got := lookup(); len(got) != len(all) {
		t.Fatalf("shared key lists %d of %d", len(got), len(all))
	}
	for i, r := range all {
		if i%2 == 0 {
			w.remove(r.ID)
		}
	}
	got := lookup()
	for i, r := range all {
		if got[r.ID] != (i%2 == 1) {
			t.Errorf("%s listed %v after removing the even ones", r.ID, got[r.ID])
		}
	}
	if p := w.Pending()[record.Bank]; p != int64(len(all)/2) {
		t.Errorf("pending %d", p)
	}
	if len(w.Due(99)) != 0 || len(w.Due(102)) != len(all)/2 {
		t.Errorf("due by 99: %d, by 102: %d of %d", len(w.Due(99)), len(w.Due(102)), len(all)/2)
	}
	for _, r := range all {
		w.remove(r.ID)
	}
	if len(lookup()) != 0 || len(w.byRef) != 0 || len(w.byAcct) != 0 || len(w.due) != 0 || w.Len() != 0 {
		t.Errorf("empty window still indexes something: %d refs, %d accounts, %d dates", len(w.byRef), len(w.byAcct), len(w.due))
	}
}

// A batch's outputs share one outbox entry and come back in order with
// their headers; entries of one output each (earlier versions) still read.
func TestOutboxPacked(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, _, err := s.Claim(ctx, 7, prep)
			if err != nil {
				t.Fatal(err)
			}
			legacyID, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.key(7, "outbox"), Values: []any{"t", "old", "k", "k0", "v", "v0", "h", `{"a":"b"}`}}).Result()
			if err != nil {
				t.Fatal(err)
			}
			outs := []OutEntry{
				{Topic: "m", Key: []byte("k1"), Value: []byte{0, 1, 2, 0xff}},
				{Topic: "dlq", Key: nil, Value: []byte("bad"), Headers: map[string]string{"recon.reason": "x", "recon.stage": "match"}},
				{Topic: "m", Key: []byte("k3"), Value: []byte{}},
			}
			ids, err := s.Apply(ctx, 7, st.Epoch, &Batch{From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 3}, Out: outs})
			if err != nil || len(ids) != 1 {
				t.Fatalf("apply: %v %v", ids, err)
			}
			if ids2, err := s.Apply(ctx, 7, st.Epoch, &Batch{From: map[string]int64{"bank": 3}, To: map[string]int64{"bank": 4}}); err != nil || len(ids2) != 0 {
				t.Fatalf("a batch without outputs wrote an outbox entry: %v %v", ids2, err)
			}
			got, err := s.Outbox(ctx, 7, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 4 || got[0].ID != legacyID || got[0].Headers["a"] != "b" || string(got[0].Value) != "v0" {
				t.Fatalf("outbox %+v", got)
			}
			for i, o := range outs {
				g := got[i+1]
				if g.ID != ids[0] || g.Topic != o.Topic || string(g.Key) != string(o.Key) || string(g.Value) != string(o.Value) || len(g.Headers) != len(o.Headers) {
					t.Errorf("output %d: got %+v, want %+v", i, g, o)
				}
				for k, v := range o.Headers {
					if g.Headers[k] != v {
						t.Errorf("output %d header %s: %q", i, k, g.Headers[k])
					}
				}
			}
			if err := s.Ack(ctx, 7, legacyID, ids[0]); err != nil {
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
		batch := &Batch{From: map[string]int64{"bank": int64(i)}, To: map[string]int64{"bank": int64(i + 5000)}, CloseAt: map[string]record.Date{}}
		for j := i; j < i+5000; j++ {
			r := rec(fmt.Sprintf("b-%024d", j), record.Bank, fmt.Sprintf("INV-2026-%07d", j))
			r.Description, r.Counterparty, r.SourceFile = "transfer "+r.Reference, "Counterparty 17", "bank.csv"
			batch.Put = append(batch.Put, r)
			batch.CloseAt[r.ID] = 200
		}
		if _, err := s.Apply(ctx, 1, st.Epoch, batch); err != nil {
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
	s.rdb.Del(ctx, s.key(1, "rec"), s.key(1, "meta"))
}
