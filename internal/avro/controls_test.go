package avro

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Sign-offs (both versions) and escalations (both kinds) round-trip every
// field.
func TestControlsRoundTrip(t *testing.T) {
	ctx := context.Background()
	sc, err := NewSignOffCodec(ctx, Embedded{}, "s")
	if err != nil {
		t.Fatal(err)
	}
	ec, err := NewEscalationCodec(ctx, Embedded{}, "e")
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_790_000_000_123).UTC()
	signed := &record.SignOff{SignoffID: "a-1", Version: 1, Status: record.SignedOff, Account: "DE89", Currency: "EUR",
		From: 20400, To: 20402, StatementBalance: money.New(1516_50, 2), LedgerBalance: money.New(1535_00, 2),
		ItemsTotal: money.New(-18_50, 2), Unexplained: money.New(0, 2), Figures: `{"x":1}`, RequestedBy: "preparer",
		RequestedAt: at, Comment: "agreed", ApprovedBy: "approver", ApprovedAt: at.Add(time.Hour), DecisionComment: "ok"}
	reopened := *signed
	reopened.Version, reopened.Status, reopened.ReopenedBy, reopened.ReopenedAt, reopened.ReopenReason = 2, record.Reopened, "admin", at.Add(2*time.Hour), "late correction"
	for _, s := range []*record.SignOff{signed, &reopened} {
		b, err := sc.Encode(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sc.Decode(ctx, b)
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("sign-off v%d round trip:\n got %+v %v\nwant %+v", s.Version, got, err, s)
		}
	}
	for _, k := range []record.EscalationKind{record.EscalateBreak, record.EscalateApproval} {
		e := &record.Escalation{EscalationID: record.EscalationID(k, "k-1", 2), Kind: k, Level: 2, SubjectID: "k-1", Recipient: "alice",
			Account: "DE89", Currency: "EUR", Reason: "unmatched", Amount: "-3.50", Age: "11d", SLA: "5d", Detail: "open since",
			URL: "http://console/breaks/k-1", EscalatedAt: at}
		b, err := ec.Encode(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ec.Decode(ctx, b)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("%s: escalation round trip:\n got %+v %v\nwant %+v", k, got, err, e)
		}
	}
	if record.EscalationID(record.EscalateBreak, "k-1", 1) == record.EscalationID(record.EscalateBreak, "k-1", 2) {
		t.Error("escalation ids of two levels are equal")
	}
}

// TestRuleSetRoundTrip: a rule set version, its aliases too, reads back
// as written; version 0 is refused.
func TestRuleSetRoundTrip(t *testing.T) {
	ctx := context.Background()
	rc, err := NewRuleSetCodec(ctx, Embedded{}, "r")
	if err != nil {
		t.Fatal(err)
	}
	rs := &record.RuleSet{Version: 7, YAML: "rules:\n  - name: exact\n", Author: "editor", Approver: "approver", Comment: "why",
		ActivatedAt: time.UnixMilli(1_790_000_000_123).UTC(), ProposalID: "rp-1",
		Aliases: []record.Alias{{AliasID: "al-1", Account: "DE89", Currency: "EUR", BankName: "AMZN MKTP", LedgerName: "AMAZON EU",
			Evidence: 3, LearnedFrom: "preparer", AcceptedBy: "admin"}}}
	rs.Hash = record.RulesHash(rs.YAML, rs.Aliases)
	b, err := rc.Encode(nil, rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rc.Decode(ctx, b)
	if err != nil || !reflect.DeepEqual(got, rs) {
		t.Errorf("round trip:\n got %+v %v\nwant %+v", got, err, rs)
	}
	bad := *rs
	bad.Version = 0
	if b, err = rc.Encode(nil, &bad); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Decode(ctx, b); err == nil {
		t.Error("version 0 read")
	}
}
