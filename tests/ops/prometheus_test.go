// Package ops proves the operations side on real servers: the alert rules
// with promtool, and every dashboard panel's query against a real
// Prometheus scraping `recon up --demo`.
package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/dashboards"
	"github.com/openrecon/recon/internal/testenv"
)

var reconBin string

func TestMain(m *testing.M) { testenv.MainWithRecon(m, "../../services/recon", &reconBin) }

var rulesDir = filepath.Join("..", "..", "deploy", "prometheus")

// TestAlertRules: the alert rules load (promtool check rules) and each
// fires, and stays quiet, where its unit tests say (promtool test rules).
func TestAlertRules(t *testing.T) {
	promtool := filepath.Join(filepath.Dir(testenv.Prometheus(t)), "promtool")
	for _, args := range [][]string{{"check", "rules", "recon-alerts.yml"}, {"test", "rules", "recon-alerts.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a command until the test ends (then it is stopped).
func start(t *testing.T, out io.Writer, name string, args ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
}

// query asks Prometheus for expr now; it returns the number of series in
// the result and an error text ("" when the query worked).
func query(base, expr string) (int, string) {
	resp, err := http.Get(base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err.Error()
	}
	if r.Status != "success" {
		return 0, r.Error
	}
	return len(r.Data.Result), ""
}

// TestDashboardsOnPrometheus runs `recon up --demo`, lets Debian's
// Prometheus scrape it every second with the alert rules loaded, and asks
// Prometheus every panel query of every dashboard (Grafana's interval
// macros set to 1m, as Grafana would): each returns data. The alert rules
// evaluate without an error.
func TestDashboardsOnPrometheus(t *testing.T) {
	prom := testenv.Prometheus(t)
	dir := t.TempDir()
	upOut := &testenv.Buffer{}
	opsAddr := freePort(t)
	start(t, upOut, reconBin, "up", "--data-dir", filepath.Join(dir, "data"), "--ops-addr", opsAddr, "--demo",
		"--log-level", "warn", "--idle-advance", "1s", "--console-addr", "127.0.0.1:0", "--demo-password", "pw-ops-1")
	testenv.WaitUntil(t, 3*time.Minute, func() string {
		ents, _ := os.ReadDir(filepath.Join(dir, "data", "inbox", "processed"))
		if len(ents) >= 20 {
			return ""
		}
		return fmt.Sprintf("%d demo files processed; %s", len(ents), upOut.String())
	})
	// One request to the console, so its request metrics have a series.
	if m := regexp.MustCompile(`console: (http://\S+)`).FindStringSubmatch(upOut.String()); m != nil {
		if resp, err := http.Get(m[1] + "/login"); err == nil {
			resp.Body.Close()
		}
	}

	rules, err := filepath.Abs(filepath.Join(rulesDir, "recon-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: recon
    static_configs: [{targets: [%q]}]
`, rules, opsAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	promOut := &testenv.Buffer{}
	start(t, promOut, prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	base := "http://" + promAddr
	testenv.WaitUntil(t, time.Minute, func() string {
		if n, e := query(base, `up{job="recon"} == 1`); n == 1 {
			return ""
		} else {
			return fmt.Sprintf("recon not scraped yet (%d, %s): %s", n, e, promOut.String())
		}
	})
	// Enough scrapes for rates (the matcher's lag is read every 10 s).
	type missing struct{ board, panel, expr, why string }
	var empty []missing
	testenv.WaitUntil(t, 90*time.Second, func() string {
		empty = empty[:0]
		for _, b := range dashboards.Boards() {
			for _, p := range b.Panels {
				for _, q := range p.Queries {
					expr := dashboards.PrometheusQuery(q.Expr, "1m")
					if n, e := query(base, expr); n == 0 {
						empty = append(empty, missing{b.Title, p.Title, expr, e})
					}
				}
			}
		}
		if len(empty) == 0 {
			return ""
		}
		return fmt.Sprintf("%d queries without data: %+v", len(empty), empty)
	})
	// The rules loaded and evaluated without an error.
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health != "ok" {
				t.Errorf("alert %s: health %s: %s", rule.Name, rule.Health, rule.LastError)
			}
		}
	}
	ruleText, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(string(ruleText), "- alert: "); n != want {
		t.Errorf("%d alert rules loaded, want the file's %d", n, want)
	}
}
