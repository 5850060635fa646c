package decide

import (
	"bytes"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

// BenchmarkDecideContinuous decides a generated day (the bench's data:
// 20,000 pairs with references, 1 % without a counterpart) as the matcher
// does, in rounds of 2,000 records alternating between the two files,
// then closes every window: the cost of the rules per record.
func BenchmarkDecideContinuous(b *testing.B) {
	var bank, ledger bytes.Buffer
	if _, err := gen.Write(gen.Config{Pairs: 20000, BankOnly: 100, LedgerOnly: 100, Accounts: 50, Seed: 3}, &bank, &ledger); err != nil {
		b.Fatal(err)
	}
	eng := engine.New(engine.DefaultConfig())
	bi, li := inputs(b, eng, "bank/b.csv", record.Bank, bank.Bytes()), inputs(b, eng, "ledger/l.csv", record.Ledger, ledger.Bytes())
	var rounds [][]Input
	for i := 0; i < max(len(bi), len(li)); i += 1000 {
		var r []Input
		r = append(r, bi[min(i, len(bi)):min(i+1000, len(bi))]...)
		r = append(r, li[min(i, len(li)):min(i+1000, len(li))]...)
		rounds = append(rounds, r)
	}
	cfg := Config{RetentionDays: 62, MinPending: 0}
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		w := window.NewPart()
		var tm Time
		for k, r := range rounds {
			res := Decide(w, eng, cfg, tm, r, Move{}, start.Add(time.Duration(k)*time.Second))
			w.Commit(res.Change)
			tm = Time{StreamTime: res.Change.StreamTime, Clock: res.Change.Clock}
		}
		res := Decide(w, eng, cfg, tm, nil, Move{Final: true}, start)
		w.Commit(res.Change)
	}
	b.ReportMetric(float64(len(bi)+len(li))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
