package console

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
	"github.com/openrecon/recon/internal/warehouse"
)

// TestRulesAPI walks DESIGN.md §10's API, embedded and on Apache Kafka,
// redis-server and PostgreSQL: the active version the matcher
// seeded; a proposal refused for its role, for its text (422 naming line
// and key), for being the version in force; a proposal replayed against
// an (empty) warehouse, its approval refused to its author and given by
// an approver, published as version 2 and active; a rollback to version 1
// becoming version 3; and a console without a warehouse failing the
// replay with the reason.
func TestRulesAPI(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		dir := t.TempDir()
		whURL := migrated(t, "sqlite:"+filepath.Join(dir, "wh.db"))
		rulesAPI(t, kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "r1."},
			redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()}), "sqlite:"+filepath.Join(dir, "cases.db"), whURL)
	})
	t.Run("servers", func(t *testing.T) {
		ropt, err := redis.ParseURL(testenv.Redis(t))
		if err != nil {
			t.Fatal(err)
		}
		whURL := migrated(t, pgSchema(t, "rwh"))
		rulesAPI(t, kafka.Config{Brokers: testenv.Kafka(t), Partitions: 2, TopicPrefix: fmt.Sprintf("r%d.", time.Now().UnixNano())},
			redis.NewClient(ropt), pgSchema(t, "rcases"), whURL)
	})
}

// migrated is url with the warehouse's tables (an empty warehouse).
func migrated(t *testing.T, url string) string {
	wh, err := warehouse.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	if err := wh.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return url
}

func rulesAPI(t *testing.T, kc kafka.Config, rdb redis.UniversalClient, casesURL, whURL string) {
	h := newHarness(t, kc, rdb, casesURL, func(c *Config) { c.WarehouseURL, c.AliasAutoAccept = whURL, true })
	editor, preparer, approver := h.signIn("editor"), h.signIn("preparer"), h.signIn("approver")

	var active map[string]any
	waitFor(t, "version 1 in the case store", func() bool {
		code, d := editor.get("/api/v1/rules")
		active = d
		return code == 200 && d["version"] == 1.0
	})
	if active["author"] != "matcher" || len(str(active["hash"])) != 64 || !strings.Contains(str(active["yaml"]), "- name: exact") {
		t.Fatalf("active rules: %v", active)
	}
	yaml := str(active["yaml"])
	changed := strings.Replace(yaml, "- name: unique-amount\n", "- name: unique-amount-only\n", 1)
	propose := func(c *client, body map[string]any) (int, map[string]any) {
		return c.do("POST", "/api/v1/rules/proposals", body, true)
	}
	if code, d := propose(preparer, map[string]any{"yaml": changed, "from": "2026-03-01", "to": "2026-03-31"}); code != 403 {
		t.Errorf("a preparer's proposal: %d %v, want 403", code, d)
	}
	broken := strings.Replace(changed, "    unique_amount: true\n", "    unique_amount: maybe\n", 1)
	code, d := propose(editor, map[string]any{"yaml": broken, "from": "2026-03-01", "to": "2026-03-31"})
	probs, _ := d["problems"].([]any)
	if code != 422 || len(probs) != 1 {
		t.Fatalf("a broken text: %d %v, want 422 with one problem", code, d)
	}
	p := probs[0].(map[string]any)
	wantLine := strings.Count(broken[:strings.Index(broken, "unique_amount: maybe")], "\n") + 1
	if p["line"] != float64(wantLine) || !strings.HasSuffix(str(p["key"]), ".unique_amount") {
		t.Errorf("problem %v, want line %d and key rules[…].unique_amount", p, wantLine)
	}
	if code, d := propose(editor, map[string]any{"yaml": yaml, "from": "2026-03-01"}); code != 409 || d["code"] != "unchanged" {
		t.Errorf("the active text again: %d %v, want 409 unchanged", code, d)
	}
	if code, d := propose(editor, map[string]any{"yaml": changed, "from": "2026-03-01", "to": "2026-09-30"}); code != 400 || d["code"] != "bad_period" {
		t.Errorf("a half-year period: %d %v, want 400 bad_period", code, d)
	}

	// A proposal: replayed, approved by someone else, published.
	code, d = propose(editor, map[string]any{"yaml": changed, "from": "2026-03-01", "to": "2026-03-31", "comment": "name it"})
	if code != 202 || d["status"] != "replaying" {
		t.Fatalf("proposal: %d %v", code, d)
	}
	id := str(d["proposal_id"])
	var prop map[string]any
	waitFor(t, "the replay", func() bool {
		_, prop = editor.get("/api/v1/rules/proposals/" + id)
		return prop["status"] != "replaying"
	})
	if prop["status"] != "ready" || prop["action_id"] == nil || prop["diff_summary"] == nil {
		t.Fatalf("replayed proposal: %v", prop)
	}
	// The proposal page's htmx poll gets the body and, the replay over,
	// the status that stops the polling.
	req, _ := http.NewRequest("GET", editor.base+"/rules/proposals/"+id, nil)
	req.Header.Set("HX-Request", "true")
	resp, err := editor.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 286 || !strings.Contains(string(body), "What it would change") || strings.Contains(string(body), "<html") {
		t.Errorf("htmx poll of a ready proposal: %d %.300s", resp.StatusCode, body)
	}
	action := str(prop["action_id"])
	if code, d := editor.do("POST", "/api/v1/approvals/"+action, map[string]any{"decision": "approve"}, true); code != 403 {
		t.Errorf("the author's approval: %d %v, want 403", code, d)
	}
	if code, d := approver.do("POST", "/api/v1/approvals/"+action, map[string]any{"decision": "approve", "comment": "ok"}, true); code != 200 {
		t.Fatalf("approval: %d %v", code, d)
	}
	waitFor(t, "version 2", func() bool {
		_, prop = editor.get("/api/v1/rules/proposals/" + id)
		return prop["status"] == "active"
	})
	_, active = editor.get("/api/v1/rules")
	if active["version"] != 2.0 || active["approver"] != "approver" || active["author"] != "editor" || !strings.Contains(str(active["yaml"]), "unique-amount-only") {
		t.Errorf("active after the approval: %v", active)
	}

	// A rollback to version 1 is a proposal like any other.
	code, d = propose(editor, map[string]any{"rollback_to": 1, "from": "2026-03-01"})
	if code != 202 {
		t.Fatalf("rollback: %d %v", code, d)
	}
	rid := str(d["proposal_id"])
	waitFor(t, "the rollback's replay", func() bool {
		_, prop = editor.get("/api/v1/rules/proposals/" + rid)
		return prop["status"] == "ready"
	})
	if code, d := approver.do("POST", "/api/v1/approvals/"+str(prop["action_id"]), map[string]any{"decision": "approve"}, true); code != 200 {
		t.Fatalf("rollback approval: %d %v", code, d)
	}
	waitFor(t, "version 3", func() bool {
		_, active = editor.get("/api/v1/rules")
		return active["version"] == 3.0
	})
	if !strings.Contains(str(active["comment"]), "roll back to version 1") || strings.Contains(str(active["yaml"]), "unique-amount-only") {
		t.Errorf("version 3: %v", active)
	}
	_, vs := editor.get("/api/v1/rules/versions")
	if items, _ := vs["items"].([]any); len(items) != 3 || items[0].(map[string]any)["version"] != 3.0 {
		t.Errorf("versions: %v", vs)
	}
	if code, v := editor.get("/api/v1/rules/versions?version=2"); code != 200 || !strings.Contains(str(v["yaml"]), "unique-amount-only") {
		t.Errorf("version 2: %d %v", code, v)
	}
	// The audit chain holds every step and verifies.
	_, a := editor.get("/api/v1/audit?verify=1&limit=1000")
	events := map[string]int{}
	for _, e := range a["entries"].([]any) {
		events[str(e.(map[string]any)["event"])]++
	}
	if a["valid"] != true || events["rules_propose"] != 2 || events["rules_change"] != 2 || events["approve"] != 2 || events["rules_activate"] != 3 {
		t.Errorf("audit: valid=%v events %v", a["valid"], events)
	}

	// Three payments whose order number the bank writes after "Auftrag",
	// matched by hand: a rule change is suggested (an extractor), replayed,
	// and a rules editor turns it into a proposal.
	preparer2 := h.signIn("preparer2")
	for i := range 3 {
		b := txn(fmt.Sprintf("ord-b%d", i), record.Bank, "DE12", "", int64(10000*(i+1)), 3, "", fmt.Sprintf("Auftrag %d Zahlung", 48213+i))
		l := txn(fmt.Sprintf("ord-l%d", i), record.Ledger, "DE12", fmt.Sprintf("ORD-%d", 48213+i), int64(10000*(i+1)), 3, "", "")
		h.produce(l, b)
		waitFor(t, "the payment's breaks", func() bool {
			return h.status(b.ID) == casestore.StatusOpen && h.status(l.ID) == casestore.StatusOpen
		})
		preparer2.act(200, ActionRequest{Action: "manual_match", BreakIDs: []string{h.breakOf(b.ID).BreakID, h.breakOf(l.ID).BreakID}})
		waitFor(t, "the manual match", func() bool { return h.status(b.ID) == casestore.StatusMatched })
	}
	var rsg map[string]any
	waitFor(t, "the rule suggestion's replay", func() bool {
		_, d := editor.get("/api/v1/suggestions?kind=rule")
		items, _ := d["items"].([]any)
		if len(items) != 1 {
			return false
		}
		rsg = items[0].(map[string]any)
		ds, _ := rsg["diff_summary"].(map[string]any)
		return ds != nil && ds["status"] == nil
	})
	sk := rsg["rule"].(map[string]any)
	if sk["shape"] != "reference" || rsg["count"] != 3.0 || !strings.Contains(str(sk["change"]), "ORD|AUFTRAG") {
		t.Fatalf("rule suggestion %v", rsg)
	}
	if gained := rsg["diff_summary"].(map[string]any)["matches"].(map[string]any)["gained"].(map[string]any); gained["reference-in-text"] != 3.0 {
		t.Errorf("the suggestion's replay: %v", rsg["diff_summary"])
	}
	code, d = preparer.do("POST", "/api/v1/suggestions/"+str(rsg["suggestion_id"]), map[string]any{"decision": "accept"}, true)
	if code != 403 {
		t.Errorf("a preparer turning a rule suggestion into a proposal: %d %v", code, d)
	}
	code, d = editor.do("POST", "/api/v1/suggestions/"+str(rsg["suggestion_id"]), map[string]any{"decision": "accept"}, true)
	if code != 200 || d["proposal_id"] == nil {
		t.Fatalf("turning a rule suggestion into a proposal: %d %v", code, d)
	}
	waitFor(t, "the suggested proposal's replay", func() bool {
		_, prop = editor.get(fmt.Sprint("/api/v1/rules/proposals/", d["proposal_id"]))
		return prop["status"] == "ready"
	})
	if _, d := editor.get("/api/v1/suggestions?kind=rule"); len(d["items"].([]any)) != 0 {
		t.Errorf("the rule suggestion is still offered: %v", d)
	}

	// With alias-auto-accept, two manual matches of a supplier whose
	// names differ give version 4 with the alias, accepted by "auto".
	for i := range 2 {
		b := txn(fmt.Sprintf("glx-b%d", i), record.Bank, "DE12", "", int64(70000+100*i), 5, "", fmt.Sprintf("GLBX HOLD REF%d7", i))
		l := txn(fmt.Sprintf("glx-l%d", i), record.Ledger, "DE12", "", int64(70000+100*i), 5, "Globex Corporation", "")
		h.produce(l, b)
		waitFor(t, "the supplier's breaks", func() bool {
			return h.status(b.ID) == casestore.StatusOpen && h.status(l.ID) == casestore.StatusOpen
		})
		preparer2.act(200, ActionRequest{Action: "manual_match", BreakIDs: []string{h.breakOf(b.ID).BreakID, h.breakOf(l.ID).BreakID}})
		waitFor(t, "the manual match", func() bool { return h.status(b.ID) == casestore.StatusMatched })
	}
	waitFor(t, "the alias accepted automatically", func() bool {
		_, active = editor.get("/api/v1/rules")
		return active["version"] == 4.0
	})
	if al, _ := active["aliases"].([]any); len(al) != 1 || al[0].(map[string]any)["accepted_by"] != "auto" ||
		al[0].(map[string]any)["bank_name"] != "GLBX HOLD" || al[0].(map[string]any)["ledger_name"] != "GLOBEX" {
		t.Errorf("version 4's aliases: %v", active["aliases"])
	}

	// An alias is removed by a proposal without it.
	code, d = propose(editor, map[string]any{"yaml": active["yaml"], "aliases": []any{}, "from": "2026-03-01", "comment": "not Globex"})
	if code != 202 {
		t.Fatalf("removing the alias: %d %v", code, d)
	}
	waitFor(t, "the removal's replay", func() bool {
		_, prop = editor.get(fmt.Sprint("/api/v1/rules/proposals/", d["proposal_id"]))
		return prop["status"] == "ready"
	})
	if code, d := approver.do("POST", "/api/v1/approvals/"+str(prop["action_id"]), map[string]any{"decision": "approve"}, true); code != 200 {
		t.Fatalf("approving the removal: %d %v", code, d)
	}
	waitFor(t, "version 5", func() bool {
		_, active = editor.get("/api/v1/rules")
		return active["version"] == 5.0
	})
	if al, _ := active["aliases"].([]any); len(al) != 0 {
		t.Errorf("version 5 keeps aliases: %v", al)
	}

	// Without a warehouse the replay fails, saying why.
	h.stopC()
	h.cfgHook = func(c *Config) { c.WarehouseURL = "" }
	h.startConsole()
	editor = h.signIn("editor")
	code, d = propose(editor, map[string]any{"yaml": changed, "from": "2026-03-01"})
	if code != 202 {
		t.Fatalf("proposal without a warehouse: %d %v", code, d)
	}
	waitFor(t, "the failed replay", func() bool {
		_, prop = editor.get(fmt.Sprint("/api/v1/rules/proposals/", d["proposal_id"]))
		return prop["status"] == "failed"
	})
	if !strings.Contains(str(prop["error"]), "warehouse-url") {
		t.Errorf("failed replay: %v", prop)
	}
}
