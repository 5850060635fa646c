package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/browser"
)

// TestDemoFirstScreen opens `recon up --demo` in headless Chromium as a
// visitor would, the morning it runs: the dashboard shows a 30-day match
// rate and (on a business day) today's, breaks inside their SLA beside
// those past it, a waiting sign-off and write-off, and charts with data;
// the balance view lists days with balances, the lost statement and the
// unexplained differences. Every page is photographed
// (RECON_SCREENSHOT_DIR=docs/screenshots refreshes the README's).
func TestDemoFirstScreen(t *testing.T) {
	testenv.Chromium(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, []string{"--data-dir", dir, "--ops-addr", "127.0.0.1:0", "--demo", "--log-level", "warn", "--idle-advance", "1s",
			"--console-addr", "127.0.0.1:0", "--demo-password", "pw-demo-2", "--demo-late-after", "3s"}, out, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("up: %v", err)
		}
	}()
	now := time.Now()
	d, err := makeDemo(now)
	if err != nil {
		t.Fatal(err)
	}
	// Every demo file read, the late one too.
	want := len(d.files) + len(d.late)
	testenv.WaitUntil(t, 2*time.Minute, func() string {
		ents, _ := os.ReadDir(filepath.Join(dir, "inbox", "processed"))
		if len(ents) == want {
			return ""
		}
		return strconv.Itoa(len(ents)) + " of " + strconv.Itoa(want) + " demo files processed; " + out.String()
	})
	base := regexp.MustCompile(`console: (http://\S+)`).FindStringSubmatch(out.String())
	if base == nil {
		t.Fatalf("no console address in %q", out.String())
	}
	w := browser.NewWalk(t, base[1])
	C := w.C
	w.SignIn("preparer", "pw-demo-2")
	// The first screen, once the late file's breaks and the demo's
	// people's requests are in.
	num := func(sel string) int {
		n, _ := strconv.Atoi(strings.TrimSpace(w.Text(sel + " .n")))
		return n
	}
	testenv.WaitUntil(t, 2*time.Minute, func() string {
		w.Do("dashboard", chromedp.Navigate(w.Base+"/"), chromedp.WaitVisible(C(`section.cards`)))
		if r := num(`a.card[href="/approvals"]`); r < 2 {
			return "requests waiting: " + strconv.Itoa(r)
		}
		if tx := w.Text("main"); !strings.Contains(tx, "Late") {
			return "no late break yet"
		}
		return ""
	})
	pct := regexp.MustCompile(`^\d{1,3}\.\d\d %$`)
	if r := strings.TrimSpace(w.Text("#rate-30 .n")); !pct.MatchString(r) {
		t.Errorf("30-day match rate %q, want a percentage", r)
	}
	today := record.Date(now.UTC().Unix() / 86400)
	if calendar.Default().For("EUR").IsBusinessDay(today) {
		if r := strings.TrimSpace(w.Text("#rate-today .n")); !pct.MatchString(r) {
			t.Errorf("today's match rate %q, want a percentage (today is a business day)", r)
		}
	}
	open, past := num("#open"), num("#past-sla")
	if past == 0 || open-past < 2 {
		t.Errorf("%d open breaks, %d past their SLA: want some past it and a few inside it", open, past)
	}
	// Charts with data: bars of some height in each of the three.
	heights, err := chromedp.Run(w.Ctx, chromedp.Evaluate[[]int](`Array.from(document.querySelectorAll('svg.chart')).map(s =>
		Array.from(s.querySelectorAll('rect.bar')).filter(r => r.getAttribute('height') > 1).length)`))
	if err != nil {
		w.Fail("chart bars", err)
	}
	if len(heights) != 3 {
		t.Errorf("dashboard has %d charts, want 3", len(heights))
	}
	for i, n := range heights {
		if n == 0 {
			t.Errorf("chart %d has no bar with data", i+1)
		}
	}
	w.Shot("demo-dashboard")
	// The queue and a break's detail.
	w.Do("queue", chromedp.Navigate(w.Base+"/breaks?sort=-age"), chromedp.WaitVisible(C(`#queue`)))
	w.Shot("demo-queue")
	w.Loads("detail", chromedp.Click(C(`#queue tbody a`)))
	w.Do("detail", chromedp.WaitVisible(C(`dl.kv`)))
	w.Shot("demo-detail")
	w.Do("proposals", chromedp.Navigate(w.Base+"/proposals"), chromedp.WaitVisible(C(`section.proposal`)))
	w.Shot("demo-proposals")
	w.Do("approvals", chromedp.Navigate(w.Base+"/approvals"), chromedp.WaitVisible(C(`main table`)))
	if tx := w.Text("main"); !strings.Contains(tx, "Sign-off of") || !strings.Contains(tx, "Write off") {
		t.Errorf("approvals: want the waiting sign-off and write-off: %.400s", tx)
	}
	w.Shot("demo-approvals")
	// The balance view: the latest days of each account with balances.
	w.Do("balances", chromedp.Navigate(w.Base+"/balances"), chromedp.WaitVisible(C(`main table.data`)))
	rows := w.Text("main table.data tbody")
	if n := len(regexp.MustCompile(`(?m)^\S+\s+(EUR|USD)\s+\d{4}-\d\d-\d\d\s+\d+\.\d\d\s`).FindAllString(rows, -1)); n < 8 {
		t.Errorf("balance overview: %d days with a statement balance, want the latest days of both accounts: %.500s", n, rows)
	}
	w.Shot("demo-balances")
	eur, usd := demoAccounts[0], demoAccounts[1]
	days := businessDays(calendar.Default().For("EUR"), today, demoDays)
	day := func(k int) string { return days[len(days)-1-k].String() }
	q := func(a struct{ account, currency string }, d string) string {
		return url.Values{"account": {a.account}, "currency": {a.currency}, "date": {d}}.Encode()
	}
	w.Do("lost statement", chromedp.Navigate(w.Base+"/balances/day?"+q(eur, day(4))), chromedp.WaitVisible(C(`section.issues`)))
	if tx := w.Text("section.issues"); !strings.Contains(tx, "Missing statement") {
		t.Errorf("the lost EUR statement: %q", tx)
	}
	w.Shot("demo-balance-statement-issues")
	w.Do("unlisted charge", chromedp.Navigate(w.Base+"/balances/day?"+q(usd, day(3))), chromedp.WaitVisible(C(`td.unexplained`)))
	if u := w.Text("td.unexplained"); !strings.Contains(u, "25.00") {
		t.Errorf("USD unexplained difference %q, want the unlisted 25.00 charge", u)
	}
	bars, err := chromedp.Run(w.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.chart rect.bar').length`))
	if err != nil {
		w.Fail("unexplained chart", err)
	}
	if bars < 5 {
		t.Errorf("the unexplained-difference chart has %d days, want the month's statement days", bars)
	}
	w.Shot("demo-balance")
	// The first EUR days, signed off by the preparer and the approver.
	w.Do("signed day", chromedp.Navigate(w.Base+"/balances/day?"+q(eur, days[5].String())), chromedp.WaitVisible(C(`.flash.lock`)))
	if tx := w.Text(".flash.lock"); !strings.Contains(tx, "approved by approver") {
		t.Errorf("signed-off day: %q", tx)
	}
	w.Shot("demo-balance-locked")
	w.Do("statement", chromedp.Navigate(w.Base+"/reports/reconciliation?"+q(eur, days[5].String())), chromedp.WaitVisible(C(`main`)))
	w.Shot("demo-reconciliation-statement")
	w.Do("audit", chromedp.Navigate(w.Base+"/audit"), chromedp.WaitVisible(C(`main table`)))
	w.Shot("demo-audit")
	t.Logf("screenshots in %s", w.Dir)
}
