package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/xuri/excelize/v2"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// statement produces a bank statement of account acct in EUR for day d.
func (h *harness) statement(acct string, d int, opening, closing int64, entries int) {
	h.t.Helper()
	h.numberedStatement(acct, d, "", opening, closing, entries)
}

// numberedStatement is statement with a statement number.
func (h *harness) numberedStatement(acct string, d int, seq string, opening, closing int64, entries int) {
	h.t.Helper()
	c, err := avro.NewStatementCodec(context.Background(), avro.Embedded{}, "s")
	if err != nil {
		h.t.Fatal(err)
	}
	od, cd := day(d), day(d)
	ob, cb := money.New(opening, 2), money.New(closing, 2)
	st := &record.Statement{ID: "st-" + acct + "-" + day(d).String(), Account: acct, Currency: "EUR", OpeningDate: &od, OpeningBalance: &ob,
		ClosingDate: &cd, ClosingBalance: &cb, Entries: entries, Format: "camt.053", SourceFile: "s3://inbox/bank/" + acct + ".xml", Sequence: seq}
	v, err := c.Encode(nil, st)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.prod.ProduceSync(context.Background(), &kgo.Record{Topic: h.kc.Topic(kafka.TopicBankStatements), Key: []byte(st.Key()), Value: v}).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// signoffScenario walks the controls of docs/design.md §9 on account S:
// the balance view of a day, a write-off request that changes nothing
// until a different approver approves it (exactly once, across restart),
// a sign-off refused with the unexplained figure, a sign-off approved that
// locks the day (actions on its items answer 409), an admin's reopen that
// is audited and unlocks it.
func signoffScenario(t *testing.T, h *harness, restart func()) {
	ctx := context.Background()
	// Day 0: a pair the rules match, a bank fee without a ledger posting, a
	// refund and a credit that do not match each other. Day 1: the
	// statement has an entry the system never received (10.00).
	h.produce(
		txn("s-b1", record.Bank, "S", "INV-500", 50000, 0, "Northwind", "Invoice 500"),
		txn("s-l1", record.Ledger, "S", "INV-500", 50000, 0, "Northwind", "Invoice 500"),
		txn("s-b2", record.Bank, "S", "", -350, 0, "", "Account fee"),
		txn("s-b3", record.Bank, "S", "RF-1", 2000, 0, "Contoso", "Refund 1"),
		txn("s-l3", record.Ledger, "S", "CR-9", 3500, 0, "Fabrikam", "Credit 9"),
	)
	h.statement("S", 0, 1000_00, 1000_00+50000-350+2000, 3)
	h.statement("S", 1, 1516_50, 1516_50-1000, 1)
	st := h.console.Store()
	waitFor(t, "the breaks of account S and the match", func() bool {
		n, _ := st.CountBreaks(ctx, casestore.Filter{Status: "all", Account: "S", Currency: "EUR"})
		b, _ := st.Balance(ctx, "S", "EUR", day(0), nil)
		return n == 3 && b != nil && b.Counts[casestore.ItemOpenBreak] == 3
	})
	id := func(rec string) string {
		b := h.breakOf(rec)
		if b == nil {
			t.Fatalf("no break of %s", rec)
		}
		return b.BreakID
	}
	preparer, preparer2, approver, admin := h.signIn("preparer"), h.signIn("preparer2"), h.signIn("approver"), h.signIn("admin")

	// The balance view of day 0: statement 1,516.50, ledger 1,000.00 +
	// 500.00 + 35.00, items −3.50 + 20.00 − 35.00: nothing unexplained.
	q := "/api/v1/balances?account=S&currency=EUR&date=" + day(0).String()
	code, b := preparer.get(q)
	if code != 200 || str(b["statement_balance"]) != "1516.50" || str(b["ledger_balance"]) != "1535.00" ||
		str(b["reconciling_items_total"]) != "-18.50" || str(b["unexplained_difference"]) != "0.00" || b["reconciled"] != true {
		t.Fatalf("balance of day 0: %d %v", code, b)
	}
	if items := b["reconciling_items"].([]any); len(items) != 3 {
		t.Errorf("day 0 has %d reconciling items, want the 3 breaks: %v", len(items), items)
	}

	// A write-off waits for a different approver and changes nothing until then.
	out := preparer.act(200, ActionRequest{Action: "write_off", BreakIDs: []string{id("s-b2")}, ReasonCode: "bank_fee", Comment: "account fee"})
	if out["status"] != "pending_approval" {
		t.Fatalf("write-off: %v", out)
	}
	wo := str(out["action_id"])
	for _, c := range []*client{preparer, preparer2} {
		if code, out := c.do("POST", "/api/v1/approvals/"+wo, map[string]string{"decision": "approve"}, true); code != http.StatusForbidden {
			t.Errorf("approval of the write-off by a preparer: %d %v, want 403", code, out)
		}
	}
	if s := h.status("s-b2"); s != casestore.StatusOpen {
		t.Errorf("a write-off waiting for approval changed the break to %s", s)
	}
	if restart != nil {
		restart()
		preparer, approver, admin = h.signIn("preparer"), h.signIn("approver"), h.signIn("admin")
		st = h.console.Store()
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+wo, map[string]string{"decision": "approve", "comment": "ok"}, true); code != 200 {
		t.Fatalf("approval by the approver: %d %v", code, out)
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+wo, map[string]string{"decision": "approve"}, true); code != http.StatusConflict {
		t.Errorf("a second approval: %d %v, want 409", code, out)
	}
	waitFor(t, "the write-off applied", func() bool { return h.status("s-b2") == casestore.StatusWrittenOff })
	if a, _ := st.Action(ctx, wo); a.Status != casestore.ActionApplied {
		t.Errorf("write-off action is %s (%s)", a.Status, a.OutcomeDetail)
	}

	// Day 1 has 10.00 unexplained: its sign-off is refused with the figure.
	code, out = preparer.do("POST", "/api/v1/signoffs", map[string]string{"account": "S", "currency": "EUR", "date": day(1).String(), "comment": "checked"}, true)
	if code != http.StatusConflict || out["code"] != "unexplained_difference" || !strings.Contains(str(out["error"]), "-10.00") {
		t.Errorf("sign-off of a day with 10.00 unexplained: %d %v", code, out)
	}

	// Day 0 is signed off by the preparer and approved by the approver.
	code, out = preparer.do("POST", "/api/v1/signoffs", map[string]string{"account": "S", "currency": "EUR", "date": day(0).String(), "comment": "statement agreed"}, true)
	if code != 200 || out["status"] != "pending_approval" {
		t.Fatalf("sign-off request: %d %v", code, out)
	}
	so := str(out["signoff_id"])
	if code, out := preparer.do("POST", "/api/v1/approvals/"+so, map[string]string{"decision": "approve"}, true); code != http.StatusForbidden {
		t.Errorf("the preparer approving their own sign-off: %d %v, want 403", code, out)
	}
	// Not locked while it waits.
	if _, b := preparer.get(q); b["locked_by"] != nil {
		t.Errorf("a sign-off waiting for approval locked the day: %v", b["locked_by"])
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+so, map[string]string{"decision": "approve", "comment": "agreed"}, true); code != 200 || out["status"] != casestore.ActionApplied {
		t.Fatalf("approval of the sign-off: %d %v", code, out)
	}
	_, b = preparer.get(q)
	if lock, _ := b["locked_by"].(map[string]any); lock == nil || lock["status"] != casestore.SignoffSigned || lock["approved_by"] != "approver" {
		t.Fatalf("after approval the day is not locked: %v", b["locked_by"])
	}
	// Actions on the locked day's items answer 409.
	out = preparer.act(http.StatusConflict, ActionRequest{Action: "manual_match", BreakIDs: []string{id("s-b3"), id("s-l3")}, ReasonCode: "other", Comment: "refund against credit"})
	if out["code"] != "locked" {
		t.Errorf("manual match on a locked day: %v", out)
	}
	preparer.act(http.StatusConflict, ActionRequest{Action: "accept", BreakIDs: []string{id("s-b3")}, ReasonCode: "other"})
	admin.act(http.StatusConflict, ActionRequest{Action: "reopen", BreakIDs: []string{id("s-b2")}})
	code, out = preparer.do("POST", "/api/v1/signoffs", map[string]string{"account": "S", "currency": "EUR", "date": day(0).String(), "comment": "again"}, true)
	if code != http.StatusConflict {
		t.Errorf("a second sign-off of a signed-off day: %d %v", code, out)
	}
	// Only an admin reopens, with a reason.
	if code, out := preparer.do("POST", "/api/v1/signoffs/"+so+"/reopen", map[string]string{"reason": "x"}, true); code != http.StatusForbidden {
		t.Errorf("reopen by a preparer: %d %v", code, out)
	}
	if code, out := admin.do("POST", "/api/v1/signoffs/"+so+"/reopen", map[string]string{"reason": ""}, true); code != http.StatusBadRequest {
		t.Errorf("reopen without a reason: %d %v", code, out)
	}
	if code, out := admin.do("POST", "/api/v1/signoffs/"+so+"/reopen", map[string]string{"reason": "late bank correction"}, true); code != 200 || out["status"] != casestore.SignoffReopened {
		t.Fatalf("reopen: %d %v", code, out)
	}
	if _, b := preparer.get(q); b["locked_by"] != nil {
		t.Errorf("after reopen the day is still locked: %v", b["locked_by"])
	}
	// For the warehouse: the sign-off's two states, with the figures.
	soc, _ := avro.NewSignOffCodec(ctx, avro.Embedded{}, "s")
	versions := map[int]*record.SignOff{}
	for _, r := range readTopic(t, h.kc, h.kc.Topic(kafka.TopicSignoffs), 2) {
		v, err := soc.Decode(ctx, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if v.SignoffID == so {
			versions[v.Version] = v
		}
	}
	if v1, v2 := versions[1], versions[2]; v1 == nil || v2 == nil || v1.Status != record.SignedOff || v2.Status != record.Reopened ||
		v1.ApprovedBy != "approver" || v2.ReopenReason != "late bank correction" || !v1.LedgerBalance.Equal(money.New(1535_00, 2)) ||
		!v1.Unexplained.IsZero() || len(versions) != 2 {
		t.Errorf("recon.signoffs of %s: %+v", so, versions)
	}
	out = preparer.act(200, ActionRequest{Action: "manual_match", BreakIDs: []string{id("s-b3"), id("s-l3")}, ReasonCode: "other", Comment: "refund against credit"})
	if out["status"] != "pending_approval" {
		t.Fatalf("manual match with a difference after reopen: %v", out)
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+str(out["action_id"]), map[string]string{"decision": "approve"}, true); code != 200 {
		t.Fatalf("approval of the manual match: %d %v", code, out)
	}
	waitFor(t, "the manual match applied", func() bool { return h.status("s-b3") == casestore.StatusMatched })
	// Undoing a match a checker approved is a request too.
	mb := h.breakOf("s-b3")
	if mb.MatchedBy == "" {
		t.Fatalf("matched break %s names no match", mb.BreakID)
	}
	out = preparer.act(200, ActionRequest{Action: "unmatch", MatchID: mb.MatchedBy, Comment: "wrong pairing"})
	if out["status"] != "pending_approval" {
		t.Fatalf("unmatch of an approved match: %v, want pending_approval", out)
	}
	if s := h.status("s-b3"); s != casestore.StatusMatched {
		t.Errorf("an unmatch waiting for approval changed the break to %s", s)
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+str(out["action_id"]), map[string]string{"decision": "approve"}, true); code != 200 {
		t.Fatalf("approval of the unmatch: %d %v", code, out)
	}
	waitFor(t, "the unmatch applied", func() bool {
		return h.status("s-b3") == casestore.StatusOpen && h.status("s-l3") == casestore.StatusOpen
	})
	// The chain has the request, approval and reopen of the sign-off.
	entries, _, err := st.AuditLog(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]bool{}
	for _, e := range entries {
		if e.ActionID == so {
			events[e.Event] = true
		}
	}
	if !events["signoff"] || !events["approve"] || !events["reopen_signoff"] {
		t.Errorf("audit entries of the sign-off: %v", events)
	}
	if v, err := st.VerifyAudit(ctx); err != nil || !v.Valid {
		t.Errorf("audit chain: %+v %v", v, err)
	}
	// The reconciliation statement as a workbook: the figures as exact text.
	resp, err := admin.hc.Get(admin.base + "/reports/reconciliation?account=S&currency=EUR&format=xlsx&date=" + day(0).String())
	if err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("report workbook: %v", err)
	}
	cells := map[string]string{}
	rows, _ := x.GetRows("Reconciliation")
	for _, r := range rows {
		if len(r) >= 2 {
			cells[r[0]] = r[1]
		}
	}
	if cells["Statement closing balance"] != "1516.50" || cells["Ledger balance"] != "1535.00" || cells["Unexplained difference"] != "0.00" {
		t.Errorf("report workbook figures: %v", cells)
	}
	// Pages: the balance view, the report and its workbook.
	for _, p := range []string{"/balances", "/balances/day?account=S&currency=EUR&date=" + day(0).String(),
		"/reports/reconciliation?account=S&currency=EUR&date=" + day(0).String()} {
		resp, err := admin.hc.Get(admin.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestSignoff(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t5."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	signoffScenario(t, h, func() {
		h.stopC()
		h.stopM()
		h.startMatcher()
		h.startConsole()
	})
}

// TestAdjustment: an adjusting entry is a request with its journal
// reference; approved by a different approver it is recorded (the break
// stays open for the entry's posting) and the balance view lists the break
// as an adjustment; a second adjustment of the break is refused.
func TestAdjustment(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t7."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	ctx := context.Background()
	h.produce(txn("j-b1", record.Bank, "J", "", -350, 0, "", "Account fee"))
	h.statement("J", 0, 1000_00, 1000_00-350, 1)
	waitFor(t, "the fee's break", func() bool { return h.breakOf("j-b1") != nil })
	fee := h.breakOf("j-b1").BreakID
	preparer, preparer2, approver := h.signIn("preparer"), h.signIn("preparer2"), h.signIn("approver")
	if out := preparer.act(http.StatusBadRequest, ActionRequest{Action: "adjust", BreakIDs: []string{fee}, ReasonCode: "bank_fee"}); out["code"] != "no_reference" {
		t.Errorf("an adjustment without its journal reference: %v", out)
	}
	out := preparer.act(200, ActionRequest{Action: "adjust", BreakIDs: []string{fee}, ReasonCode: "bank_fee", Attachment: "JE-2026-0042", Comment: "book the fee"})
	if out["status"] != casestore.ActionPending {
		t.Fatalf("adjustment: %v, want pending_approval", out)
	}
	id := str(out["action_id"])
	for _, c := range []*client{preparer, preparer2} {
		if code, out := c.do("POST", "/api/v1/approvals/"+id, map[string]string{"decision": "approve"}, true); code != http.StatusForbidden {
			t.Errorf("approval of the adjustment by a preparer: %d %v", code, out)
		}
	}
	q := "/api/v1/balances?account=J&currency=EUR&date=" + day(0).String()
	kinds := func() map[string]any {
		_, b := preparer.get(q)
		out := map[string]any{"unexplained": b["unexplained_difference"]}
		for _, it := range b["reconciling_items"].([]any) {
			m := it.(map[string]any)
			out[str(m["kind"])] = m["amount"]
		}
		return out
	}
	if k := kinds(); k[casestore.ItemOpenBreak] != "-3.50" || k[casestore.ItemAdjustment] != nil {
		t.Errorf("before approval: %v, want the fee an open break", k)
	}
	if code, out := approver.do("POST", "/api/v1/approvals/"+id, map[string]string{"decision": "approve"}, true); code != 200 || out["status"] != casestore.ActionApplied {
		t.Fatalf("approval of the adjustment: %d %v", code, out)
	}
	if s := h.status("j-b1"); s != casestore.StatusOpen {
		t.Errorf("the adjusted break is %s, want open until the entry's posting matches it", s)
	}
	if k := kinds(); k[casestore.ItemAdjustment] != "-3.50" || k[casestore.ItemOpenBreak] != nil || k["unexplained"] != "0.00" {
		t.Errorf("after approval: %v, want the fee an adjustment, nothing unexplained", k)
	}
	if out := preparer.act(http.StatusConflict, ActionRequest{Action: "adjust", BreakIDs: []string{fee}, ReasonCode: "bank_fee", Attachment: "JE-2"}); out["code"] != "adjusted" {
		t.Errorf("a second adjustment: %v", out)
	}
	if a, _ := h.console.Store().Action(ctx, id); a.DecidedBy != "approver" || a.Attachment != "JE-2026-0042" {
		t.Errorf("the adjustment as stored: %+v", a)
	}
}

// TestStatementContinuity: an account whose statements skip a business
// day (Wednesday) and whose Thursday statement opens at another balance
// than Tuesday's closed, numbered 10, 11, 13: Thursday's balance view
// lists the missing statement, the opening difference and the gap in the
// numbers, the overview flags the day, and its sign-off is refused; an
// account whose statements are not expected daily (statement-days none)
// is only checked for balances and numbers.
func TestStatementContinuity(t *testing.T) {
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "t9."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	h.numberedStatement("C", 0, "10/1", 1000_00, 1000_00, 0)
	h.numberedStatement("C", 1, "11/1", 1000_00, 1000_00, 0)
	h.numberedStatement("C", 3, "13/1", 1100_00, 1100_00, 0) // Wednesday missing, 100.00 more at the opening
	h.numberedStatement("W", 0, "1", 500_00, 500_00, 0)
	h.numberedStatement("W", 4, "2", 500_00, 500_00, 0) // weekly: nothing missing
	st := h.console.Store()
	ctx := context.Background()
	waitFor(t, "the statements in the case store", func() bool {
		days, _ := st.StatementDays(ctx, 10)
		return len(days) == 5
	})
	preparer := h.signIn("preparer")
	code, b := preparer.get("/api/v1/balances?account=C&currency=EUR&date=" + day(3).String())
	if code != 200 {
		t.Fatalf("balance: %d %v", code, b)
	}
	issues, _ := b["statement_issues"].([]any)
	kinds := map[string]string{}
	for _, x := range issues {
		m := x.(map[string]any)
		kinds[str(m["kind"])] = str(m["date"]) + " " + str(m["detail"])
	}
	if len(issues) != 3 || !strings.HasPrefix(kinds[casestore.IssueMissing], day(2).String()) ||
		!strings.Contains(kinds[casestore.IssueOpeningDiffers], "1100.00 EUR") || !strings.Contains(kinds[casestore.IssueOpeningDiffers], "closed at 1000.00 EUR") ||
		!strings.Contains(kinds[casestore.IssueSequenceGap], "no. 12 is missing") || b["reconciled"] != false {
		t.Errorf("Thursday's statement issues: %v (reconciled %v)", issues, b["reconciled"])
	}
	// Tuesday's view has none: its day and numbers follow Monday's.
	if _, b := preparer.get("/api/v1/balances?account=C&currency=EUR&date=" + day(1).String()); len(b["statement_issues"].([]any)) != 0 {
		t.Errorf("Tuesday has statement issues: %v", b["statement_issues"])
	}
	code, out := preparer.do("POST", "/api/v1/signoffs", SignoffRequest{Account: "C", Currency: "EUR", Date: day(3).String(), Comment: "checked"}, true)
	if code != http.StatusConflict || !strings.Contains(str(out["error"])+str(out["message"])+str(out["detail"]), "missing or inconsistent") {
		t.Errorf("sign-off of Thursday: %d %v, want 409 naming the statement issue", code, out)
	}
	for path, want := range map[string][]string{
		"/balances/day?account=C&currency=EUR&date=" + day(3).String(): {"Missing or inconsistent statements (3)", "Missing statement", "Opening balance differs", "Statement numbers skip"},
		"/balances": {"3 missing or inconsistent statements"},
	} {
		resp, err := preparer.hc.Get(preparer.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s does not say %q", path, w)
			}
		}
	}
	// Weekly statements: with statement-days W=none nothing is missing;
	// with the default, Tuesday to Thursday are.
	if _, b := preparer.get("/api/v1/balances?account=W&currency=EUR&date=" + day(4).String()); len(b["statement_issues"].([]any)) != 3 {
		t.Errorf("W with daily statements expected: %v", b["statement_issues"])
	}
	h.console.stmtDays = map[string]string{"W": "none"}
	if _, b := preparer.get("/api/v1/balances?account=W&currency=EUR&date=" + day(4).String()); len(b["statement_issues"].([]any)) != 0 {
		t.Errorf("W with statement-days none: %v", b["statement_issues"])
	}
	// The escalation sweep on Monday tells the team: C's missing
	// Wednesday and Friday (from Wednesday, level 2), its opening
	// difference and its gap in the numbers; once each.
	now := day(7).Time().Add(9 * time.Hour)
	if n, err := h.console.sweep(ctx, now); err != nil || n != 3 {
		t.Fatalf("sweep: %d new, %v; want 3", n, err)
	}
	es, err := st.UnsentEscalations(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		if e.Kind == record.EscalateStatement {
			got[e.Reason] = fmt.Sprintf("%d %s %s", e.Level, e.Account, e.Detail)
		}
	}
	if len(got) != 3 || !strings.HasPrefix(got[casestore.IssueMissing], "2 C ") || !strings.Contains(got[casestore.IssueMissing], "2 business days from "+day(2).String()+" to "+day(4).String()) ||
		!strings.Contains(got[casestore.IssueOpeningDiffers], "opens at 1100.00") || !strings.Contains(got[casestore.IssueSequenceGap], "no. 12") {
		t.Errorf("statement escalations: %v", got)
	}
	if n, err := h.console.sweep(ctx, now.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("a second sweep: %d new, %v", n, err)
	}
}
