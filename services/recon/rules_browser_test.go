package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/testenv/browser"
)

// TestRulesChangeInBrowser: on `recon up`, a rules editor proposes a
// change on the rules page (the exact rule renamed), sees the replay's
// diff against what the system decided, cannot approve it (no button; the
// API answers 403); an approver approves it; matches decided afterwards
// carry the new rule version and its rule, and so do those decided after
// a restart; the audit chain, with every step, verifies. Pages are
// photographed.
func TestRulesChangeInBrowser(t *testing.T) {
	testenv.Chromium(t)
	data := t.TempDir()
	inbox := filepath.Join(data, "inbox")
	const password = "pw-rules-1"
	start := func() (base, metrics string, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		out := &testenv.Buffer{}
		done := make(chan error, 1)
		go func() {
			done <- runUp(ctx, []string{"--data-dir", data, "--ops-addr", "127.0.0.1:0", "--log-level", "warn", "--idle-advance", "1s",
				"--console-addr", "127.0.0.1:0", "--demo-password", password}, out, io.Discard)
		}()
		stop = func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("up: %v", err)
			}
		}
		testenv.WaitUntil(t, time.Minute, func() string {
			if strings.Contains(out.String(), "console: http") {
				return ""
			}
			return "recon up starting: " + out.String()
		})
		base = regexp.MustCompile(`console: (http://\S+)`).FindStringSubmatch(out.String())[1]
		metrics = regexp.MustCompile(`metrics: (http://\S+)`).FindStringSubmatch(out.String())[1]
		return base, metrics, stop
	}
	drop := func(side, name string, b []byte) {
		tmp := filepath.Join(inbox, side, "."+name)
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, side, name)); err != nil {
			t.Fatal(err)
		}
	}
	wh, err := sql.Open("sqlite", filepath.Join(data, "recon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	count := func(q string, args ...any) int {
		var n int
		_ = wh.QueryRow(q, args...).Scan(&n)
		return n
	}
	// A day of a few exact pairs, ids and references of their own.
	smallDay := func(tag, date string) {
		var bank, ledger bytes.Buffer
		bank.WriteString("account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n")
		ledger.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description\n")
		for i := 1; i <= 3; i++ {
			ref := fmt.Sprintf("INV-2026-%s%02d", tag, i)
			fmt.Fprintf(&bank, "DE44500105175407324931,EUR,%s,%s,%d.%02d,%s,,Initech GmbH,payment %s\n", date, date, 100*i, i, ref, ref)
			fmt.Fprintf(&ledger, "%s-L%d,DE44500105175407324931,EUR,%s,%d.%02d,%s,Initech GmbH,invoice %s\n", tag, i, date, 100*i, i, ref, ref)
		}
		drop("ledger", "ledger-"+tag+".csv", ledger.Bytes())
		drop("bank", "bank-"+tag+".csv", bank.Bytes())
	}
	// The matcher has switched to version v (its gauge).
	matcherOn := func(metrics string, v int) {
		testenv.WaitUntil(t, time.Minute, func() string {
			resp, err := http.Get(metrics)
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if regexp.MustCompile(fmt.Sprintf(`(?m)^recon_matcher_rule_version %d$`, v)).Match(b) {
				return ""
			}
			return "matcher not on rule version " + fmt.Sprint(v)
		})
	}

	base, metrics, stop := start()
	// A noisy March day, decided by version 1.
	n := gen.DefaultNoise()
	n.Pairs, n.Accounts, n.Seed = 300, 3, 4242
	var bankB, ledgerB, truth bytes.Buffer
	if err := gen.WriteNoisy(n, &bankB, &ledgerB, &truth); err != nil {
		t.Fatal(err)
	}
	drop("ledger", "ledger.csv", ledgerB.Bytes())
	drop("bank", "bank.csv", bankB.Bytes())
	testenv.WaitUntil(t, 2*time.Minute, func() string {
		if m := count(`SELECT COUNT(*) FROM recon_matches WHERE rule = 'exact' AND rule_version = 1`); m < 50 {
			return fmt.Sprintf("%d exact matches of version 1 in the warehouse", m)
		}
		return ""
	})

	w := browser.NewWalk(t, base)
	C := w.C
	w.SignIn("editor", password)
	w.Do("rules page", chromedp.Navigate(base+"/rules"), chromedp.WaitVisible(C(`textarea#yaml`)))
	if tx := w.Text("main"); !strings.Contains(tx, "Version 1 decides") || !strings.Contains(tx, "reference-in-text") {
		t.Fatalf("rules page: %.800s", tx)
	}
	w.Shot("rules")
	text, err := chromedp.Run(w.Ctx, chromedp.Value(C(`textarea#yaml`)))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(text, "- name: exact\n", "- name: exact-reference\n", 1)
	if changed == text {
		t.Fatalf("no rule named exact in %q", text)
	}
	// First a mistake: the page names its line and key.
	broken := strings.Replace(changed, "    reference: normalized\n", "    referense: normalized\n", 1)
	w.Do("propose broken", chromedp.SetValue(C(`textarea#yaml`), broken), chromedp.SetValue(C(`input[name=from]`), "2026-03-01"),
		chromedp.SetValue(C(`input[name=to]`), "2026-04-30"), chromedp.SetValue(C(`input[name=comment]`), "say what the exact rule compares"))
	w.Loads("propose broken", chromedp.Click(C(`form.propose button`)))
	if tx := w.Text(".flash.bad"); !strings.Contains(tx, "line ") || !strings.Contains(tx, "referense") {
		t.Fatalf("a broken text: %q", tx)
	}
	w.Shot("rules-invalid")
	w.Do("propose", chromedp.SetValue(C(`textarea#yaml`), changed))
	w.Loads("propose", chromedp.Click(C(`form.propose button`)))
	testenv.WaitUntil(t, 3*time.Minute, func() string {
		w.Do("proposal", chromedp.Reload(), chromedp.WaitVisible(C(`main`)))
		if tx := w.Text("main"); !strings.Contains(tx, "What it would change") {
			return tx
		}
		return ""
	})
	tx := w.Text("main")
	for _, want := range []string{"exact-reference", "exact", "Your proposal: a different approver decides it."} {
		if !strings.Contains(tx, want) {
			t.Errorf("proposal page lacks %q: %.1500s", want, tx)
		}
	}
	if strings.Contains(tx, "Approve and activate") {
		t.Error("the author is offered the approval")
	}
	w.Shot("rules-proposal")
	loc, err := chromedp.Run(w.Ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	proposal := loc[strings.LastIndex(loc, "/")+1:]
	if i := strings.IndexByte(proposal, '?'); i >= 0 {
		proposal = proposal[:i]
	}
	// The API refuses the author's own approval.
	status, err := chromedp.Run(w.Ctx, chromedp.Evaluate[int](fmt.Sprintf(`(async () => {
		const me = await (await fetch('/api/v1/me')).json();
		const p = await (await fetch('/api/v1/rules/proposals/%s')).json();
		const r = await fetch('/api/v1/approvals/' + p.action_id, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token}, body: JSON.stringify({decision: 'approve'})});
		return r.status; })()`, proposal), chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("the author's own approval: %v (%v), want 403", status, err)
	}

	// An approver approves.
	w2 := browser.NewWalk(t, base)
	w2.SignIn("approver", password)
	w2.Do("proposal", chromedp.Navigate(base+"/rules/proposals/"+proposal), chromedp.WaitVisible(C(`button[value=approve]`)))
	w2.Do("comment", chromedp.SendKeys(C(`input[name=comment]`), "checked the replay"))
	w2.Loads("approve", chromedp.Click(C(`button[value=approve]`)))
	testenv.WaitUntil(t, time.Minute, func() string {
		w2.Do("proposal", chromedp.Navigate(base+"/rules/proposals/"+proposal), chromedp.WaitVisible(C(`main`)))
		if tx := w2.Text("main"); !strings.Contains(tx, "active as version 2") {
			return tx
		}
		return ""
	})
	w2.Do("rules page", chromedp.Navigate(base+"/rules"), chromedp.WaitVisible(C(`main`)))
	if tx := w2.Text("main"); !strings.Contains(tx, "Version 2 decides") || !strings.Contains(tx, "approved by approver") {
		t.Errorf("rules page after the approval: %.600s", tx)
	}
	w2.Do("version 2", chromedp.Navigate(base+"/rules/versions/2"), chromedp.WaitVisible(C(`pre.textdiff`)))
	if tx := w2.Text("pre.textdiff"); !regexp.MustCompile(`(?m)^-\s+- name: exact$`).MatchString(tx) ||
		!regexp.MustCompile(`(?m)^\+\s+- name: exact-reference$`).MatchString(tx) {
		t.Errorf("version 2's diff: %.600s", tx)
	}
	w2.Shot("rules-version")

	// Matches decided from now on carry version 2, and a restart keeps it.
	matcherOn(metrics, 2)
	smallDay("A", "2026-04-20")
	testenv.WaitUntil(t, time.Minute, func() string {
		if n := count(`SELECT COUNT(*) FROM recon_matches WHERE rule = 'exact-reference' AND rule_version = 2`); n != 3 {
			return fmt.Sprintf("%d matches of exact-reference, version 2", n)
		}
		return ""
	})
	stop()
	base, metrics, stop = start()
	defer stop()
	matcherOn(metrics, 2)
	smallDay("B", "2026-04-21")
	testenv.WaitUntil(t, time.Minute, func() string {
		if n := count(`SELECT COUNT(*) FROM recon_matches WHERE rule = 'exact-reference' AND rule_version = 2`); n != 6 {
			return fmt.Sprintf("%d matches of exact-reference, version 2", n)
		}
		return ""
	})
	if n := count(`SELECT COUNT(*) FROM recon_matches WHERE rule_version = 2 AND rule = 'exact'`); n != 0 {
		t.Errorf("%d matches by the old exact rule under version 2", n)
	}
	// The audit chain holds the proposal, its request, the approval and
	// the activation, and verifies.
	w3 := browser.NewWalk(t, base)
	w3.SignIn("viewer", password)
	audit, err := chromedp.Run(w3.Ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (await fetch('/api/v1/audit?verify=1&limit=1000')).json()))()`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"valid":true`, `"event":"rules_propose"`, `"event":"rules_change"`, `"event":"approve"`, `"event":"rules_activate"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s: %.2000s", want, audit)
		}
	}
}
