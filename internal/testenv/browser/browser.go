// Package browser drives the console in headless Debian chromium (never a
// downloaded browser) for tests: one Walk is one person's browser going
// through the pages, failing the test with the page's text when a step
// does not work, and keeping screenshots.
package browser

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/openrecon/recon/internal/testenv"
)

// Start starts chromium with the flags this closed network needs; stop
// ends it.
func Start(t *testing.T) (ctx context.Context, stop func()) {
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

// ScreenshotDir keeps the screenshots: RECON_SCREENSHOT_DIR (the README's
// docs/screenshots when refreshed; scripts/test.sh keeps them with the
// test artefacts), else the test's temp dir.
func ScreenshotDir(t *testing.T) string {
	if d := os.Getenv("RECON_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// Walk is one browser session through the console's pages.
type Walk struct {
	T    *testing.T
	Ctx  context.Context
	Base string // the console's URL
	Dir  string // where screenshots go
}

// NewWalk starts a browser (stopped at the end of the test).
func NewWalk(t *testing.T, base string) *Walk {
	ctx, stop := Start(t)
	t.Cleanup(stop)
	return &Walk{T: t, Ctx: ctx, Base: base, Dir: ScreenshotDir(t)}
}

// C selects by CSS.
func (w *Walk) C(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// Fail ends the test with what failed, where, and the page's text.
func (w *Walk) Fail(what string, err error) {
	w.T.Helper()
	loc, _ := chromedp.Run(w.Ctx, chromedp.Location())
	body, _ := chromedp.Run(w.Ctx, chromedp.Text(w.C("body")))
	w.T.Fatalf("%s: %v (at %s: %.600s)", what, err, loc, body)
}

// Do runs steps.
func (w *Walk) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	w.T.Helper()
	if err := chromedp.Do(w.Ctx, steps...); err != nil {
		w.Fail(what, err)
	}
}

// Text is the text of the first element sel selects.
func (w *Walk) Text(sel string) string {
	w.T.Helper()
	s, err := chromedp.Run(w.Ctx, chromedp.Text(w.C(sel)))
	if err != nil {
		w.Fail("text of "+sel, err)
	}
	return s
}

// Loads runs an action that navigates (a submit, a click) and waits for
// the new page's load event, so the next step never reads the old page.
func (w *Walk) Loads(what string, a chromedp.Action[chromedp.Void]) {
	w.T.Helper()
	if _, err := chromedp.Run(w.Ctx, chromedp.WaitEvent(page.LoadEventFired, nil, a)); err != nil {
		w.Fail(what, err)
	}
}

// Shot saves a screenshot of the whole page as name.png.
func (w *Walk) Shot(name string) {
	w.T.Helper()
	buf, err := chromedp.Run(w.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		w.Fail("screenshot "+name, err)
	}
	if err := os.WriteFile(filepath.Join(w.Dir, name+".png"), buf, 0o644); err != nil {
		w.T.Fatal(err)
	}
}

// SignIn signs user in through the provider's login form and waits for
// the dashboard.
func (w *Walk) SignIn(user, password string) {
	w.T.Helper()
	w.Do("sign in "+user, chromedp.Navigate(w.Base+"/"), chromedp.WaitVisible(w.C(`input[name=username]`)),
		chromedp.SendKeys(w.C(`input[name=username]`), user), chromedp.SendKeys(w.C(`input[name=password]`), password))
	w.Loads("sign in "+user, chromedp.Submit(w.C(`input[name=password]`)))
	w.Do("dashboard of "+user, chromedp.WaitVisible(w.C(`section.cards`)))
}
