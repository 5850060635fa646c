package decide

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/parse"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

// collect is a format.Sink keeping what a parser finds.
type collect struct {
	txs   []*record.Transaction
	stmts []*record.Statement
}

func (c *collect) Statement(s *record.Statement) error     { c.stmts = append(c.stmts, s); return nil }
func (c *collect) Transaction(t *record.Transaction) error { c.txs = append(c.txs, t); return nil }
func (c *collect) Reject(e *format.ParseError) error       { return e }

// inputs parses a generated file into the matcher's inputs.
func inputs(t testing.TB, eng *engine.Engine, name string, side record.Side, body []byte) []Input {
	t.Helper()
	var c collect
	if _, err := parse.File(context.Background(), bytes.NewReader(body), format.Source{Name: name, Digest: name, Side: side}, &c); err != nil {
		t.Fatal(err)
	}
	var out []Input
	for _, s := range c.stmts {
		out = append(out, Input{Statement: s})
	}
	for _, tx := range c.txs {
		r := &engine.Rec{Item: record.ItemOf(tx), Account: tx.Account, Provisional: tx.Provisional}
		eng.Prepare(r)
		out = append(out, Input{Tx: r})
	}
	return out
}

// outcome is what a run leaves: its matches and the breaks no later match
// cleared, as sorted lines.
func outcome(outs []Output) []string {
	cleared := map[string]bool{}
	var lines []string
	for _, o := range outs {
		if m := o.Match; m != nil {
			var ids []string
			for _, it := range append(append([]record.Item(nil), m.Bank...), m.Ledger...) {
				ids = append(ids, it.ID)
			}
			slices.Sort(ids)
			lines = append(lines, fmt.Sprintf("match %s %s %s", m.Rule, m.Status, strings.Join(ids, "+")))
			for _, id := range m.ClearsBreakIDs {
				cleared[id] = true
			}
		}
	}
	for _, o := range outs {
		if b := o.Break; b != nil && !cleared[b.BreakID] {
			lines = append(lines, fmt.Sprintf("break %s %s", b.Reason, b.Record.ID))
		}
	}
	slices.Sort(lines)
	return lines
}

// simulate runs the matcher's loop on one partition: each arrival is a
// batch at its wall-clock offset, then a tick every second (with the
// matcher's idle advancement to today) until nothing is pending.
func simulate(t *testing.T, eng *engine.Engine, cfg Config, start time.Time, arrivals []arrival) []Output {
	t.Helper()
	w := window.NewPart()
	var tm Time
	var outs []Output
	lastInput := start
	step := func(ins []Input, mv Move, now time.Time) {
		res := Decide(w, eng, cfg, tm, ins, mv, now)
		w.Commit(res.Change)
		tm = Time{StreamTime: res.Change.StreamTime, Clock: res.Change.Clock}
		outs = append(outs, res.Outputs...)
	}
	for _, a := range arrivals {
		now := start.Add(a.at)
		step(a.ins, Move{}, now)
		lastInput = now
	}
	now := start.Add(arrivals[len(arrivals)-1].at)
	for i := 0; i < 600 && (w.Pending()[record.Bank]+w.Pending()[record.Ledger] > 0); i++ {
		now = now.Add(time.Second)
		mv := Move{Tick: true}
		if now.Sub(lastInput) >= cfg.IdleAdvance {
			mv.To, mv.Idle = record.Date(now.Unix()/86400), true // as the matcher moves an idle partition
		}
		step(nil, mv, now)
	}
	return outs
}

type arrival struct {
	at  time.Duration
	ins []Input
}

// TestContinuousDecidesAsBatch: a generated day's bank and ledger files,
// delivered to the continuous matcher in either order and with a delay up
// to idle-advance between them, end with exactly the matches and open
// breaks the batch run (every window held to the end) decides.
func TestContinuousDecidesAsBatch(t *testing.T) {
	for _, c := range []struct {
		format string
		seed   uint64
	}{{"csv", 1}, {"csv", 7}, {"mt940", 2}, {"camt053", 3}, {"bai2", 4}} {
		t.Run(fmt.Sprintf("%s-seed%d", c.format, c.seed), func(t *testing.T) { continuousAsBatch(t, c.format, c.seed) })
	}
}

func continuousAsBatch(t *testing.T, bankFormat string, seed uint64) {
	n := gen.DefaultNoise()
	n.Pairs, n.Accounts, n.BankOnly, n.LedgerOnly, n.Seed, n.BankFormat = 400, 4, 12, 12, seed, bankFormat
	var bankFile, ledgerFile, truth bytes.Buffer
	if err := gen.WriteNoisy(n, &bankFile, &ledgerFile, &truth); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.DefaultConfig())
	bank := inputs(t, eng, "bank/day."+bankFormat, record.Bank, bankFile.Bytes())
	ledger := inputs(t, eng, "ledger/day.csv", record.Ledger, ledgerFile.Bytes())
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC) // months after the day: idle advancement closes every window

	batchCfg := Config{HoldWindows: true, RetentionDays: 62}
	want := outcome(simulateBatch(eng, batchCfg, append(append([]Input{}, bank...), ledger...)))
	if len(want) < 100 {
		t.Fatalf("the batch run decided only %d things", len(want))
	}
	cfg := Config{RetentionDays: 62, MinPending: 2 * time.Second, IdleAdvance: 10 * time.Second}
	for _, c := range []struct {
		name     string
		arrivals []arrival
	}{
		{"bank first, ledger 9 s later", []arrival{{0, bank}, {9 * time.Second, ledger}}},
		{"ledger first, bank 9 s later", []arrival{{0, ledger}, {9 * time.Second, bank}}},
		{"together", []arrival{{0, append(append([]Input{}, ledger...), bank...)}}},
		{"ledger, then bank in three parts", []arrival{{0, ledger}, {time.Second, bank[:len(bank)/3]},
			{2 * time.Second, bank[len(bank)/3 : 2*len(bank)/3]}, {8 * time.Second, bank[2*len(bank)/3:]}}},
		{"bank in two parts around the ledger", []arrival{{0, bank[:len(bank)/2]}, {4 * time.Second, ledger}, {9 * time.Second, bank[len(bank)/2:]}}},
	} {
		got := outcome(simulate(t, eng, cfg, start, c.arrivals))
		if !slices.Equal(got, want) {
			extra, missing := diff(got, want)
			t.Errorf("%s: continuous differs from batch: %d extra, %d missing\n extra: %.1500q\n missing: %.1500q", c.name, len(extra), len(missing), extra, missing)
		}
	}
}

func simulateBatch(eng *engine.Engine, cfg Config, ins []Input) []Output {
	w := window.NewPart()
	res := Decide(w, eng, cfg, Time{}, ins, Move{}, time.Time{})
	w.Commit(res.Change)
	tm := Time{StreamTime: res.Change.StreamTime, Clock: res.Change.Clock}
	res2 := Decide(w, eng, cfg, tm, nil, Move{Final: true}, time.Time{})
	return append(res.Outputs, res2.Outputs...)
}

func diff(got, want []string) (extra, missing []string) {
	g, w := map[string]int{}, map[string]int{}
	for _, x := range got {
		g[x]++
	}
	for _, x := range want {
		w[x]++
	}
	for x, n := range g {
		for i := w[x]; i < n; i++ {
			extra = append(extra, x)
		}
	}
	for x, n := range w {
		for i := g[x]; i < n; i++ {
			missing = append(missing, x)
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	return extra, missing
}
