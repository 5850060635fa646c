package window

import (
	"context"
	"errors"
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

func stores(t *testing.T) map[string]*Store {
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

func TestApplyLifecycle(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := s.Claim(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			b1, l1 := rec("b1", record.Bank, "INV-1"), rec("l1", record.Ledger, "inv 1")
			err = s.Apply(ctx, 3, st.Epoch, &Batch{
				From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1}, StreamTime: 100,
				Put: []*engine.Rec{b1}, CloseAt: map[string]record.Date{"b1": 104},
				Out: []OutEntry{{Topic: "x", Key: []byte("k"), Value: []byte{0, 1, 2}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			// The same batch again is refused.
			err = s.Apply(ctx, 3, st.Epoch, &Batch{From: map[string]int64{"bank": 0}, To: map[string]int64{"bank": 1}})
			if !errors.Is(err, ErrApplied) {
				t.Errorf("re-apply: %v", err)
			}
			key := s.KeyIndex(3, record.Bank, l1.Account, l1.Currency, l1.NormRef)
			all := s.MatchKeyIndex(3, record.Bank, "A", "EUR")
			byRef, err := s.RefPool(ctx, 3, []string{key, key})
			if err != nil || len(byRef) != 1 || byRef[0].ID != "b1" {
				t.Fatalf("reference pool: %v %v", byRef, err)
			}
			byAccount, err := s.Pool(ctx, 3, []string{all})
			if err != nil || len(byAccount) != 1 || byAccount[0].ID != "b1" {
				t.Fatalf("account pool: %v %v", byAccount, err)
			}
			due, _ := s.Due(ctx, 3, 103)
			due2, _ := s.Due(ctx, 3, 104)
			if len(due) != 0 || len(due2) != 1 {
				t.Errorf("due %v %v", due, due2)
			}
			// A new owner fences the old one.
			st2, err := s.Claim(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if st2.Offsets["bank"] != 1 || st2.StreamTime != 100 || st2.Pending[record.Bank] != 1 {
				t.Errorf("state %+v", st2)
			}
			err = s.Apply(ctx, 3, st.Epoch, &Batch{From: map[string]int64{"bank": 1}, To: map[string]int64{"bank": 2}})
			if !errors.Is(err, ErrFenced) {
				t.Errorf("zombie apply: %v", err)
			}
			// Break b1, then match it late.
			b1.BreakID = "k-1"
			if err := s.Apply(ctx, 3, st2.Epoch, &Batch{From: map[string]int64{"bank": 1}, To: map[string]int64{"bank": 2}, StreamTime: 105,
				Broken: []*engine.Rec{b1}, ExpireAt: map[string]record.Date{"b1": 200}}); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Records(ctx, 3, []string{"b1"})
			if len(got) != 1 || !got[0].Broken() || got[0].BreakID != "k-1" {
				t.Fatalf("broken record %+v", got)
			}
			if due, _ := s.Due(ctx, 3, 1000); len(due) != 0 {
				t.Errorf("broken record still due")
			}
			if err := s.Apply(ctx, 3, st2.Epoch, &Batch{From: map[string]int64{"ledger": 0}, To: map[string]int64{"ledger": 1}, StreamTime: 106,
				Matched: []*engine.Rec{got[0]}}); err != nil {
				t.Fatal(err)
			}
			st3, _ := s.Read(ctx, 3)
			if st3.Pending[record.Bank] != 0 || st3.Offsets["ledger"] != 1 || st3.StreamTime != 106 {
				t.Errorf("state after match %+v", st3)
			}
			if has, _ := s.Has(ctx, 3, []string{"b1"}); len(has) != 0 {
				t.Error("matched record still stored")
			}
			out, err := s.Outbox(ctx, 3, 100)
			if err != nil || len(out) != 1 || string(out[0].Value) != "\x00\x01\x02" || out[0].Topic != "x" {
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

// The stored form round-trips every field the engine and the break report
// use, and does not repeat the id (it is the hash field).
func TestStoredRoundTrip(t *testing.T) {
	r := rec("b-0123456789abcdef01234567", record.Bank, "inv-2026/00123")
	r.BankReference, r.Counterparty, r.Description = "BR1", "ACME", "payment INV-2026/00123"
	r.SourceFile, r.SourcePosition, r.BreakID, r.Provisional, r.Marker = "s3://b/f.csv", 42, "k-1", true, true
	r.IngestedAt = time.UnixMilli(1_790_000_000_123).UTC()
	r.PendingSince = time.UnixMilli(1_790_000_001_456).UTC()
	blob, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(blob, r.ID) || strings.Contains(blob, `"n":`) {
		t.Errorf("stored form repeats the id or the normalised reference: %s", blob)
	}
	got, err := decode(r.ID, blob)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
	if _, err := decode(r.ID, "{"); err == nil || !strings.Contains(err.Error(), r.ID) {
		t.Errorf("bad blob error %v does not name the record", err)
	}
}
