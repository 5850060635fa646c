package avro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/schemas"
)

func TestTransactionRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, err := newCodec(ctx, Embedded{}, "recon.bank.transactions-value", schemas.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	vd := record.MakeDate(2026, 3, 3)
	in := &record.Transaction{
		ID: "b-1", Side: record.Bank, Account: "DE89", Currency: "EUR", Amount: money.New(-123450, 3),
		BookingDate: record.MakeDate(2026, 3, 2), ValueDate: &vd, Reference: "INV-1", BankReference: "BR",
		Counterparty: "ACME", Description: "rent", TypeCode: "NTRF", Provisional: true, StatementID: "s-1",
		SourceFile: "bank/x.csv", SourcePosition: 7, Extra: map[string]string{"uetr": "u"},
		IngestedAt:          time.UnixMilli(1767225600123).UTC(),
		CounterpartyAccount: "DE89370400440532013000", CounterpartyBIC: "COBADEFFXXX", EndToEndID: "E2E-1",
		TextReferences: []string{"2026 00123", "4711"}, RawText: "B/O ACME GMBH INV 2026 00123",
	}
	b, err := c.Encode(nil, transactionNative(withDigest(in, "digest")))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 || b[4] != byte(schemas.EmbeddedIDs[schemas.Transaction]) {
		t.Fatalf("frame header % x", b[:5])
	}
	m, err := c.Decode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := transactionFromNative(m)
	if err != nil {
		t.Fatal(err)
	}
	if out.Amount.String() != "-123.45" {
		t.Errorf("amount = %s", out.Amount)
	}
	out.Amount = in.Amount
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n in %+v\nout %+v", in, out)
	}
	// The typed codec writes the same bytes and reads the same record (its
	// decoder is the fast path).
	tc, err := NewTransactionCodec(ctx, Embedded{}, "recon.bank.transactions-value")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := tc.Encode(nil, withDigest(in, "digest"))
	if err != nil || !bytes.Equal(tb, b) {
		t.Fatalf("typed encoding differs: %v", err)
	}
	tout, err := tc.Decode(ctx, tb)
	if err != nil || tout.Amount.String() != "-123.45" {
		t.Fatalf("typed decoding: %v %+v", err, tout)
	}
	if tout.Amount = in.Amount; !reflect.DeepEqual(tout, out) {
		t.Errorf("typed decoding:\n got %+v\nwant %+v", tout, out)
	}
	if m["source_digest"] != "digest" {
		t.Errorf("digest = %v", m["source_digest"])
	}
	if _, err := c.Decode(ctx, []byte("{\"json\":1}")); !errors.Is(err, ErrNotFramed) {
		t.Errorf("unframed accepted: %v", err)
	}
	if _, err := c.Decode(ctx, append([]byte{0, 0, 0, 0, 99}, b[5:]...)); err == nil {
		t.Error("unknown schema id accepted")
	}
}

func TestStatementAndFileEventRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, err := newCodec(ctx, Embedded{}, "recon.bank.statements-value", schemas.Statement)
	if err != nil {
		t.Fatal(err)
	}
	ob, cb := money.New(100000, 2), money.New(-5, 0)
	od := record.MakeDate(2026, 1, 1)
	in := &record.Statement{ID: "s", Account: "A", Currency: "JPY", OpeningBalance: &ob, ClosingBalance: &cb,
		OpeningDate: &od, Entries: 3, EntriesTotal: money.New(-1005, 0), Format: "mt940", SourceFile: "f", SourcePosition: 1}
	b, err := c.Encode(nil, statementNative(in))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Decode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := statementFromNative(m)
	if err != nil {
		t.Fatal(err)
	}
	if out.OpeningBalance.String() != "1000" || out.ClosingBalance.String() != "-5" || out.ClosingDate != nil ||
		out.OpeningDate == nil || *out.OpeningDate != od || out.EntriesTotal.String() != "-1005" || out.Entries != 3 {
		t.Errorf("statement = %+v", out)
	}

	fc, err := newCodec(ctx, Embedded{}, "recon.files-value", schemas.FileEvent)
	if err != nil {
		t.Fatal(err)
	}
	fe := &record.FileEvent{Bucket: "b", Key: "bank/a b.csv", Outcome: record.OutcomeIngested, Records: 5, EventTime: time.UnixMilli(1000).UTC()}
	b, err = fc.Encode(nil, fileEventNative(fe))
	if err != nil {
		t.Fatal(err)
	}
	m, err = fc.Decode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileEventFromNative(m); !reflect.DeepEqual(got, fe) {
		t.Errorf("file event = %+v", got)
	}
}

// fakeRegistry implements the few Schema Registry endpoints the client uses.
type fakeRegistry struct {
	mu       sync.Mutex
	subjects map[string]map[string]int
	byID     map[string]int
	schemas  map[int]string
	fail5xx  int
	auth     string
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, p, _ := r.BasicAuth(); f.auth != "" && u+":"+p != f.auth {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error_code":40101,"message":"Unauthorized"}`))
		return
	}
	if f.fail5xx > 0 {
		f.fail5xx--
		w.WriteHeader(503)
		return
	}
	var body struct {
		Schema string `json:"schema"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	switch {
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/versions"):
		subj := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/subjects/"), "/versions")
		id, ok := f.byID[body.Schema]
		if !ok {
			id = len(f.schemas) + 100
			f.byID[body.Schema] = id
			f.schemas[id] = body.Schema
		}
		if f.subjects[subj] == nil {
			f.subjects[subj] = map[string]int{}
		}
		f.subjects[subj][body.Schema] = id
		_ = json.NewEncoder(w).Encode(map[string]int{"id": id})
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/subjects/"):
		subj := strings.TrimPrefix(r.URL.Path, "/subjects/")
		id, ok := f.subjects[subj][body.Schema]
		if !ok {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]int{"id": id})
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/schemas/ids/"):
		var id int
		if _, err := fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/schemas/ids/"), &id); err != nil || f.schemas[id] == "" {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"schema": f.schemas[id]})
	default:
		w.WriteHeader(404)
	}
}

func TestHTTPRegistry(t *testing.T) {
	f := &fakeRegistry{subjects: map[string]map[string]int{}, byID: map[string]int{}, schemas: map[int]string{}, fail5xx: 2, auth: "u:p"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()
	reg, err := NewHTTPRegistry(srv.URL, "u", "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newCodec(ctx, reg, "recon.ledger.transactions-value", schemas.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() < 100 {
		t.Fatalf("id %d not from the registry", w.ID())
	}
	text, _ := schemas.Get(schemas.Transaction)
	if id, err := reg.Lookup(ctx, "recon.ledger.transactions-value", text); err != nil || id != w.ID() {
		t.Errorf("Lookup = %d, %v", id, err)
	}
	if _, err := reg.Lookup(ctx, "other-value", text); err == nil || !strings.Contains(err.Error(), "Schema not found") {
		t.Errorf("Lookup of unknown subject: %v", err)
	}
	// A reader in another process resolves the id through the registry.
	reg2, _ := NewHTTPRegistry(srv.URL, "u", "p", nil)
	r := &codec{name: "transaction", reg: reg2, readers: map[int]*goavroCodec{}}
	tx := &record.Transaction{ID: "l-1", Side: record.Ledger, Account: "A", Currency: "USD", Amount: money.New(1, 0)}
	b, err := w.Encode(nil, transactionNative(tx))
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Decode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if m["id"] != "l-1" {
		t.Errorf("decoded %v", m["id"])
	}
	bad, _ := NewHTTPRegistry(srv.URL, "u", "wrong", nil)
	if _, err := bad.Schema(ctx, w.ID()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("bad credentials: %v", err)
	}
	if _, err := NewHTTPRegistry("localhost:8081", "", "", nil); err == nil {
		t.Error("url without scheme accepted")
	}
}

func TestMatchAndBreakRoundTrip(t *testing.T) {
	ctx := context.Background()
	// Through the typed codecs the services use.
	mc, err := NewMatchCodec(ctx, Embedded{}, "recon.matches-value")
	if err != nil {
		t.Fatal(err)
	}
	it := func(id string, side record.Side, amt int64) record.Item {
		return record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(amt, 2), BookingDate: record.MakeDate(2026, 3, 2),
			Reference: "R", Counterparty: "C", Description: "D", SourceFile: "f", SourcePosition: 3, IngestedAt: time.UnixMilli(5).UTC()}
	}
	m := &record.Match{MatchID: record.MatchID("a", "b"), Rule: "exact", Confidence: 10000, Status: record.Auto,
		Account: "A", Currency: "EUR", Bank: []record.Item{it("a", record.Bank, -100)}, Ledger: []record.Item{it("b", record.Ledger, -100)},
		Difference: money.New(0, 2), ClearsBreakIDs: []string{"k-1"}, DecidedAt: record.MakeDate(2026, 3, 2).Time()}
	b, err := mc.Encode(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mc.Decode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("match round trip:\n got %+v\nwant %+v", got, m)
	}
	bc, _ := NewBreakCodec(ctx, Embedded{}, "recon.breaks-value")
	br := &record.Break{BreakID: record.BreakID(it("a", record.Bank, 5), record.Unmatched), Side: record.Bank, Reason: record.Unmatched,
		Account: "A", Currency: "EUR", Record: it("a", record.Bank, 5),
		Candidates:     []record.Candidate{{ID: "z", Currency: "EUR", Amount: money.New(6, 2), BookingDate: 3, Reference: "Q", Score: 5000, Note: "amount"}},
		WindowClosedAt: record.MakeDate(2026, 3, 6)}
	b, err = bc.Encode(nil, br)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := bc.Decode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gb, br) {
		t.Errorf("break round trip:\n got %+v\nwant %+v", gb, br)
	}
}

func withDigest(t *record.Transaction, digest string) *record.Transaction {
	c := *t
	c.SourceDigest = digest
	return &c
}

// Values written under an earlier embedded schema version keep its id and
// still decode, with the newer fields at their defaults.
func TestEarlierEmbeddedVersions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		id     int
		native map[string]any
		check  func(t *testing.T, b []byte)
	}{
		{1, map[string]any{"id": "b-1", "side": "BANK", "account": "A", "currency": "EUR", "amount": big.NewRat(1050, 100),
			"booking_date": record.MakeDate(2026, 3, 2).Time(), "value_date": nil, "reference": "R", "bank_reference": "", "counterparty": "C",
			"description": "d", "type_code": "", "provisional": false, "statement_id": "", "source_file": "f", "source_digest": "",
			"source_position": int64(1), "ingested_at": time.UnixMilli(0).UTC(), "extra": map[string]any{}},
			func(t *testing.T, b []byte) {
				tc, err := NewTransactionCodec(ctx, Embedded{}, "t-value")
				if err != nil {
					t.Fatal(err)
				}
				got, err := tc.Decode(ctx, b)
				if err != nil || got.ID != "b-1" || got.Amount.String() != "10.50" || got.RawText != "" || got.TextReferences != nil {
					t.Errorf("transaction of schema 1: %v %+v", err, got)
				}
			}},
		{4, map[string]any{"break_id": "k-1", "side": "BANK", "reason": "UNMATCHED", "account": "A", "currency": "EUR", "record_id": "b-1",
			"amount": big.NewRat(1, 1), "booking_date": record.MakeDate(2026, 3, 2).Time(), "reference": "", "counterparty": "", "description": "",
			"source_file": "", "source_position": int64(0), "candidates": []any{}, "window_closed_at": record.MakeDate(2026, 3, 9).Time(),
			"ingested_at": time.UnixMilli(0).UTC()},
			func(t *testing.T, b []byte) {
				bc, err := NewBreakCodec(ctx, Embedded{}, "b-value")
				if err != nil {
					t.Fatal(err)
				}
				got, err := bc.Decode(ctx, b)
				if err != nil || got.BreakID != "k-1" || got.Note != "" {
					t.Errorf("break of schema 4: %v %+v", err, got)
				}
			}},
		{3, map[string]any{"match_id": "m-1", "rule": "exact", "confidence": int32(10000), "status": "AUTO", "account": "A", "currency": "EUR",
			"bank": []any{}, "ledger": []any{}, "difference": big.NewRat(0, 1), "explanation": "", "clears_break_ids": []any{},
			"decided_at": time.UnixMilli(0).UTC()},
			func(t *testing.T, b []byte) {
				mc, err := NewMatchCodec(ctx, Embedded{}, "m-value")
				if err != nil {
					t.Fatal(err)
				}
				got, err := mc.Decode(ctx, b)
				if err != nil || got.MatchID != "m-1" || got.RuleVersion != 0 {
					t.Errorf("match of schema 3: %v %+v", err, got)
				}
			}},
	} {
		_, text, ok := schemas.History(c.id)
		if !ok {
			t.Fatalf("no embedded history for id %d", c.id)
		}
		gc, err := goavro.NewCodec(text)
		if err != nil {
			t.Fatal(err)
		}
		body, err := gc.BinaryFromNative(nil, c.native)
		if err != nil {
			t.Fatalf("id %d: %v", c.id, err)
		}
		c.check(t, append([]byte{0, 0, 0, 0, byte(c.id)}, body...))
	}
}
