package casestore

import (
	"context"
	"fmt"

	"github.com/openrecon/recon/internal/record"
)

// DayFigures is one day of the dashboard's charts.
type DayFigures struct {
	Date record.Date
	// Records booked on the day: matched (auto or confirmed) and breaks
	// (whatever their status now, but matched): the day's match rate.
	Matched, Broken int64
	// Breaks that reached the queue on the day (their window closed),
	// that left it (matched, written off, accepted or resolved; counted
	// on the day of their last change), and still open at its end.
	Opened, Cleared, Open int64
}

// Rate is the day's match rate in percent (0 without records).
func (d DayFigures) Rate() float64 {
	if d.Matched+d.Broken == 0 {
		return 0
	}
	return float64(d.Matched) * 100 / float64(d.Matched+d.Broken)
}

// Daily returns the figures of every day from `from` to `to`. Four
// grouped reads, whatever the number of breaks and matches.
func (s *Store) Daily(ctx context.Context, from, to record.Date) ([]DayFigures, error) {
	if to < from {
		return nil, nil
	}
	out := make([]DayFigures, to-from+1)
	for i := range out {
		out[i].Date = from + record.Date(i)
	}
	at := func(d record.Date) *DayFigures {
		if d < from || d > to {
			return nil
		}
		return &out[d-from]
	}
	fail := func(err error) ([]DayFigures, error) {
		return nil, fmt.Errorf("case store %s: daily figures: %w", s.source, err)
	}
	each := func(query string, args []any, f func(d record.Date, n int64)) error {
		rows, err := s.db.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d dateValue
			var n int64
			if err := rows.Scan(&d, &n); err != nil {
				return err
			}
			f(d.d, n)
		}
		return rows.Err()
	}
	span := []any{from.String(), to.String()}
	if err := each(`SELECT booking_date, COUNT(*) FROM case_breaks WHERE status <> 'matched' AND booking_date >= ? AND booking_date <= ?
		GROUP BY booking_date`, span, func(d record.Date, n int64) {
		if f := at(d); f != nil {
			f.Broken += n
		}
	}); err != nil {
		return fail(err)
	}
	if err := each(`SELECT m.decided_at, COALESCE(SUM(m.members), 0) FROM case_matches m
		LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
		WHERE m.decided_at >= ? AND m.decided_at <= ? AND COALESCE(mo.status, m.status) IN ('auto', 'confirmed')
		GROUP BY m.decided_at`, span, func(d record.Date, n int64) {
		if f := at(d); f != nil {
			f.Matched += n
		}
	}); err != nil {
		return fail(err)
	}
	// Open at a day's end: every break opened by then, less those cleared
	// by then; the days before `from` give the starting count.
	var before int64
	if err := each(`SELECT window_closed_at, COUNT(*) FROM case_breaks WHERE window_closed_at <= ? GROUP BY window_closed_at`,
		[]any{to.String()}, func(d record.Date, n int64) {
			if f := at(d); f != nil {
				f.Opened += n
			} else {
				before += n
			}
		}); err != nil {
		return fail(err)
	}
	day := "substr(updated_at, 1, 10)" // SQLite keeps UTC timestamps as text
	if s.pg {
		day = "CAST(updated_at AT TIME ZONE 'UTC' AS DATE)"
	}
	if err := each(`SELECT `+day+`, COUNT(*) FROM case_breaks WHERE status <> 'open' GROUP BY `+day, nil, func(d record.Date, n int64) {
		if f := at(d); f != nil {
			f.Cleared += n
		} else if d < from {
			before -= n
		}
	}); err != nil {
		return fail(err)
	}
	open := before
	for i := range out {
		open += out[i].Opened - out[i].Cleared
		out[i].Open = max(open, 0)
	}
	return out, nil
}
