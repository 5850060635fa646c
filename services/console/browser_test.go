package console

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/browser"
)

// TestBrowser drives the console in headless Chromium as an analyst would:
// sign in through the embedded provider's login form, open the queue and
// filter it, accept a break with a reason, match a bank break with two
// ledger breaks whose sums agree, confirm a proposal, and see each item's
// new status. Screenshots of the dashboard, queue, detail and manual match
// are kept.
func TestBrowser(t *testing.T) {
	testenv.Chromium(t) // before the servers: skip or fail at once without it
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "b1."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	h.produce(dataset()...)
	st := h.console.Store()
	waitFor(t, "breaks and proposals", func() bool {
		n, _ := st.CountBreaks(context.Background(), casestore.Filter{})
		ps, _ := st.Proposals(context.Background(), 10)
		return n == 6 && len(ps) == 2
	})
	w := newWalk(t, h.console.URL())
	base, C, do, text, loads, shot := w.Base, w.C, w.Do, w.Text, w.Loads, w.Shot
	// Sign in through the provider's form.
	w.SignIn("preparer", demoPassword)
	if tx := text("main"); !strings.Contains(tx, "open breaks") || !strings.Contains(text("header"), "Pat Preparer") {
		t.Errorf("dashboard: %.300s", tx)
	}
	shot("dashboard")
	// The queue, filtered.
	do("queue", chromedp.Navigate(base+"/breaks"), chromedp.WaitVisible(C(`#queue`)), chromedp.SendKeys(C(`#q`), "fee"))
	loads("filter", chromedp.Submit(C(`#q`)))
	if tx := text("#queue tbody"); !strings.Contains(tx, "Account fee March") && !strings.Contains(tx, "Wire fee") || strings.Contains(tx, "Initech") {
		t.Errorf("queue filtered by 'fee': %q", tx)
	}
	do("queue, all", chromedp.Navigate(base+"/breaks?sort=-amount"), chromedp.WaitVisible(C(`#queue`)))
	shot("queue")
	// The detail of the bank fee, accepted with a reason.
	b3 := h.breakOf("b3").BreakID
	do("detail", chromedp.Navigate(base+"/breaks/"+b3), chromedp.WaitVisible(C(`dl.kv`)))
	shot("detail")
	do("accept", chromedp.SetValue(C(`select[name=reason_code]`), "bank_fee"), chromedp.SendKeys(C(`textarea[name=comment]`), "monthly account fee"))
	loads("accept", chromedp.Click(C(`button[value=accept]`)))
	do("accepted", chromedp.WaitVisible(C(`.flash.ok`)))
	if tx := text(".flash.ok"); !strings.Contains(tx, "Accept") {
		t.Errorf("after accept: %q", tx)
	}
	// Manual match: the bank payout against two ledger items; the sums agree.
	b1, l1, l2 := h.breakOf("b1").BreakID, h.breakOf("l1").BreakID, h.breakOf("l2").BreakID
	do("manual match", chromedp.Navigate(base+"/match?break_id="+b1), chromedp.WaitVisible(C(`#manual`)),
		chromedp.Click(C(`input[value="`+l1+`"]`)), chromedp.Click(C(`input[value="`+l2+`"]`)), chromedp.WaitVisible(C(`#sums.zero`)))
	if tx := text("#sums"); !strings.Contains(tx, "300.00") || !strings.Contains(tx, "applies at once") {
		t.Errorf("running sums: %q", tx)
	}
	shot("manual-match")
	loads("match", chromedp.Click(C(`#do-match`)))
	do("matched", chromedp.WaitVisible(C(`.flash.ok`)))
	if tx := text(".flash.ok"); !strings.Contains(tx, "Manual match") {
		t.Errorf("after the manual match: %q", tx)
	}
	// Confirm a proposal.
	do("proposals", chromedp.Navigate(base+"/proposals"), chromedp.WaitVisible(C(`section.proposal`)))
	shot("proposals")
	loads("confirm", chromedp.Click(C(`section.proposal button[value^="confirm:"]`)))
	do("confirmed", chromedp.WaitVisible(C(`.flash.ok`)))
	if tx := text(".flash.ok"); !strings.Contains(tx, "Confirm") {
		t.Errorf("after confirm: %q", tx)
	}
	// Every item's new status, as the queue shows it.
	waitFor(t, "the matcher to apply the resolutions", func() bool {
		return h.status("b1") == casestore.StatusMatched && h.status("l2") == casestore.StatusMatched && h.status("b3") == casestore.StatusAccepted
	})
	do("statuses", chromedp.Navigate(base+"/breaks?status=all"), chromedp.WaitVisible(C(`#queue`)))
	tx := text("#queue tbody")
	for _, want := range []string{"Matched", "Accepted", "Open"} {
		if !strings.Contains(tx, want) {
			t.Errorf("queue after the actions has no %q: %q", want, tx)
		}
	}
	shot("queue-after")
	// The manually matched break shows its match and offers the unmatch.
	do("matched detail", chromedp.Navigate(base+"/breaks/"+b1), chromedp.WaitVisible(C(`dl.kv`)))
	if tx := text("main"); !strings.Contains(tx, "Matched with (manual, confirmed") || !strings.Contains(tx, "Unmatch") {
		t.Errorf("detail of a manually matched break: %.400s", tx)
	}
	shot("detail-matched")
	ps, _ := st.Proposals(context.Background(), 10)
	if len(ps) != 1 {
		t.Errorf("%d proposals left after confirming one of two", len(ps))
	}
	t.Logf("screenshots in %s", w.Dir)
}

// newWalk starts a browser (stopped at the end of the test).
func newWalk(t *testing.T, base string) *browser.Walk { return browser.NewWalk(t, base) }

// TestBrowserSignoff walks the controls in headless Chromium: a preparer
// requests a write-off, a second user (the approver, in a browser of their
// own) approves it, the balance view shows nothing unexplained, the
// preparer signs the day off, the approver approves, and the day shows
// locked (an action on its items is refused). Screenshots are kept.
func TestBrowserSignoff(t *testing.T) {
	testenv.Chromium(t)
	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "b2."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	h.produce(
		txn("s-b1", record.Bank, "S", "INV-500", 50000, 0, "Northwind", "Invoice 500"),
		txn("s-l1", record.Ledger, "S", "INV-500", 50000, 0, "Northwind", "Invoice 500"),
		txn("s-b2", record.Bank, "S", "", -350, 0, "", "Account fee"),
		txn("s-b3", record.Bank, "S", "RF-1", 2000, 0, "Contoso", "Refund 1"),
	)
	h.statement("S", 0, 1000_00, 1000_00+50000-350+2000, 3)
	st := h.console.Store()
	waitFor(t, "the breaks of account S", func() bool {
		n, _ := st.CountBreaks(context.Background(), casestore.Filter{Status: "all", Account: "S"})
		return n == 2
	})
	prep, appr := newWalk(t, h.console.URL()), newWalk(t, h.console.URL())
	C := prep.C
	dayQ := "account=S&currency=EUR&date=" + day(0).String()

	// The preparer requests a write-off of the fee.
	prep.SignIn("preparer", demoPassword)
	fee := h.breakOf("s-b2").BreakID
	prep.Do("fee detail", chromedp.Navigate(prep.Base+"/breaks/"+fee), chromedp.WaitVisible(C(`dl.kv`)),
		chromedp.SetValue(C(`select[name=reason_code]`), "bank_fee"), chromedp.SendKeys(C(`textarea[name=comment]`), "account fee"))
	prep.Loads("request write-off", chromedp.Click(C(`button[value=write_off]`)))
	prep.Do("requested", chromedp.WaitVisible(C(`.flash.ok`)))
	if tx := prep.Text(".flash.ok"); !strings.Contains(tx, "requested") {
		t.Errorf("after the write-off request: %q", tx)
	}
	// The approver approves it in their own browser.
	appr.SignIn("approver", demoPassword)
	appr.Do("approvals", chromedp.Navigate(appr.Base+"/approvals"), chromedp.WaitVisible(C(`button[value=approve]`)))
	if tx := appr.Text("main"); !strings.Contains(tx, "Waiting for you") || !strings.Contains(tx, "Write off") {
		t.Errorf("approvals page of the approver: %.400s", tx)
	}
	appr.Shot("approvals")
	appr.Loads("approve the write-off", chromedp.Click(C(`button[value=approve]`)))
	appr.Do("approved", chromedp.WaitVisible(C(`.flash.ok`)))
	waitFor(t, "the write-off applied", func() bool { return h.status("s-b2") == casestore.StatusWrittenOff })

	// The balance view: nothing unexplained; the preparer signs the day off.
	prep.Do("balance", chromedp.Navigate(prep.Base+"/balances/day?"+dayQ), chromedp.WaitVisible(C(`td.unexplained`)))
	if u := prep.Text("td.unexplained"); u != "0.00" {
		t.Errorf("unexplained difference on the page: %q, want 0.00", u)
	}
	if tx := prep.Text("main"); !strings.Contains(tx, "1516.50") || !strings.Contains(tx, "Written off or accepted") {
		t.Errorf("balance view: %.600s", tx)
	}
	prep.Shot("balance")
	prep.Do("sign-off comment", chromedp.SendKeys(C(`form[action="/signoff"] input[name=comment]`), "statement agreed, fee written off"))
	prep.Loads("request sign-off", chromedp.Submit(C(`form[action="/signoff"] input[name=comment]`)))
	prep.Do("sign-off requested", chromedp.WaitVisible(C(`.flash.ok`)))
	// The approver approves the sign-off.
	appr.Do("approvals 2", chromedp.Navigate(appr.Base+"/approvals"), chromedp.WaitVisible(C(`button[value=approve]`)))
	if tx := appr.Text("main"); !strings.Contains(tx, "Sign-off of") {
		t.Errorf("approvals page has no sign-off: %.400s", tx)
	}
	appr.Loads("approve the sign-off", chromedp.Click(C(`button[value=approve]`)))
	appr.Do("sign-off approved", chromedp.WaitVisible(C(`.flash.ok`)))
	// The day is locked.
	prep.Do("locked balance", chromedp.Navigate(prep.Base+"/balances/day?"+dayQ), chromedp.WaitVisible(C(`.flash.lock`)))
	if tx := prep.Text(".flash.lock"); !strings.Contains(tx, "approved by approver") {
		t.Errorf("lock banner: %q", tx)
	}
	prep.Shot("balance-locked")
	prep.Do("overview", chromedp.Navigate(prep.Base+"/balances"), chromedp.WaitVisible(C(`main table.data`)))
	if tx := prep.Text("main table.data tbody"); !strings.Contains(tx, "1516.50") || !strings.Contains(tx, "Signed off") {
		t.Errorf("balances overview: %q", tx)
	}
	prep.Shot("balances")
	// An account whose Wednesday statement never came and whose Thursday
	// statement opens 100.00 higher: its Thursday lists both and cannot
	// be signed off.
	h.numberedStatement("C", 0, "10/1", 1000_00, 1000_00, 0)
	h.numberedStatement("C", 1, "11/1", 1000_00, 1000_00, 0)
	h.numberedStatement("C", 3, "13/1", 1100_00, 1100_00, 0)
	waitFor(t, "account C's statements", func() bool {
		days, _ := h.console.Store().StatementDays(context.Background(), 10)
		n := 0
		for _, d := range days {
			if d.Account == "C" {
				n++
			}
		}
		return n == 3
	})
	prep.Do("statement issues", chromedp.Navigate(prep.Base+"/balances/day?account=C&currency=EUR&date="+day(3).String()), chromedp.WaitVisible(C(`section.issues`)))
	if tx := prep.Text("section.issues"); !strings.Contains(tx, "Missing statement") || !strings.Contains(tx, "Opening balance differs") || !strings.Contains(tx, "no. 12 is missing") {
		t.Errorf("statement issues: %q", tx)
	}
	if tx := prep.Text("main"); strings.Contains(tx, "Request sign-off") {
		t.Errorf("a day with statement issues offers a sign-off")
	}
	prep.Shot("balance-statement-issues")
	prep.Do("overview with statement issues", chromedp.Navigate(prep.Base+"/balances"), chromedp.WaitVisible(C(`main table.data`)))
	if tx := prep.Text("main table.data tbody"); !strings.Contains(tx, "3 missing or inconsistent statements") {
		t.Errorf("balances overview after C's statements: %q", tx)
	}
	prep.Shot("balances-statement-issues")
	refund := h.breakOf("s-b3").BreakID
	prep.Do("locked detail", chromedp.Navigate(prep.Base+"/breaks/"+refund), chromedp.WaitVisible(C(`.flash.lock`)),
		chromedp.SetValue(C(`select[name=reason_code]`), "other"))
	prep.Loads("accept on a locked day", chromedp.Click(C(`button[value=accept]`)))
	prep.Do("refused", chromedp.WaitVisible(C(`.flash.bad`)))
	if tx := prep.Text(".flash.bad"); !strings.Contains(tx, "signed off") {
		t.Errorf("an action on a locked day: %q", tx)
	}
	if s := h.status("s-b3"); s != casestore.StatusOpen {
		t.Errorf("the refund on the locked day became %s", s)
	}
	// The refund, open 10 days against a 5-day SLA, is escalated; its
	// detail says so. So are S's statements missing since day 1, and C's
	// missing ones, its opening difference and its number gap.
	if n, err := h.console.sweep(context.Background(), day(10).Time()); err != nil || n != 5 {
		t.Errorf("sweep: %d escalations, %v; want the refund's and 4 of missing or inconsistent statements", n, err)
	}
	prep.Do("escalated detail", chromedp.Navigate(prep.Base+"/breaks/"+refund), chromedp.WaitVisible(C(`dl.kv`)))
	if tx := prep.Text("main"); !strings.Contains(tx, "level 1 escalated to operations") {
		t.Errorf("break detail after escalation: %.500s", tx)
	}
	prep.Shot("break-escalated")
	prep.Do("report", chromedp.Navigate(prep.Base+"/reports/reconciliation?"+dayQ), chromedp.WaitVisible(C(`.report`)))
	prep.Shot("reconciliation-statement")
	// A payroll of 11 items paid in two parts: more records than the N:M
	// search's bound; each break says so.
	var pay []*record.Transaction
	for i := 0; i < 11; i++ {
		pay = append(pay, txn(fmt.Sprintf("p-l%02d", i), record.Ledger, "P", "BATCH-7002", -10000, 0, "Payroll Services", "salary run BATCH-7002"))
	}
	pay = append(pay, txn("p-b1", record.Bank, "P", "", -55000, 1, "", "PAYROLL BATCH-7002 PART 1"),
		txn("p-b2", record.Bank, "P", "", -55000, 1, "", "PAYROLL BATCH-7002 PART 2"))
	h.produce(pay...)
	waitFor(t, "the payroll's breaks", func() bool {
		n, _ := st.CountBreaks(context.Background(), casestore.Filter{Status: "all", Account: "P"})
		return n == 13
	})
	prep.Do("bound detail", chromedp.Navigate(prep.Base+"/breaks/"+h.breakOf("p-b1").BreakID), chromedp.WaitVisible(C(`.flash.warn`)))
	if tx := prep.Text(".flash.warn"); !strings.Contains(tx, "N:M search bound hit: 2 bank entries and 11 ledger items") {
		t.Errorf("the bound's note on the break: %q", tx)
	}
	prep.Shot("break-bound")
	t.Logf("screenshots in %s", prep.Dir)
}
