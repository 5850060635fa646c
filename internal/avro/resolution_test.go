package avro

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/record"
)

// Resolutions and their outcomes round-trip every field, for every action.
func TestResolutionRoundTrip(t *testing.T) {
	ctx := context.Background()
	rc, err := NewResolutionCodec(ctx, Embedded{}, "r")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := NewOutcomeCodec(ctx, Embedded{}, "o")
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_790_000_000_123).UTC()
	for _, a := range record.Actions {
		r := &record.Resolution{ResolutionID: "rs-1", Action: a, Account: "DE89", Currency: "EUR", BreakIDs: []string{"k-1", "k-2"},
			MatchID: "m-1", RecordIDs: []string{"b-1"}, User: "preparer", ApprovedBy: "approver", ReasonCode: "bank_fee",
			Comment: "fee", Attachment: "doc-7", DecidedAt: at}
		b, err := rc.Encode(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rc.Decode(ctx, b)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("%s: resolution round trip: %+v %v", a, got, err)
		}
		o := record.OutcomeOf(r)
		o.Applied, o.Detail, o.MatchID, o.MatchStatus = a != record.ActReject, "done", "m-1", "confirmed"
		o.Breaks = []record.BreakState{{BreakID: "k-1", RecordID: "b-1", Status: record.BreakMatched}}
		b, err = oc.Encode(nil, o)
		if err != nil {
			t.Fatal(err)
		}
		gotO, err := oc.Decode(ctx, b)
		if err != nil || !reflect.DeepEqual(gotO, o) {
			t.Errorf("%s: outcome round trip:\n got %+v %v\nwant %+v", a, gotO, err, o)
		}
	}
}
