package console

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/testenv"
)

// browser starts headless Debian chromium (never a downloaded browser) with
// the flags this closed network needs.
func browser(t *testing.T) (context.Context, func()) {
	path := testenv.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf), chromedp.WithDebugf(func(f string, a ...any) {
		if os.Getenv("RECON_CDP_DEBUG") != "" {
			t.Logf(f, a...)
		}
	}))
	// A bound for the whole walk through the pages, generous for a busy CI
	// machine (each step normally takes well under a second).
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	return ctx, func() { cancelT(); cancelB(); cancelA() }
}

// screenshotDir keeps the screenshots: RECON_SCREENSHOT_DIR (the README's
// docs/screenshots when refreshed; scripts/test.sh keeps them with the
// test artefacts), else the test's temp dir.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("RECON_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

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
	ctx, stop := browser(t)
	defer stop()
	dir := screenshotDir(t)
	base := h.console.URL()
	C := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	fail := func(what string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(C("body")))
		t.Fatalf("%s: %v (at %s: %.600s)", what, err, loc, body)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(C(sel)))
		if err != nil {
			fail("text of "+sel, err)
		}
		return s
	}
	// loads runs an action that navigates (a submit, a click) and waits for
	// the new page's load event, so the next step never reads the old page.
	loads := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, a)); err != nil {
			fail(what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			fail("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Sign in through the provider's form.
	do("sign in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(C(`input[name=username]`)),
		chromedp.SendKeys(C(`input[name=username]`), "preparer"), chromedp.SendKeys(C(`input[name=password]`), demoPassword))
	loads("sign in", chromedp.Submit(C(`input[name=password]`)))
	do("dashboard", chromedp.WaitVisible(C(`section.cards`)))
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
	t.Logf("screenshots in %s", dir)
}
