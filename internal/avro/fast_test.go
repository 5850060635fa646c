package avro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/schemas"
)

func codecs(t testing.TB) (tx, match *codec) {
	ctx := context.Background()
	tx, err := newCodec(ctx, Embedded{}, "t", schemas.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	match, err = newCodec(ctx, Embedded{}, "m", schemas.Match)
	if err != nil {
		t.Fatal(err)
	}
	return tx, match
}

// Amounts at the edges of the two's complement byte lengths and of int64.
var edgeUnits = []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, -256, 32767, 32768, -32768, -32769,
	1<<23 - 1, -(1 << 23), 1<<31 - 1, -(1 << 31), 1<<55 - 1, -(1 << 55), math.MaxInt64 / 1_000_000, math.MinInt64 / 1_000_000,
	math.MaxInt64, math.MinInt64 + 1, 123456789}

func randString(r *rand.Rand) string {
	const alphabet = "abcXYZ019 -/äß€"
	rs := []rune(alphabet)
	n := r.IntN(40)
	out := make([]rune, n)
	for i := range out {
		out[i] = rs[r.IntN(len(rs))]
	}
	return string(out)
}

func randAmount(r *rand.Rand) money.Decimal {
	scale := r.IntN(money.MaxScale + 1)
	if r.IntN(3) == 0 {
		return money.New(edgeUnits[r.IntN(len(edgeUnits))], scale)
	}
	return money.New(r.Int64N(1<<40)-1<<39, scale)
}

func randTransaction(r *rand.Rand, i int) *record.Transaction {
	t := &record.Transaction{ID: fmt.Sprintf("id-%d", i), Side: record.Bank, Account: "DE" + randString(r) + "x", Currency: []string{"EUR", "JPY", "BHD", "XXX"}[r.IntN(4)],
		Amount: randAmount(r), BookingDate: record.Date(r.IntN(40000) - 5000), Reference: randString(r), BankReference: randString(r),
		Counterparty: randString(r), Description: randString(r), TypeCode: randString(r), Provisional: r.IntN(2) == 0,
		StatementID: randString(r), SourceFile: randString(r), SourcePosition: r.Int64N(1 << 40),
		IngestedAt: time.UnixMilli(r.Int64N(4e12) - 1e12).UTC()}
	if r.IntN(2) == 0 {
		t.Side = record.Ledger
	}
	if r.IntN(2) == 0 {
		d := record.Date(r.IntN(30000))
		t.ValueDate = &d
	}
	if r.IntN(3) == 0 {
		t.Extra = map[string]string{"uetr": randString(r), "k" + randString(r): randString(r)}
	}
	if r.IntN(2) == 0 {
		t.CounterpartyAccount, t.CounterpartyBIC, t.EndToEndID, t.RawText = randString(r), randString(r), randString(r), randString(r)
		t.TextReferences = []string{randString(r), randString(r)}
	}
	return t
}

// The fast transaction reader returns exactly what the goavro path returns,
// for values goavro wrote.
func TestFastTransactionMatchesGoavro(t *testing.T) {
	tx, _ := codecs(t)
	r := rand.New(rand.NewPCG(1, 2))
	readsAsGoavro(t, tx, 3000, func(i int) *record.Transaction { return withDigest(randTransaction(r, i), "digest") },
		transactionNative, transactionFromNative, (*codec).decodeTx, decodeTransaction)
}

// readsAsGoavro checks that the fast reader of c's values returns exactly
// what the goavro path returns, for n values goavro wrote of random
// records, and that most of them took the fast path.
func readsAsGoavro[T any](t *testing.T, c *codec, n int, rnd func(i int) *T, native func(*T) map[string]any,
	from func(map[string]any) (*T, error), read func(*codec, context.Context, []byte) (*T, error), fastBody func([]byte) (*T, error)) {
	t.Helper()
	ctx := context.Background()
	fast := 0
	for i := 0; i < n; i++ {
		v, err := c.Encode(nil, native(rnd(i)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Decode(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		generic, gerr := from(m)
		got, err := read(c, ctx, v)
		if (err != nil) != (gerr != nil) {
			t.Fatalf("value %d: fast error %v, generic error %v", i, err, gerr)
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(got, generic) {
			t.Fatalf("value %d:\n fast    %+v\n generic %+v", i, got, generic)
		}
		if id, body, _ := SplitFrame(v); id == c.ID() {
			if _, err := fastBody(body); err == nil {
				fast++
			}
		}
	}
	if fast < n*2/3 {
		t.Errorf("only %d of %d values took the fast path", fast, n)
	}
}

// fuzzAsGoavro: on any bytes, the fast reader agrees with goavro: both
// fail, or both read the same record (or the fast path hands over, or
// refuses a number written with more bits than it has, which goavro
// wraps).
func fuzzAsGoavro[T any](f *testing.F, c *codec, seeds []*T, native func(*T) map[string]any,
	from func(map[string]any) (*T, error), fastBody func([]byte) (*T, error)) {
	for _, x := range seeds {
		v, _ := c.Encode(nil, native(x))
		f.Add(v[5:])
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		framed := append([]byte{0, 0, 0, 0, 0}, body...)
		framed[4] = byte(c.ID())
		fastV, ferr := fastBody(body)
		m, gerr := c.Decode(ctx, framed)
		var generic *T
		if gerr == nil {
			generic, gerr = from(m)
		}
		switch {
		case ferr != nil && gerr == nil && !errors.Is(ferr, errGeneric) && !errors.Is(ferr, errRange):
			t.Fatalf("fast path refuses what goavro reads: %v", ferr)
		case ferr == nil && gerr != nil:
			t.Fatalf("fast path reads what goavro refuses (%v): %+v", gerr, fastV)
		case ferr == nil && !reflect.DeepEqual(fastV, generic):
			t.Fatalf("fast %+v\ngeneric %+v", fastV, generic)
		}
	})
}

// The fast match writer writes the same bytes as goavro.
func TestFastMatchMatchesGoavro(t *testing.T) {
	_, mc := codecs(t)
	r := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for i := 0; i < 3000; i++ {
		m := randMatch(r)
		want, werr := mc.Encode([]byte("prefix"), matchNative(m))
		got, err := mc.encodeMatch([]byte("prefix"), m)
		if (err != nil) != (werr != nil) {
			t.Fatalf("match %d: fast error %v, goavro error %v", i, err, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("match %d: fast\n%x\ngoavro\n%x", i, got, want)
		}
		if _, ok := appendMatch(nil, m); ok {
			fast++
		}
	}
	if fast < 2000 {
		t.Errorf("only %d of 3000 matches took the fast path", fast)
	}
}

// randMatch is a match of random items in a currency with 0, 2 or 3
// minor units.
func randMatch(r *rand.Rand) *record.Match {
	cur := []string{"EUR", "JPY", "BHD"}[r.IntN(3)]
	items := func(n int) []record.Item {
		var out []record.Item
		for i := 0; i < n; i++ {
			out = append(out, record.Item{ID: randString(r), Amount: randAmount(r), BookingDate: record.Date(r.IntN(40000) - 5000),
				Reference: randString(r), BankReference: randString(r), Counterparty: randString(r), Description: randString(r),
				SourceFile: randString(r), SourcePosition: r.Int64N(1 << 40), IngestedAt: time.UnixMilli(r.Int64N(4e12) - 1e12).UTC()})
		}
		return out
	}
	m := &record.Match{MatchID: randString(r), Rule: randString(r), Confidence: record.Confidence(r.IntN(10001)),
		Status: []record.MatchStatus{record.Auto, record.Proposed, record.Confirmed}[r.IntN(3)], Account: randString(r), Currency: cur,
		Bank: items(r.IntN(3)), Ledger: items(r.IntN(4)), Difference: randAmount(r), Explanation: randString(r),
		DecidedAt: time.UnixMilli(r.Int64N(4e12) - 1e12).UTC(), RuleVersion: r.Int64N(1000)}
	if r.IntN(3) == 0 {
		m.ClearsBreakIDs = []string{randString(r), randString(r)}
	}
	return m
}

// The fast match reader returns exactly what the goavro path returns, for
// values goavro wrote.
func TestFastMatchReadsAsGoavro(t *testing.T) {
	_, mc := codecs(t)
	r := rand.New(rand.NewPCG(7, 8))
	readsAsGoavro(t, mc, 3000, func(int) *record.Match { return randMatch(r) }, matchNative, matchFromNative,
		(*codec).decodeMatchValue, decodeMatch)
}

// On any bytes, the fast match reader agrees with goavro.
func FuzzFastMatch(f *testing.F) {
	_, mc := codecs(f)
	r := rand.New(rand.NewPCG(9, 10))
	fuzzAsGoavro(f, mc, []*record.Match{randMatch(r), randMatch(r), randMatch(r), randMatch(r)}, matchNative, matchFromNative, decodeMatch)
}

// On any bytes, the fast transaction reader agrees with goavro.
func FuzzFastTransaction(f *testing.F) {
	tx, _ := codecs(f)
	r := rand.New(rand.NewPCG(5, 6))
	var seeds []*record.Transaction
	for i := 0; i < 4; i++ {
		seeds = append(seeds, randTransaction(r, i))
	}
	fuzzAsGoavro(f, tx, seeds, transactionNative, transactionFromNative, decodeTransaction)
}

func BenchmarkDecodeTransaction(b *testing.B) {
	tx, _ := codecs(b)
	v, _ := tx.Encode(nil, transactionNative(randTransaction(rand.New(rand.NewPCG(1, 1)), 1)))
	ctx := context.Background()
	b.Run("goavro", func(b *testing.B) {
		for b.Loop() {
			m, _ := tx.Decode(ctx, v)
			if _, err := transactionFromNative(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := tx.decodeTx(ctx, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeMatch(b *testing.B) {
	_, mc := codecs(b)
	it := record.Item{ID: "b-0123456789abcdef01234567", Amount: money.New(-1234550, 2), BookingDate: 20500, Reference: "INV-2026-0001",
		Description: "transfer INV-2026-0001", SourceFile: "bank.csv", SourcePosition: 17, IngestedAt: time.UnixMilli(1790000000000)}
	m := &record.Match{MatchID: "m-0123456789abcdef01234567", Rule: "exact", Confidence: 10000, Status: record.Auto, Account: "DE0001",
		Currency: "EUR", Bank: []record.Item{it}, Ledger: []record.Item{it}, Difference: money.New(0, 2), DecidedAt: time.UnixMilli(1790000000000)}
	b.Run("goavro", func(b *testing.B) {
		for b.Loop() {
			if _, err := mc.Encode(nil, matchNative(m)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := mc.encodeMatch(nil, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A value claiming a huge map or array is refused without allocating for
// it (fuzzing found goavro allocating 2^31 entries and the process dying).
func TestHugeBlockCountRefused(t *testing.T) {
	ctx := context.Background()
	tx, mc := codecs(t)
	v, err := tx.Encode(nil, transactionNative(&record.Transaction{ID: "x", Side: record.Bank, Account: "A", Currency: "EUR",
		Amount: money.New(1, 2)}))
	if err != nil {
		t.Fatal(err)
	}
	// The value ends with the text_references array's end marker and
	// raw_text's empty length: make the array claim 2^30 items.
	huge := append(append([]byte{}, v[:len(v)-2]...), appendLong(nil, 1<<30)...)
	huge = append(huge, 0)
	if _, err := tx.Decode(ctx, huge); err == nil {
		t.Error("an array of 2^30 items decoded")
	}
	if _, err := decodeTransaction(huge[5:]); err == nil {
		t.Error("fast path: an array of 2^30 items decoded")
	}
	m, err := mc.encodeMatch(nil, &record.Match{MatchID: "m", Rule: "r", Status: record.Auto, Account: "A", Currency: "EUR",
		Bank: []record.Item{{ID: "b", Amount: money.New(1, 2)}}})
	if err != nil {
		t.Fatal(err)
	}
	// The bank array's count is the first byte after the strings and ints
	// of the header: rebuild a value whose bank array claims 2^30 items.
	body := appendString(nil, "m")
	body = appendString(body, "r")
	body = appendLong(body, 0)
	body = appendLong(body, 0)
	body = appendString(body, "A")
	body = appendString(body, "EUR")
	body = appendLong(body, 1<<30)
	if _, err := mc.Decode(ctx, append(append([]byte{}, m[:5]...), body...)); err == nil {
		t.Error("an array of 2^30 items decoded")
	}
}
