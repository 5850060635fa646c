package casestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// The dashboard's daily figures: a day's match rate counts the records
// booked on it, matched and broken; breaks open on the day their window
// closed and clear on the day they left the queue; the open count carries
// the breaks opened before the first day.
func TestDaily(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		today := record.Date(time.Now().UTC().Unix() / 86400)
		mk := func(id string, booked, closed record.Date) *record.Break {
			b := brk(id, 0, "A", -1000, id)
			b.Record.BookingDate, b.WindowClosedAt = booked, closed
			b.BreakID = record.BreakID(b.Record, record.Unmatched)
			return b
		}
		old, b1, b2 := mk("old", today-20, today-15), mk("b1", today-5, today-3), mk("b2", today-4, today-2)
		m := match("m1")
		m.DecidedAt = (today - 5).Time()
		if err := s.Apply(ctx, "console", &Batch{Breaks: []*record.Break{old, b1, b2}, Matches: []*record.Match{m}}); err != nil {
			t.Fatal(err)
		}
		// b2 written off today.
		o := &record.Outcome{ResolutionID: "rs-1", Action: record.ActWriteOff, Account: "A", Currency: "EUR", Applied: true,
			Breaks: []record.BreakState{{BreakID: b2.BreakID, Status: StatusWrittenOff}}, DecidedAt: time.Now()}
		if err := s.Apply(ctx, "console", &Batch{Outcomes: []Outcome{{Outcome: o, Seq: 1}}}); err != nil {
			t.Fatal(err)
		}
		days, err := s.Daily(ctx, today-6, today)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]string{}
		for _, d := range days {
			got[int(today-d.Date)] = fmt.Sprintf("m%d b%d +%d -%d =%d", d.Matched, d.Broken, d.Opened, d.Cleared, d.Open)
		}
		want := map[int]string{6: "m0 b0 +0 -0 =1", 5: "m2 b1 +0 -0 =1", 4: "m0 b1 +0 -0 =1", 3: "m0 b0 +1 -0 =2",
			2: "m0 b0 +1 -0 =3", 1: "m0 b0 +0 -0 =3", 0: "m0 b0 +0 -1 =2"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("days back -> figures:\n got %v\nwant %v", got, want)
		}
		if r := days[1].Rate(); money.New(int64(r*100), 2).String() != "66.66" {
			t.Errorf("rate of 2 matched and 1 broken: %v", r)
		}
	})
}
