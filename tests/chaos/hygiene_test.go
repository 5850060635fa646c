package chaos

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecretHygiene runs every service as a process on the real servers
// with secrets in its settings (a database password, the webhook signing
// secret, the team channel's URL, an S3 secret key, the demo users'
// password) and IBANs as accounts, at log level debug, through ingestion,
// matching, loading, notification, escalation and a sign-in: no log line,
// no /metrics page and no --print-config shows a secret or a full IBAN.
func TestSecretHygiene(t *testing.T) {
	if testing.Short() {
		t.Skip("process test in -short mode")
	}
	s := setup(t, false)
	dir := t.TempDir()
	secrets := map[string]string{
		"database password":  "pgpw-" + s.run,
		"webhook secret":     "whsec-" + s.run,
		"channel token":      "chan-" + s.run,
		"S3 secret key":      "s3sk-" + s.run,
		"demo user password": "demopw-" + s.run,
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// PostgreSQL trusts the test's loopback connections: the password is
	// sent and ignored, so it is a setting like any.
	dbURL := strings.Replace(s.dbURL, "postgres://recon@", "postgres://recon:"+secrets["database password"]+"@", 1)
	if dbURL == s.dbURL {
		t.Fatalf("unexpected database URL shape %q", s.dbURL)
	}
	hk := &hook{secret: []byte(secrets["webhook secret"]), got: map[string]int{}}
	hookSrv := httptest.NewServer(hk)
	defer hookSrv.Close()
	var chMu sync.Mutex
	var channel []string
	chanSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		chMu.Lock()
		channel = append(channel, string(b))
		chMu.Unlock()
	}))
	defer chanSrv.Close()

	// The day's files: IBAN accounts, pairs that match, and bank entries
	// without a counterpart (breaks, then escalations: they are months old).
	ibans := []string{"DE89370400440532013000", "GB29NWBK60161331926819", "FR1420041010050500013M02606", "NL91ABNA0417164300"}
	inbox := filepath.Join(dir, "inbox")
	for _, sub := range []string{"bank", "ledger"} {
		if err := os.MkdirAll(filepath.Join(inbox, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var bank, ledger strings.Builder
	bank.WriteString("account,currency,booking_date,amount,reference\n")
	ledger.WriteString("id,account,currency,booking_date,amount,reference\n")
	for i := 0; i < 40; i++ {
		a := ibans[i%len(ibans)]
		fmt.Fprintf(&bank, "%s,EUR,2026-03-02,%d.%02d,INV-%04d\n", a, 100+i, i, i)
		fmt.Fprintf(&ledger, "GL-%04d,%s,EUR,2026-03-02,%d.%02d,INV-%04d\n", i, a, 100+i, i, i)
	}
	for i, a := range ibans {
		fmt.Fprintf(&bank, "%s,EUR,2026-03-02,-%d.50,FEE-%d\n", a, i+1, i)
	}

	base := append(s.kafkaEnv(), "RECON_LOG_LEVEL=debug", "RECON_LOG_FORMAT=json")
	ops := map[string]string{}
	env := func(name string, more ...string) []string {
		ops[name] = freeAddr(t)
		return append(append(append([]string{}, base...), "RECON_OPS_ADDR="+ops[name]), more...)
	}
	consoleAddr := freeAddr(t)
	procs := []*proc{
		newProc(t, dir, "ingestor", env("ingestor", "RECON_INBOX="+inbox, "RECON_INBOX_POLL=200ms", "RECON_TRANSACTIONAL_ID="+s.prefix+"-ingestor",
			"RECON_S3_ACCESS_KEY=AKIDEXAMPLE", "RECON_S3_SECRET_KEY_FILE="+file("s3", secrets["S3 secret key"]), "RECON_GROUP="+s.prefix+"-ingestor"), "ingestor"),
		newProc(t, dir, "matcher", append(env("matcher"), s.matcherEnv()[len(s.kafkaEnv()):]...), "matcher"),
		newProc(t, dir, "loader", env("loader", "RECON_DATABASE_URL="+dbURL, "RECON_GROUP="+s.prefix+"-loader"), "loader"),
		newProc(t, dir, "notifier", env("notifier", "RECON_REDIS_URL="+s.redisURL, "RECON_REDIS_PREFIX="+s.prefix, "RECON_GROUP="+s.prefix+"-notifier",
			"RECON_WEBHOOK_URL="+hookSrv.URL, "RECON_WEBHOOK_SECRET_FILE="+file("whsec", secrets["webhook secret"]),
			"RECON_CHANNEL_URL_FILE="+file("chan", chanSrv.URL+"/hooks/"+secrets["channel token"])), "notifier"),
		newProc(t, dir, "console", env("console", "RECON_DATABASE_URL="+dbURL, "RECON_GROUP="+s.prefix+"-console", "RECON_CONSOLE_ADDR="+consoleAddr,
			"RECON_DEMO_IDP=true", "RECON_DEMO_PASSWORD="+secrets["demo user password"], "RECON_ESCALATION_INTERVAL=1s"), "console"),
	}
	for _, p := range procs {
		p.start()
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	if err := os.WriteFile(filepath.Join(inbox, "ledger", "gl.csv"), []byte(ledger.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "bank", "statement.csv"), []byte(bank.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				for _, p := range procs {
					t.Logf("%s:\n%s", p.name, p.tail())
				}
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitUntil("the matches in the warehouse", 2*time.Minute, func() bool { return s.result(t).matches == 40 })
	waitUntil("the breaks notified", 2*time.Minute, func() bool { return len(hk.counts()) >= len(ibans) })
	waitUntil("an escalation in the team channel", 2*time.Minute, func() bool {
		chMu.Lock()
		defer chMu.Unlock()
		return len(channel) > 0
	})
	// A sign-in through the embedded provider, with the demo password.
	signIn(t, "http://"+consoleAddr, "preparer", secrets["demo user password"])

	// What an operator sees: every /metrics page and --print-config.
	var seen strings.Builder
	for name, addr := range ops {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("%s /metrics: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&seen, "== %s /metrics\n%s\n", name, b)
	}
	for _, p := range procs {
		out, err := execRecon(append(p.env, "RECON_PRINT_CONFIG=true"), p.args...)
		if err != nil {
			t.Errorf("%s --print-config: %v: %s", p.name, err, out)
		}
		fmt.Fprintf(&seen, "== %s --print-config\n%s\n", p.name, out)
	}
	for _, p := range procs {
		p.stop()
		b, _ := os.ReadFile(p.log)
		fmt.Fprintf(&seen, "== %s log\n%s\n", p.name, b)
	}
	all := seen.String()
	if !strings.Contains(all, "****3000") {
		t.Errorf("no masked account in the logs: the scan would not see one either")
	}
	for what, v := range secrets {
		if i := strings.Index(all, v); i >= 0 {
			t.Errorf("the %s is shown: …%s…", what, excerpt(all, i))
		}
	}
	for _, a := range ibans {
		if i := strings.Index(all, a); i >= 0 {
			t.Errorf("a full account number is shown: …%s…", excerpt(all, i))
		}
	}
}

func excerpt(s string, i int) string {
	return s[max(0, i-200):min(len(s), i+100)]
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn signs user in to the console at base through its provider's
// login form.
func signIn(t *testing.T, base, user, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := hc.Get(base + "/login?next=/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := hiddenID.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at %s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	login := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host + "/login"
	resp, err = hc.PostForm(login, url.Values{"id": {string(m[1])}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"user":"`+user+`"`) {
		t.Fatalf("sign-in of %s: %d %s", user, resp.StatusCode, body)
	}
}
