package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/testenv"
)

type rec struct {
	ID             string `json:"id"`
	SourceFile     string `json:"source_file"`
	SourcePosition int64  `json:"source_position"`
}

type matchLine struct {
	MatchID string `json:"match_id"`
	Bank    []rec  `json:"bank"`
	Ledger  []rec  `json:"ledger"`
}

type breakLine struct {
	BreakID string `json:"break_id"`
	Side    string `json:"side"`
	Reason  string `json:"reason"`
	Record  rec    `json:"record"`
}

func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

func generate(t *testing.T, dir string, cfg gen.Config) *gen.Truth {
	t.Helper()
	var b, l bytes.Buffer
	truth, err := gen.Write(cfg, &b, &l)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "bank.csv"), b.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "ledger.csv"), l.Bytes(), 0o644)
	return truth
}

// countLines counts data rows (not the header, not blank lines) of a CSV.
func countRows(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n")[1:] {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

// assertEachInputOnce: every good input row appears exactly once across
// matches.jsonl and breaks.jsonl, and every bad one in rejected.jsonl.
func assertEachInputOnce(t *testing.T, out string, inputs map[string]int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range readLines[matchLine](t, filepath.Join(out, "matches.jsonl")) {
		if len(m.Bank) == 0 || len(m.Ledger) == 0 {
			t.Errorf("match %s lacks a side", m.MatchID)
		}
		for _, r := range append(m.Bank, m.Ledger...) {
			seen[fmt.Sprintf("%s#%d", r.SourceFile, r.SourcePosition)]++
		}
	}
	for _, b := range readLines[breakLine](t, filepath.Join(out, "breaks.jsonl")) {
		seen[fmt.Sprintf("%s#%d", b.Record.SourceFile, b.Record.SourcePosition)]++
	}
	for _, r := range readLines[Rejected](t, filepath.Join(out, "rejected.jsonl")) {
		seen[fmt.Sprintf("%s#%d", r.File, r.Entry)]++
	}
	for file, n := range inputs {
		for pos := 1; pos <= n; pos++ {
			k := fmt.Sprintf("%s#%d", file, pos)
			if seen[k] != 1 {
				t.Errorf("input %s appears %d times", k, seen[k])
			}
			delete(seen, k)
		}
	}
	for k, n := range seen {
		t.Errorf("output names %s (%d times), which is not an input", k, n)
	}
}

func TestReconcileGenerated(t *testing.T) {
	dir := t.TempDir()
	truth := generate(t, dir, gen.Config{Pairs: 3000, BankOnly: 40, LedgerOnly: 35, Seed: 7})
	bank, ledger := filepath.Join(dir, "bank.csv"), filepath.Join(dir, "ledger.csv")
	run := func(out string) *Summary {
		sum, err := Run(context.Background(), Config{Bank: []string{bank}, Ledger: []string{ledger}, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	out1, out2 := filepath.Join(dir, "o1"), filepath.Join(dir, "o2")
	sum := run(out1)
	if sum.Matches != 3000 || sum.BySide["bank"] != 40 || sum.BySide["ledger"] != 35 || sum.Rate != "0.9876" {
		t.Errorf("summary %+v", sum)
	}
	got := map[int64]string{}
	for _, m := range readLines[matchLine](t, filepath.Join(out1, "matches.jsonl")) {
		got[m.Bank[0].SourcePosition] = m.Ledger[0].ID
	}
	for pos, id := range truth.Pairs {
		if got[pos] != id {
			t.Errorf("bank row %d matched %q, truth %q", pos, got[pos], id)
		}
	}
	assertEachInputOnce(t, out1, map[string]int{bank: countRows(t, bank), ledger: countRows(t, ledger)})
	run(out2)
	for _, f := range []string{"matches.jsonl", "breaks.jsonl"} {
		a, _ := os.ReadFile(filepath.Join(out1, f))
		b, _ := os.ReadFile(filepath.Join(out2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", f)
		}
	}
}

// TestEachInputOnceAnyInput: noisy inputs (duplicate ids, same-reference
// traps, equal amounts, bad rows, several files) still put every input row
// in exactly one place.
func TestEachInputOnceAnyInput(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		dir := t.TempDir()
		rng := rand.New(rand.NewPCG(seed, 99))
		refs := []string{"A-1", "a 1", "B-2", "", "C3", "c-3", "X"}
		var bank, ledger strings.Builder
		bank.WriteString("account,currency,booking_date,amount,reference\n")
		ledger.WriteString("id,account,currency,booking_date,amount,reference\n")
		nb, nl := 300, 300
		for i := 0; i < nb; i++ {
			amt := fmt.Sprintf("%d.00", rng.IntN(5)-2)
			if rng.IntN(50) == 0 {
				amt = "bad"
			}
			fmt.Fprintf(&bank, "ACC%d,EUR,2026-03-%02d,%s,%s\n", rng.IntN(3), 1+rng.IntN(28), amt, refs[rng.IntN(len(refs))])
		}
		for i := 0; i < nl; i++ {
			fmt.Fprintf(&ledger, "L%d,ACC%d,EUR,2026-03-%02d,%d.00,%s\n", rng.IntN(250), rng.IntN(3), 1+rng.IntN(28), rng.IntN(5)-2, refs[rng.IntN(len(refs))])
		}
		b1, l1, l2 := filepath.Join(dir, "b1.csv"), filepath.Join(dir, "l1.csv"), filepath.Join(dir, "l2.csv")
		_ = os.WriteFile(b1, []byte(bank.String()), 0o644)
		half := strings.SplitAfterN(ledger.String(), "\n", nl/2+1)
		_ = os.WriteFile(l1, []byte(strings.Join(half[:nl/2], "")), 0o644)
		_ = os.WriteFile(l2, []byte("id,account,currency,booking_date,amount,reference\n"+half[nl/2]), 0o644)
		out := filepath.Join(dir, "out")
		if _, err := Run(context.Background(), Config{Bank: []string{b1}, Ledger: []string{l1, l2}, Out: out}); err != nil {
			t.Fatal(err)
		}
		assertEachInputOnce(t, out, map[string]int{b1: nb, l1: countRows(t, l1), l2: countRows(t, l2)})
	}
}

// TestRealServersSameAsEmbedded: on real Apache Kafka and Redis the sorted
// matches.jsonl and breaks.jsonl are byte-identical to the embedded run's.
func TestRealServersSameAsEmbedded(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisURL := testenv.Redis(t)
	dir := t.TempDir()
	generate(t, dir, gen.Config{Pairs: 2000, BankOnly: 25, LedgerOnly: 25, Seed: 11})
	bank, ledger := filepath.Join(dir, "bank.csv"), filepath.Join(dir, "ledger.csv")
	emb, real := filepath.Join(dir, "emb"), filepath.Join(dir, "real")
	if _, err := Run(context.Background(), Config{Bank: []string{bank}, Ledger: []string{ledger}, Out: emb}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Config{Bank: []string{bank}, Ledger: []string{ledger}, Out: real,
		Brokers: brokers, RedisURL: redisURL, Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"matches.jsonl", "breaks.jsonl"} {
		a, _ := os.ReadFile(filepath.Join(emb, f))
		b, _ := os.ReadFile(filepath.Join(real, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: embedded (%d bytes) and real servers (%d bytes) differ", f, len(a), len(b))
		}
	}
}

// TestReconcile100k: a generated pair of 100,000-row files reconciles, every
// truth pair is found, and two runs write identical outputs.
func TestReconcile100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k rows in -short mode")
	}
	dir := t.TempDir()
	truth := generate(t, dir, gen.Config{Pairs: 100000, BankOnly: 300, LedgerOnly: 300, Seed: 2026})
	bank, ledger := filepath.Join(dir, "bank.csv"), filepath.Join(dir, "ledger.csv")
	var outs []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		sum, err := Run(context.Background(), Config{Bank: []string{bank}, Ledger: []string{ledger}, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Matches != int64(len(truth.Pairs)) || sum.BySide["bank"] != 300 || sum.BySide["ledger"] != 300 {
			t.Fatalf("run %d: %d matches, breaks %v", i, sum.Matches, sum.BySide)
		}
		outs = append(outs, out)
	}
	for _, f := range []string{"matches.jsonl", "breaks.jsonl", "rejected.jsonl"} {
		a, _ := os.ReadFile(filepath.Join(outs[0], f))
		b, _ := os.ReadFile(filepath.Join(outs[1], f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", f)
		}
	}
}

// TestAccuracyTargets: on the project's generator at its default noise,
// for every bank format and a seed the test draws (so no seed is tuned
// for; RECON_ACCURACY_SEED repeats one), pair precision >= 0.999, pair
// recall >= 0.995, break recall >= 0.99 and false breaks <= 0.5 % of the
// records (the README's accuracy command).
func TestAccuracyTargets(t *testing.T) {
	for _, f := range []string{"csv", "mt940", "camt053", "bai2"} {
		dir := t.TempDir()
		n := gen.DefaultNoise()
		n.Seed, n.BankFormat = rand.Uint64()%1_000_000, f
		if s := os.Getenv("RECON_ACCURACY_SEED"); s != "" {
			n.Seed, _ = strconv.ParseUint(s, 10, 64)
		}
		n.BankFileName = "bank." + f
		bank, _ := os.Create(filepath.Join(dir, n.BankFileName))
		ledger, _ := os.Create(filepath.Join(dir, "ledger.csv"))
		truth, _ := os.Create(filepath.Join(dir, "truth.json"))
		if err := gen.WriteNoisy(n, bank, ledger, truth); err != nil {
			t.Fatal(err)
		}
		bank.Close()
		ledger.Close()
		truth.Close()
		out := filepath.Join(dir, "out")
		if _, err := Run(context.Background(), Config{Bank: []string{bank.Name()}, Ledger: []string{ledger.Name()}, Out: out}); err != nil {
			t.Fatal(err)
		}
		tf, err := gen.ReadTruth(truth.Name())
		if err != nil {
			t.Fatal(err)
		}
		s, err := gen.ScoreDir(out, tf)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s seed %d: precision %.4f recall %.4f break recall %.4f false breaks %.4f (%d of %d)", f, n.Seed,
			s.Precision, s.Recall, s.BreakRecall, s.FalseBreakRate, s.FalseBreaks, s.Records)
		if s.Precision < 0.999 || s.Recall < 0.995 || s.BreakRecall < 0.99 || s.FalseBreakRate > 0.005 {
			t.Errorf("%s seed %d (RECON_ACCURACY_SEED=%d repeats it): precision %.4f, recall %.4f, break recall %.4f, false breaks %.4f: outside the targets",
				f, n.Seed, n.Seed, s.Precision, s.Recall, s.BreakRecall, s.FalseBreakRate)
		}
		assertEachInputOnce(t, out, map[string]int{bank.Name(): len(tf.Links) + len(tf.BankBreaks) - countGroups(tf), ledger.Name(): countRows(t, ledger.Name())})
	}
}

// TestAccuracyHardSituations: half of the records in the third pass's
// situations (PSP payouts net of refunds and fees, foreign-currency
// receipts, cheques clearing late, remittances naming several invoices,
// cut short by MT940 and BAI2), every format, a seed the test draws
// (RECON_ACCURACY_SEED repeats one): the same four targets. With the
// day's rates file the converted receipts are matched exactly (auto);
// without it they are proposed as FX variances.
func TestAccuracyHardSituations(t *testing.T) {
	for i, f := range []string{"csv", "mt940", "camt053", "bai2"} {
		dir := t.TempDir()
		n := gen.DefaultNoise()
		n.Seed, n.BankFormat, n.HardShare = rand.Uint64()%1_000_000, f, 500
		if s := os.Getenv("RECON_ACCURACY_SEED"); s != "" {
			n.Seed, _ = strconv.ParseUint(s, 10, 64)
		}
		withRates := i%2 == 0
		n.BankFileName = "bank." + f
		files := map[string]*os.File{}
		for _, name := range []string{n.BankFileName, "ledger.csv", "truth.json", "fx-rates.csv"} {
			files[name], _ = os.Create(filepath.Join(dir, name))
		}
		n.FXRates = files["fx-rates.csv"]
		if err := gen.WriteNoisy(n, files[n.BankFileName], files["ledger.csv"], files["truth.json"]); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			f.Close()
		}
		rates := ""
		if withRates {
			rates = files["fx-rates.csv"].Name()
		}
		rules, err := engine.WithFiles(engine.DefaultConfig(), "", "", rates)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		if _, err := Run(context.Background(), Config{Bank: []string{files[n.BankFileName].Name()}, Ledger: []string{files["ledger.csv"].Name()}, Out: out, Rules: rules}); err != nil {
			t.Fatal(err)
		}
		tf, err := gen.ReadTruth(files["truth.json"].Name())
		if err != nil {
			t.Fatal(err)
		}
		s, err := gen.ScoreDir(out, tf)
		if err != nil {
			t.Fatal(err)
		}
		byRule := map[string]int{}
		for _, m := range readLines[struct{ Rule, Status string }](t, filepath.Join(out, "matches.jsonl")) {
			byRule[m.Rule+" "+m.Status]++
		}
		t.Logf("%s seed %d (rates %v): precision %.4f recall %.4f break recall %.4f false breaks %.4f (%d of %d); %v", f, n.Seed, withRates,
			s.Precision, s.Recall, s.BreakRecall, s.FalseBreakRate, s.FalseBreaks, s.Records, byRule)
		if s.Precision < 0.999 || s.Recall < 0.99 || s.BreakRecall < 0.99 || s.FalseBreakRate > 0.005 {
			t.Errorf("%s seed %d (RECON_ACCURACY_SEED=%d repeats it): precision %.4f, recall %.4f, break recall %.4f, false breaks %.4f: outside the targets",
				f, n.Seed, n.Seed, s.Precision, s.Recall, s.BreakRecall, s.FalseBreakRate)
		}
		// Every situation was there and found by its rule.
		want := []string{"payout auto", "cheque auto", "batch auto"}
		if withRates {
			want = append(want, "fx-rate auto")
		} else {
			want = append(want, "fx-variance proposed")
		}
		if f == "mt940" || f == "bai2" {
			want = append(want, "remittance-cut-short proposed")
		}
		for _, w := range want {
			if byRule[w] < 5 {
				t.Errorf("%s seed %d: only %d matches %q", f, n.Seed, byRule[w], w)
			}
		}
	}
}

// countGroups: links of 1:N groups repeat their bank entry; the number of
// bank entries is the number of distinct bank positions.
func countGroups(tf *gen.TruthFile) int {
	seen := map[string]bool{}
	dups := 0
	for _, l := range tf.Links {
		if seen[l[0]] {
			dups++
		}
		seen[l[0]] = true
	}
	return dups
}

// TestOrderIndependence: shuffling the ledger file's rows gives the same
// matches.
func TestOrderIndependence(t *testing.T) {
	dir := t.TempDir()
	n := gen.DefaultNoise()
	n.Pairs, n.BankFileName = 600, "bank.csv"
	bank, _ := os.Create(filepath.Join(dir, "bank.csv"))
	ledger, _ := os.Create(filepath.Join(dir, "ledger.csv"))
	var truth bytes.Buffer
	if err := gen.WriteNoisy(n, bank, ledger, &truth); err != nil {
		t.Fatal(err)
	}
	bank.Close()
	ledger.Close()
	lines := strings.Split(strings.TrimSpace(mustRead(t, ledger.Name())), "\n")
	rng := rand.New(rand.NewPCG(5, 5))
	body := lines[1:]
	rng.Shuffle(len(body), func(i, j int) { body[i], body[j] = body[j], body[i] })
	shuffled := filepath.Join(dir, "ledger-shuffled.csv")
	_ = os.WriteFile(shuffled, []byte(lines[0]+"\n"+strings.Join(body, "\n")+"\n"), 0o644)
	sets := []string{}
	for _, l := range []string{ledger.Name(), shuffled} {
		out := filepath.Join(dir, filepath.Base(l)+".out")
		if _, err := Run(context.Background(), Config{Bank: []string{bank.Name()}, Ledger: []string{l}, Out: out}); err != nil {
			t.Fatal(err)
		}
		var pairs []string
		for _, m := range readLines[matchLine](t, filepath.Join(out, "matches.jsonl")) {
			var ids []string
			for _, r := range append(m.Bank, m.Ledger...) {
				ids = append(ids, fmt.Sprint(r.ID))
			}
			sort.Strings(ids)
			pairs = append(pairs, strings.Join(ids, "+"))
		}
		sort.Strings(pairs)
		sets = append(sets, strings.Join(pairs, "\n"))
	}
	if sets[0] != sets[1] || sets[0] == "" {
		t.Error("shuffling the ledger rows changed the matches")
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
