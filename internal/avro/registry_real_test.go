package avro

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/schemas"
)

// TestRealSchemaRegistry runs the client against a real Confluent-compatible
// registry (Apicurio Registry, started by scripts/testenv.sh): the codec
// registers the schema and round-trips a record; a lookup finds the same
// id; a compatible evolution (a new field with a default) is accepted under
// a new id and its values are read by the old codec; an incompatible change
// is refused with the registry's reason.
func TestRealSchemaRegistry(t *testing.T) {
	base := testenv.SchemaRegistry(t)
	ctx := context.Background()
	reg, err := NewHTTPRegistry(base, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	subject := fmt.Sprintf("recon-test-%d.recon.ledger.transactions-value", time.Now().UnixNano())
	c, err := NewTransactionCodec(ctx, reg, subject)
	if err != nil {
		t.Fatal(err)
	}
	tx := &record.Transaction{ID: "GL-1", Side: record.Ledger, Account: "DE89370400440532013000", Currency: "EUR",
		Amount: money.New(-12345, 2), BookingDate: record.MakeDate(2026, 3, 2), Reference: "INV-1", SourceFile: "sap://FI",
		SourcePosition: 7, IngestedAt: time.UnixMilli(1_790_000_000_000).UTC()}
	b, err := c.Encode(nil, tx)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(binary.BigEndian.Uint32(b[1:5])); got != c.ID() || b[0] != 0 {
		t.Fatalf("framing: magic %d id %d, want 0 and %d", b[0], got, c.ID())
	}
	same := func(got *record.Transaction) bool {
		if got == nil || !got.Amount.Equal(tx.Amount) {
			return false
		}
		g := *got
		g.Amount = tx.Amount // the same number; the representation may differ in scale
		return reflect.DeepEqual(&g, tx)
	}
	got, err := c.Decode(ctx, b)
	if err != nil || !same(got) {
		t.Fatalf("round trip through the registry: %+v %v", got, err)
	}
	text, _ := schemas.Get(schemas.Transaction)
	if id, err := reg.Lookup(ctx, subject, text); err != nil || id != c.ID() {
		t.Errorf("lookup: id %d %v, want %d", id, err, c.ID())
	}
	// The subject checks compatibility as the project's schemas evolve.
	req, _ := http.NewRequest(http.MethodPut, base+"/config/"+subject, strings.NewReader(`{"compatibility":"BACKWARD"}`))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("set the subject's compatibility: %v %v", resp, err)
	}

	// A compatible evolution: a new optional field.
	var doc map[string]any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	doc["fields"] = append(doc["fields"].([]any), map[string]any{"name": "cost_center", "type": "string", "default": "", "doc": "new"})
	evolved, _ := json.Marshal(doc)
	newID, err := reg.Register(ctx, subject, string(evolved))
	if err != nil {
		t.Fatalf("a compatible evolution refused: %v", err)
	}
	if newID == c.ID() {
		t.Errorf("the evolved schema got the old id %d", newID)
	}
	// A value written with it, as an upstream producer would, is read by
	// the old codec: the new field is ignored, the rest intact.
	wc, err := goavro.NewCodec(string(evolved))
	if err != nil {
		t.Fatal(err)
	}
	native := transactionNative(tx)
	native["cost_center"] = "CC-42"
	body, err := wc.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	framed := append([]byte{0, 0, 0, 0, 0}, body...)
	binary.BigEndian.PutUint32(framed[1:5], uint32(newID))
	got, err = c.Decode(ctx, framed)
	if err != nil || !same(got) {
		t.Errorf("a value of the evolved schema read by the old codec: %+v %v", got, err)
	}

	// An incompatible change is refused: a new field without a default
	// (the new schema could not read the values already written).
	doc["fields"] = append(doc["fields"].([]any), map[string]any{"name": "mandatory_code", "type": "string", "doc": "no default"})
	broken, _ := json.Marshal(doc)
	if _, err := reg.Register(ctx, subject, string(broken)); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("an incompatible schema: %v, want the registry's 409", err)
	}
}
