package console

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/reconcile"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// The supplier whose bank text never resembles its ledger name.
const (
	supplierAcct = "DE89370400440532013000"
	supplierText = "AMZN MKTP DE*%s SEPA-LASTSCHRIFT"
	supplierName = "Amazon EU S.a r.l."
)

// supplierPair is one payment of the supplier on day d: the bank's text
// with a code of its own, the ledger's name, the same amount.
func supplierPair(n, d int, cents int64) (*record.Transaction, *record.Transaction) {
	code := fmt.Sprintf("%X", 0x2A9F0+n*7919)
	b := txn(fmt.Sprintf("amzn-b%d", n), record.Bank, supplierAcct, "", cents, d, "", fmt.Sprintf(supplierText, code))
	l := txn(fmt.Sprintf("amzn-l%d", n), record.Ledger, supplierAcct, "", cents, d, supplierName, "office supplies")
	return b, l
}

// TestAliasLearnedFromPeople (Apache Kafka, redis-server, PostgreSQL): a
// person matches three payments of a supplier whose bank text and ledger
// name share no word; the alias suggestion appears (the words every
// payment shares, not its transaction codes), a preparer may not accept
// it, an admin does; the next payments of that supplier are matched by
// the counterparty rule with the alias named in the explanation. A batch
// run of a whole day with and without the alias decides everything else
// identically.
func TestAliasLearnedFromPeople(t *testing.T) {
	ropt, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	kc := kafka.Config{Brokers: testenv.Kafka(t), Partitions: 2, TopicPrefix: fmt.Sprintf("al%d.", time.Now().UnixNano())}
	h := newHarness(t, kc, redis.NewClient(ropt), pgSchema(t, "learn"))
	preparer, admin := h.signIn("preparer"), h.signIn("admin")

	var pairs [][2]*record.Transaction
	for i := range 3 {
		b, l := supplierPair(i, 2+i, int64(5000+1000*i)) // round: no unique-amount proposal
		pairs = append(pairs, [2]*record.Transaction{b, l})
		h.produce(b, l)
	}
	waitFor(t, "the supplier's six breaks", func() bool {
		for _, p := range pairs {
			if h.status(p[0].ID) != casestore.StatusOpen || h.status(p[1].ID) != casestore.StatusOpen {
				return false
			}
		}
		return true
	})
	if _, d := preparer.get("/api/v1/suggestions?kind=alias"); len(d["items"].([]any)) != 0 {
		t.Fatalf("a suggestion before anyone matched: %v", d)
	}
	for i, p := range pairs {
		preparer.act(200, ActionRequest{Action: "manual_match", BreakIDs: []string{h.breakOf(p[0].ID).BreakID, h.breakOf(p[1].ID).BreakID},
			Comment: "Amazon pays as AMZN MKTP"})
		waitFor(t, fmt.Sprintf("manual match %d applied", i+1), func() bool { return h.status(p[0].ID) == casestore.StatusMatched })
	}
	var sg map[string]any
	waitFor(t, "the alias suggestion", func() bool {
		_, d := preparer.get("/api/v1/suggestions?kind=alias")
		items, _ := d["items"].([]any)
		if len(items) == 1 {
			sg = items[0].(map[string]any)
		}
		return sg != nil
	})
	names := sg["names"].(map[string]any)
	if names["bank"] != "AMZN MKTP DE" || names["ledger"] != "AMAZON EU" || sg["count"] != 3.0 || sg["account"] != supplierAcct {
		t.Fatalf("suggestion %v", sg)
	}
	id := str(sg["suggestion_id"])
	if code, d := preparer.do("POST", "/api/v1/suggestions/"+id, map[string]any{"decision": "accept"}, true); code != 403 {
		t.Errorf("a preparer's acceptance: %d %v, want 403", code, d)
	}
	code, d := admin.do("POST", "/api/v1/suggestions/"+id, map[string]any{"decision": "accept", "comment": "it is Amazon"}, true)
	if code != 200 || d["version"] != 2.0 {
		t.Fatalf("acceptance: %d %v", code, d)
	}
	if _, d := preparer.get("/api/v1/suggestions"); len(d["items"].([]any)) != 0 {
		t.Errorf("the accepted suggestion is still offered: %v", d)
	}
	_, active := preparer.get("/api/v1/rules")
	if al, _ := active["aliases"].([]any); active["version"] != 2.0 || len(al) != 1 || al[0].(map[string]any)["accepted_by"] != "admin" {
		t.Fatalf("version 2: %v", active)
	}
	waitFor(t, "the matcher on version 2", func() bool { return h.matcher.RuleVersion() == 2 })

	// The next payments: matched at once, the alias named.
	var next []string
	for i := 3; i < 5; i++ {
		b, l := supplierPair(i, 8, int64(1200+100*i))
		h.produce(l, b)
		next = append(next, b.ID)
	}
	mc, _ := avro.NewMatchCodec(context.Background(), avro.Embedded{}, "m")
	waitFor(t, "the next payments matched", func() bool {
		found := 0
		for _, m := range readMatches(t, kc, mc) {
			if len(m.Bank) == 1 && slices.Contains(next, m.Bank[0].ID) {
				if m.Rule != "amount-date-counterparty" || m.RuleVersion != 2 || !strings.Contains(m.Explanation, `counterparty alias "AMZN MKTP DE" = "AMAZON EU" learned from 3 manual match(es) by preparer`) {
					t.Fatalf("match %+v", m)
				}
				found++
			}
		}
		return found == 2
	})
	_, a := admin.get("/api/v1/audit?verify=1&limit=1000")
	if a["valid"] != true || !strings.Contains(fmt.Sprint(a["entries"]), "suggestion_accepted") {
		t.Errorf("audit: valid=%v, no suggestion_accepted entry", a["valid"])
	}

	// A whole day with and without the alias: only the supplier differs.
	dir := t.TempDir()
	n := gen.DefaultNoise()
	n.Pairs, n.Accounts, n.Seed = 400, 4, 5150
	var bankB, ledgerB, truth bytes.Buffer
	if err := gen.WriteNoisy(n, &bankB, &ledgerB, &truth); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 14; i++ {
		b, l := supplierPair(i, 16, int64(700+100*i))
		fmt.Fprintf(&bankB, "%s,EUR,%s,%s,%s,,,,%s\n", b.Account, b.BookingDate, b.BookingDate, b.Amount, b.Description)
		fmt.Fprintf(&ledgerB, "%s,%s,EUR,%s,%s,,%s,%s,,\n", l.ID, l.Account, l.BookingDate, l.Amount, l.Counterparty, l.Description)
	}
	bankPath, ledgerPath := filepath.Join(dir, "bank.csv"), filepath.Join(dir, "ledger.csv")
	for p, b := range map[string][]byte{bankPath: bankB.Bytes(), ledgerPath: ledgerB.Bytes()} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withAlias := engine.DefaultConfig()
	for _, x := range active["aliases"].([]any) {
		m := x.(map[string]any)
		withAlias.Aliases = append(withAlias.Aliases, record.Alias{Account: str(m["account"]), Currency: str(m["currency"]),
			BankName: str(m["bank_name"]), LedgerName: str(m["ledger_name"]), Evidence: 3, LearnedFrom: "preparer"})
	}
	rest := map[string][]string{}
	supplier := map[string]int{}
	for name, rules := range map[string]engine.Config{"before": engine.DefaultConfig(), "after": withAlias} {
		out := filepath.Join(dir, name)
		if _, err := reconcile.Run(context.Background(), reconcile.Config{Bank: []string{bankPath}, Ledger: []string{ledgerPath}, Out: out,
			Rules: rules}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"matches.jsonl", "breaks.jsonl"} {
			b, err := os.ReadFile(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if strings.Contains(line, "AMZN MKTP") || strings.Contains(line, supplierName) {
					supplier[name+" "+f]++
					continue
				}
				rest[name] = append(rest[name], line)
			}
		}
	}
	if len(rest["before"]) < 300 || !slices.Equal(rest["before"], rest["after"]) {
		t.Errorf("the rest of the day differs with the alias: %d lines before, %d after", len(rest["before"]), len(rest["after"]))
	}
	if supplier["before breaks.jsonl"] != 8 || supplier["after matches.jsonl"] != 4 || supplier["after breaks.jsonl"] != 0 {
		t.Errorf("the supplier's records: %v (want 8 breaks before, 4 matches after)", supplier)
	}
}

// readMatches reads every match of the run so far.
func readMatches(t *testing.T, kc kafka.Config, mc *avro.Codec[record.Match]) []*record.Match {
	var out []*record.Match
	for _, v := range readValues(t, kc, kafka.TopicMatches) {
		if m, err := mc.Decode(context.Background(), v); err == nil {
			out = append(out, m)
		}
	}
	return out
}
