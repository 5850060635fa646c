package window

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

func rec(id string, side record.Side, ref string) *Entry {
	r := &engine.Rec{Item: record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(-100, 2), BookingDate: 100, Reference: ref},
		Account: "A"}
	engine.New(engine.DefaultConfig()).Prepare(r)
	return &Entry{Rec: r}
}

// The stored form round-trips every field the engine and the break report
// use, does not repeat the id (it is the hash field) nor the strings the
// partition's records share (account, currency, source file: the string
// table holds them), and is compact.
func TestStoredRoundTrip(t *testing.T) {
	tab := NewStrings()
	r := rec("b-0123456789abcdef01234567", record.Bank, "inv-2026/00123")
	r.BankReference, r.Counterparty, r.Description = "BR1", "ACME", "payment INV-2026/00123"
	r.SourceFile, r.SourcePosition, r.BreakID, r.Provisional, r.Marker = "s3://b/f.csv", 42, "k-1", true, true
	r.Account = "DE89370400440532013000"
	r.IngestedAt = time.UnixMilli(1_790_000_000_123).UTC()
	r.PendingSince = time.UnixMilli(1_790_000_001_456).UTC()
	blob := Encode(nil, r, 321, tab)
	for _, s := range []string{r.ID, r.Account, r.Currency, r.SourceFile} {
		if strings.Contains(string(blob), s) {
			t.Errorf("stored form repeats %q: %q", s, blob)
		}
	}
	if len(blob) > 80 {
		t.Errorf("stored form is %d bytes: %q", len(blob), blob)
	}
	if idx, strs := tab.Unsaved(); len(idx) != 3 || !slices.Contains(strs, r.SourceFile) {
		t.Errorf("string table took %v %q, want account, currency and file", idx, strs)
	}
	// A second record of the account adds only its new file.
	r2 := rec("b-2", record.Bank, "x")
	r2.Account, r2.SourceFile = r.Account, "s3://b/g.csv"
	Encode(nil, r2, 1, tab)
	if tab.Len() != 4 {
		t.Errorf("string table holds %d strings after a second file, want 4", tab.Len())
	}
	got, until, err := Decode(r.ID, blob, tab)
	if err != nil {
		t.Fatal(err)
	}
	got.Keys = r.Keys // derived again on load, not stored
	if !reflect.DeepEqual(got, r) || until != 321 {
		t.Errorf("round trip:\n got %+v %d\nwant %+v", got, until, r)
	}
	// An original amount in another currency (fx_rates rules) is kept.
	fx := rec("l-fx", record.Ledger, "INV-7")
	fx.OrigCurrency, fx.OrigAmount = "USD", money.New(108500, 2)
	fx.PendingSince, fx.IngestedAt = time.UnixMilli(5).UTC(), time.UnixMilli(4).UTC()
	gotFX, _, err := Decode(fx.ID, Encode(nil, fx, 9, tab), tab)
	if err != nil || gotFX.OrigCurrency != "USD" || !gotFX.OrigAmount.Equal(fx.OrigAmount) || gotFX.OrigAmount.Scale() != 2 {
		t.Errorf("original amount: %+v %v", gotFX, err)
	}
	for _, bad := range [][]byte{[]byte("{"), blob[:len(blob)-3], {9, 0}, nil} {
		if _, _, err := Decode(r.ID, bad, tab); err == nil || !strings.Contains(err.Error(), r.ID) {
			t.Errorf("bad form %q: error %v does not name the record", bad, err)
		}
	}
	// Without its table a stored record cannot be read, and says why.
	if _, _, err := Decode(r.ID, blob, NewStrings()); err == nil || !strings.Contains(err.Error(), "string table") {
		t.Errorf("record read without its string table: %v", err)
	}
}

// A record stored by a version before the string table (format 2, every
// string inline; captured from that version) is read still, and written
// again in the new form reads back the same.
func TestInlineFormatRead(t *testing.T) {
	old := []byte("\x028\x82\x05\x01A\x03EUR\x0einv-2026/00123\x03BR1\x04ACME\x16payment INV-2026/00123\fs3://b/f.csv\x03k-1" +
		"\xc7\x01\x02\xc8\x01T\xf6\xb1\x83Řh\xe0ƃŘhp\x03m-1\vamount-date\xc8~\x03USD\xa8\x9f\r\x02")
	got, until, err := Decode("b-0123456789abcdef01234567", old, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := rec("b-0123456789abcdef01234567", record.Bank, "inv-2026/00123")
	want.BankReference, want.Counterparty, want.Description = "BR1", "ACME", "payment INV-2026/00123"
	want.SourceFile, want.SourcePosition, want.BreakID, want.Late = "s3://b/f.csv", 42, "k-1", true
	want.IngestedAt = time.UnixMilli(1_790_000_000_123).UTC()
	want.PendingSince = time.UnixMilli(1_790_000_001_456).UTC()
	want.Hold = &Hold{Kind: HoldProposed, ID: "m-1", Rule: "amount-date", Confidence: 8100}
	want.OrigCurrency, want.OrigAmount = "USD", money.New(108500, 2)
	got.Keys = want.Keys
	if !reflect.DeepEqual(got, want) || until != 321 {
		t.Fatalf("format 2:\n got %+v %d\nwant %+v", got, until, want)
	}
	tab := NewStrings()
	again, until2, err := Decode(got.ID, Encode(nil, got, until, tab), tab)
	if err != nil {
		t.Fatal(err)
	}
	again.Keys = want.Keys
	if !reflect.DeepEqual(again, want) || until2 != 321 {
		t.Errorf("format 2 written again:\n got %+v\nwant %+v", again, want)
	}
}

// The string table forgets what no record uses, keeps what is unsaved,
// and a forgotten string comes back under a new index.
func TestStringsUnused(t *testing.T) {
	tab := NewStrings()
	tab.Set(0, "old.csv")
	tab.Set(1, "A")
	i := tab.index("new.csv")
	if i != 2 {
		t.Fatalf("new string got index %d, want 2", i)
	}
	gone := tab.Unused(func(s string) bool { return s == "A" })
	if !reflect.DeepEqual(gone, []uint64{0}) {
		t.Errorf("forgot %v, want [0] (new.csv is unsaved)", gone)
	}
	if _, ok := tab.get(0); ok || tab.index("old.csv") != 3 {
		t.Errorf("old.csv not forgotten or got its old index back")
	}
	tab.Saved([]uint64{2})
	if idx, _ := tab.Unsaved(); !reflect.DeepEqual(idx, []uint64{3}) {
		t.Errorf("unsaved %v, want [3]", idx)
	}
}

func FuzzDecode(f *testing.F) {
	tab := NewStrings()
	tab.Set(0, "A")
	tab.Set(1, "EUR")
	r := rec("b1", record.Bank, "INV-1")
	f.Add(Encode(nil, r, 5, tab))
	f.Add([]byte(`{"s":"bank","m":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, until, err := Decode("x", b, tab)
		if err != nil {
			return
		}
		again, until2, err := Decode("x", Encode(nil, r, until, tab), tab)
		if err != nil || until2 != until || !again.Amount.Equal(r.Amount) || again.Reference != r.Reference || again.BreakID != r.BreakID {
			t.Fatalf("re-encoded record differs: %+v %v", again, err)
		}
	})
}

// A reference key shared by many records (a year, a common token) moves
// from a list to a set and back to empty as records come and go.
func TestPartSharedKey(t *testing.T) {
	w := NewPart()
	var all []*Entry
	for i := 0; i < 3*refListMax; i++ {
		r := rec(fmt.Sprintf("r%02d", i), record.Bank, "2026")
		all = append(all, r)
		w.put(r, record.Date(100+i%3))
	}
	lookup := func() map[string]bool {
		got := map[string]bool{}
		w.ByRef("A", "EUR", "2026", func(r *Entry) {
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

// A held entry round-trips its hold, is found by its hold id and break id,
// and is never offered to the rules (not under its account or reference
// keys, not due); restating it as an open break puts it back.
func TestHeld(t *testing.T) {
	tab := NewStrings()
	r := rec("b1", record.Bank, "INV-9")
	r.BreakID = "k-b1"
	r.Hold = &Hold{Kind: HoldProposed, ID: "m-1", Rule: "amount-date", Confidence: 8100}
	blob := Encode(nil, r, 500, tab)
	got, until, err := Decode(r.ID, blob, tab)
	if err != nil || until != 500 || !reflect.DeepEqual(got.Hold, r.Hold) || got.BreakID != "k-b1" {
		t.Fatalf("held round trip: %+v %d %v", got, until, err)
	}
	// An entry without a hold is stored exactly as before holds existed.
	plain := rec("b2", record.Bank, "INV-9")
	if b := Encode(nil, plain, 5, tab); b[1]&flagHeld != 0 {
		t.Fatalf("hold flag set on a plain entry")
	}

	w := NewPart()
	w.Insert(r, 500)
	n := 0
	w.ByRef("A", "EUR", r.Keys[0], func(*Entry) { n++ })
	if n != 0 || len(w.Account("A", "EUR")) != 0 || len(w.Due(1000)) != 0 || w.Pending()[record.Bank] != 0 {
		t.Fatalf("held entry offered to the rules: byref %d, account %d, due %d", n, len(w.Account("A", "EUR")), len(w.Due(1000)))
	}
	if h := w.Held("m-1"); len(h) != 1 || h[0] != r || w.ByBreak("k-b1") != r {
		t.Fatalf("held entry not found by its hold or break id: %v %v", h, w.ByBreak("k-b1"))
	}
	c := *r
	c.Hold = nil
	ch := NewChange()
	ch.Restated = append(ch.Restated, &c)
	ch.ExpireAt[c.ID] = 600
	w.Commit(ch)
	if len(w.Held("m-1")) != 0 || len(w.Account("A", "EUR")) != 1 || w.ByBreak("k-b1") != &c || len(w.Expired(600)) != 1 {
		t.Fatalf("restated entry: held %d, account %d, by break %v", len(w.Held("m-1")), len(w.Account("A", "EUR")), w.ByBreak("k-b1"))
	}
	ch = NewChange()
	ch.Matched = append(ch.Matched, &c)
	w.Commit(ch)
	if w.Len() != 0 || w.ByBreak("k-b1") != nil || len(w.Expired(1000)) != 0 {
		t.Fatalf("removed entry still indexed")
	}
}
