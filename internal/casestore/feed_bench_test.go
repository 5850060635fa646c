package casestore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// feedDay is what the feed applies for pairs matched pairs and a break per
// hundred records, in batches of 2,000 topic records; with records, the
// booked transactions of both sides too (the balance view's input).
func feedDay(pairs int, records bool) []*Batch {
	var out []*Batch
	b := &Batch{}
	n := 0
	flush := func(k int) {
		if n += k; n >= 2000 {
			out, b, n = append(out, b), &Batch{}, 0
		}
	}
	for i := 0; i < pairs; i++ {
		d := day0 + record.Date(i%20)
		bt := &record.Transaction{ID: fmt.Sprintf("b%d", i), Side: record.Bank, Account: fmt.Sprintf("ACC-%d", i%12), Currency: "EUR",
			Amount: money.New(int64(1000+i), 2), BookingDate: d, Reference: fmt.Sprintf("INV-%d", i), SourceFile: "bank.xml", SourcePosition: int64(i)}
		lt := *bt
		lt.ID, lt.Side, lt.SourceFile = fmt.Sprintf("l%d", i), record.Ledger, "gl.csv"
		if records {
			b.Records = append(b.Records, bt, &lt)
			flush(2)
		}
		if i%100 == 0 {
			it := record.ItemOf(bt)
			b.Breaks = append(b.Breaks, &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: record.Bank, Reason: record.Unmatched,
				Account: bt.Account, Currency: "EUR", Record: it, WindowClosedAt: d + 5})
			flush(1)
			continue
		}
		b.Matches = append(b.Matches, &record.Match{MatchID: record.MatchID(bt.ID, lt.ID), Rule: "exact", Status: record.Auto, Account: bt.Account,
			Currency: "EUR", Bank: []record.Item{record.ItemOf(bt)}, Ledger: []record.Item{record.ItemOf(&lt)}, DecidedAt: d.Time()})
		flush(1)
	}
	return append(out, b)
}

// BenchmarkFeedApply100k measures the feed's writes on SQLite for 50,000
// pairs: the matches and breaks alone, and with both sides' records.
func BenchmarkFeedApply100k(b *testing.B) {
	for _, records := range []bool{false, true} {
		b.Run(fmt.Sprintf("records=%v", records), func(b *testing.B) {
			batches := feedDay(50000, records)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, err := Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "cases.db"))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Migrate(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, bt := range batches {
					if err := s.Apply(context.Background(), "feed", bt); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s.Close()
			}
		})
	}
}
