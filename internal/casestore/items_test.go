package casestore

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// oldSteps are the migrations before normalise-records: the schema whose
// matches carried copies of their members.
func oldSteps(t *testing.T) []string {
	for i, st := range migrations {
		if strings.Contains(st, "CREATE TABLE case_files") {
			return migrations[:i]
		}
	}
	t.Fatal("no case_files step")
	return nil
}

// writeOld stores a book's records, matches and members as the schema
// before normalise-records held them; every second match in the object
// form of still earlier versions. extra is a match whose bank item no
// record stands for (a provisional intraday entry).
func writeOld(t *testing.T, s *Store, bk *book, extra *record.Match) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, s.q(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	type day struct{ acct, side, day string }
	totals, counts := map[day]money.Decimal{}, map[day]int{}
	for _, r := range bk.batch.Records {
		k := day{r.Account, string(r.Side), r.BookingDate.String()}
		totals[k], _ = totals[k].Add(r.Amount)
		counts[k]++
	}
	for k, v := range totals {
		exec(`INSERT INTO case_record_days (account, currency, side, booking_date, total, n) VALUES (?, 'EUR', ?, ?, ?, ?)`,
			k.acct, k.side, k.day, v.String(), counts[k])
	}
	for _, r := range bk.batch.Records {
		amt, _ := e6(r.Amount)
		exec(`INSERT INTO case_records (record_id, source_file, source_position, side, account, currency, amount, amount_e6, booking_date,
			reference, counterparty, settled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.SourceFile, r.SourcePosition, string(r.Side),
			r.Account, r.Currency, r.Amount.String(), amt, r.BookingDate.String(), r.Reference, r.Counterparty, notSettled)
	}
	for i, m := range append(append([]*record.Match{}, bk.batch.Matches...), extra) {
		side := func(its []record.Item) string {
			var out []any
			for _, it := range its {
				if i%2 == 0 {
					out = append(out, []any{it.ID, it.Amount.String(), it.BookingDate.String(), it.Reference, it.Counterparty, it.Description,
						it.SourceFile, it.SourcePosition})
				} else {
					out = append(out, MatchItem{ID: it.ID, Amount: it.Amount.String(), BookingDate: it.BookingDate.String(), Reference: it.Reference,
						Counterparty: it.Counterparty, Description: it.Description, SourceFile: it.SourceFile, SourcePosition: it.SourcePosition})
				}
			}
			raw, _ := json.Marshal(out)
			return string(raw)
		}
		first, last, diffZero := matchSpan(m)
		exec(`INSERT INTO case_matches (match_id, rule, status, confidence, account, currency, difference, explanation, decided_at, bank, ledger,
			clears, members, first_date, last_date, diff_zero, rule_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.MatchID, m.Rule, string(m.Status), int(m.Confidence), m.Account, m.Currency, m.Difference.String(), m.Explanation,
			m.DecidedAt.UTC().Format("2006-01-02"), side(m.Bank), side(m.Ledger), "[]", len(m.Bank)+len(m.Ledger), first.String(), last.String(),
			diffZero, m.RuleVersion)
		for _, it := range append(append([]record.Item{}, m.Bank...), m.Ledger...) {
			exec(`INSERT INTO case_match_members (record_id, source_file, source_position, match_id) VALUES (?, ?, ?, ?)`,
				it.ID, it.SourceFile, it.SourcePosition, m.MatchID)
		}
	}
	exec(`UPDATE case_records SET settled = COALESCE((SELECT MAX(m.last_date) FROM case_match_members mm
		JOIN case_matches m ON m.match_id = mm.match_id LEFT JOIN case_match_outcome mo ON mo.match_id = m.match_id
		WHERE mm.record_id = case_records.record_id AND mm.source_file = case_records.source_file
		AND mm.source_position = case_records.source_position AND `+liveFinal+`), ?)`, notSettled)
	// Breaks and statements are stored as they were then.
	if err := s.Apply(ctx, "feed", &Batch{Breaks: bk.batch.Breaks, Statements: bk.batch.Statements}); err != nil {
		t.Fatal(err)
	}
}

// TestNormaliseRecords: a store of the schema before normalise-records
// (matches carrying copies of their members, in both stored forms) is
// migrated to records stored once; afterwards every balance of every day
// and every match's items are what a store fed the same book from the
// start shows, and a match's member that no record stands for is still
// the match's item without entering the balance.
func TestNormaliseRecords(t *testing.T) {
	each(t, func(t *testing.T, want *Store) {
		ctx := context.Background()
		bk := genBook(21, false)
		bk.apply(t, want, 7)

		got := newStoreAt(t, want.pg, oldSteps(t))
		prov := tx(record.Bank, "pv-1", "ACC-1", 999, day0+1)
		prov.Provisional = true
		lt := tx(record.Ledger, "lx-1", "ACC-1", 999, day0+1)
		extra := &record.Match{MatchID: record.MatchID(prov.ID, lt.ID), Rule: "exact", Status: record.Auto, Account: "ACC-1", Currency: "EUR",
			Bank: []record.Item{record.ItemOf(prov)}, Ledger: []record.Item{record.ItemOf(lt)}, DecidedAt: (day0 + 1).Time()}
		writeOld(t, got, bk, extra)
		if err := got.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// What came after: the people's outcomes, and the extra match's
		// ledger record read.
		if err := got.Apply(ctx, "feed", &Batch{Outcomes: bk.batch.Outcomes}); err != nil {
			t.Fatal(err)
		}
		if err := want.Apply(ctx, "feed", &Batch{Matches: []*record.Match{extra}}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []*Store{want, got} {
			if err := a.Apply(ctx, "feed", &Batch{Records: []*record.Transaction{lt, prov}}); err != nil {
				t.Fatal(err)
			}
		}
		bk.adjustments(t, got)

		for _, acct := range bk.accts {
			for d := 0; d < bk.days; d++ {
				day := day0 + record.Date(d)
				a, err := want.Balance(ctx, acct, "EUR", day, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := got.Balance(ctx, acct, "EUR", day, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%s %s after the migration:\n got %+v\nwant %+v", acct, day, b, a)
				}
				// The extra match's ledger posting is on no statement; its
				// provisional bank entry is no posting.
				want := money.New(0, 2)
				if acct == "ACC-1" && d >= 1 {
					want = money.New(-999, 2)
				}
				if b.Unexplained == nil || !b.Unexplained.Equal(want) {
					t.Errorf("%s %s: unexplained %v (%s) after the migration, want %s", acct, day, b.Unexplained, b.Problem, want)
				}
			}
		}
		for _, m := range append(append([]*record.Match{}, bk.batch.Matches...), extra) {
			a, err := want.GetMatch(ctx, m.MatchID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := got.GetMatch(ctx, m.MatchID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("match %s after the migration:\n got %+v\nwant %+v", m.MatchID, b, a)
			}
			if len(b.Bank) != len(m.Bank) || len(b.Ledger) != len(m.Ledger) || b.Bank[0].Description != m.Bank[0].Description ||
				b.Ledger[0].SourceFile != m.Ledger[0].SourceFile || b.Bank[0].Amount != m.Bank[0].Amount.String() {
				t.Fatalf("match %s items %+v %+v, want %+v %+v", m.MatchID, b.Bank, b.Ledger, m.Bank, m.Ledger)
			}
		}
		// The provisional member is the match's item, not a posting.
		ps, _, err := got.Postings(ctx, "ACC-1", "EUR", "bank", day0+1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.RecordID == prov.ID {
				t.Errorf("the provisional entry %s is a posting of the day", prov.ID)
			}
		}
	})
}

// A match read before its records: the records it names are stored from
// its items, and counted in the day's totals once (when they are read).
func TestMatchBeforeRecords(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		b, l := tx(record.Bank, "b1", "X", 1500, day0), tx(record.Ledger, "l1", "X", 1500, day0+1)
		b.Description = "transfer INV-1"
		m := &record.Match{MatchID: record.MatchID(b.ID, l.ID), Rule: "exact", Status: record.Auto, Account: "X", Currency: "EUR",
			Bank: []record.Item{record.ItemOf(b)}, Ledger: []record.Item{record.ItemOf(l)}, DecidedAt: (day0 + 1).Time()}
		if err := s.Apply(ctx, "feed", &Batch{Matches: []*record.Match{m}}); err != nil {
			t.Fatal(err)
		}
		if ps, _, err := s.Postings(ctx, "X", "EUR", "bank", day0, 10); err != nil || len(ps) != 0 {
			t.Fatalf("postings before the records are read: %+v %v", ps, err)
		}
		for i := 0; i < 2; i++ { // read twice: counted once
			if err := s.Apply(ctx, "feed", &Batch{Records: []*record.Transaction{b, l}}); err != nil {
				t.Fatal(err)
			}
		}
		ps, _, err := s.Postings(ctx, "X", "EUR", "bank", day0, 10)
		if err != nil || len(ps) != 1 || !ps[0].Settled {
			t.Fatalf("postings: %+v %v; want b1, settled", ps, err)
		}
		var n int
		var total string
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT n, total FROM case_record_days WHERE account = ? AND side = ?`), "X", "bank").Scan(&n, &total); err != nil ||
			n != 1 || total != "15.00" {
			t.Errorf("day total: %d records, %s (%v); want 1, 15.00", n, total, err)
		}
		got, err := s.GetMatch(ctx, m.MatchID)
		if err != nil || len(got.Bank) != 1 || got.Bank[0].Description != "transfer INV-1" || got.Ledger[0].BookingDate != (day0+1).String() {
			t.Fatalf("match: %+v %v", got, err)
		}
	})
}

// parseItems refuses what is neither stored form.
func TestParseItemsRefuses(t *testing.T) {
	for _, bad := range []string{`{"id":"x"}`, `[["b-1","1.00"]]`, `[["b-1",1,"","","","","",0]]`} {
		if _, err := parseItems([]byte(bad)); err == nil {
			t.Errorf("%s read without an error", bad)
		}
	}
}
