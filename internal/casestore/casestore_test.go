package casestore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// each runs f on a migrated SQLite store and, with the test servers, on a
// PostgreSQL store in a schema of its own.
func each(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newStore(t, false)) })
	t.Run("postgres", func(t *testing.T) { f(t, newStore(t, true)) })
}

// newStore is a migrated empty store: SQLite in a temporary directory, or
// PostgreSQL (with the test servers) in a schema of its own.
func newStore(t *testing.T, pg bool) *Store { return newStoreAt(t, pg, migrations) }

// newStoreAt is an empty store migrated by steps.
func newStoreAt(t *testing.T, pg bool, steps []string) *Store {
	t.Helper()
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "cases.db")
	if pg {
		url = testenv.Postgres(t)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		schema := fmt.Sprintf("cases_%d", time.Now().UnixNano())
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "search_path=" + schema
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.migrate(ctx, steps); err != nil {
		t.Fatal(err)
	}
	return s
}

var day0 = record.MakeDate(2026, 3, 2)

func brk(id string, i int, account string, cents int64, text string) *record.Break {
	it := record.Item{ID: "r-" + id, Side: record.Bank, Currency: "EUR", Amount: money.New(cents, 2), BookingDate: day0 + record.Date(i%40),
		Reference: "REF-" + id, Counterparty: "Counterparty " + text, Description: text, SourceFile: "bank.csv", SourcePosition: int64(i + 1)}
	return &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: record.Bank, Reason: record.Unmatched, Account: account,
		Currency: "EUR", Record: it, WindowClosedAt: it.BookingDate + 32,
		Candidates: []record.Candidate{{ID: "l-x", Currency: "EUR", Amount: money.New(cents+1, 2), BookingDate: it.BookingDate, Score: 4000, Note: "amount"}}}
}

func match(id string, clears ...string) *record.Match {
	it := record.Item{ID: id, Side: record.Bank, Currency: "EUR", Amount: money.New(100, 2), BookingDate: day0}
	return &record.Match{MatchID: record.MatchID(id, "l"), Rule: "exact", Status: record.Auto, Confidence: 10000, Account: "A", Currency: "EUR",
		Bank: []record.Item{it}, Ledger: []record.Item{{ID: "l", Side: record.Ledger, Currency: "EUR", Amount: money.New(100, 2), BookingDate: day0}},
		Difference: money.New(0, 2), ClearsBreakIDs: clears, DecidedAt: day0.Time()}
}

// A batch applied twice (a replay after a crash) stores every row once;
// the offsets are those of the last batch; a match clears the break it
// names whether it comes before or after the break.
func TestApplyIdempotentAndClears(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		b1, b2, b3 := brk("1", 0, "A", -1000, "rent"), brk("2", 1, "A", 2500, "fee"), brk("3", 2, "B", 700, "x")
		b1.Note = "N:M search bound hit: 2 bank entries and 11 ledger items share the reference X"
		batch := &Batch{Breaks: []*record.Break{b1, b2}, Offsets: []Offset{{"recon.breaks", 0, 2}}}
		for range 2 {
			if err := s.Apply(ctx, "console", batch); err != nil {
				t.Fatal(err)
			}
		}
		// The match of b2 arrives; the match of b3 before b3 itself.
		m2, m3 := match("r-2", b2.BreakID), match("r-3", b3.BreakID)
		if err := s.Apply(ctx, "console", &Batch{Matches: []*record.Match{m2, m3}, Offsets: []Offset{{"recon.matches", 1, 5}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, "console", &Batch{Breaks: []*record.Break{b3}, Offsets: []Offset{{"recon.breaks", 0, 3}}}); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.CountBreaks(ctx, Filter{Status: "all"}); n != 3 {
			t.Errorf("%d breaks stored, want 3", n)
		}
		open, _, err := s.ListBreaks(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 1 || open[0].BreakID != b1.BreakID || open[0].Amount.String() != "-10.00" || open[0].BookingDate != day0 {
			t.Fatalf("open breaks %+v", open)
		}
		got := open[0]
		if got.RecordID != "r-1" || got.SourcePosition != 1 || got.WindowClosedAt != day0+32 || !strings.Contains(string(got.Candidates), `"l-x"`) ||
			got.Note != b1.Note {
			t.Errorf("stored break %+v", got)
		}
		matched, _, _ := s.ListBreaks(ctx, Filter{Status: StatusMatched})
		var by []string
		for _, b := range matched {
			by = append(by, b.BreakID+"="+b.MatchedBy)
		}
		slices.Sort(by)
		want := []string{b2.BreakID + "=" + m2.MatchID, b3.BreakID + "=" + m3.MatchID}
		slices.Sort(want)
		if !slices.Equal(by, want) {
			t.Errorf("matched %v, want %v", by, want)
		}
		offs, err := s.Offsets(ctx, "console")
		if err != nil || offs["recon.breaks"][0] != 3 || offs["recon.matches"][1] != 5 {
			t.Errorf("offsets %v %v", offs, err)
		}
		if o, _ := s.Offsets(ctx, "other"); len(o) != 0 {
			t.Errorf("another consumer's offsets %v", o)
		}
		// Migrating again changes nothing.
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.CountBreaks(ctx, Filter{Status: "all"}); n != 3 {
			t.Errorf("%d breaks after a second migrate", n)
		}
	})
}

// Paging visits every selected break exactly once, in the sort's order,
// for every sort; filters select what they say.
func TestListBreaksPagingAndFilters(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var all []*record.Break
		for i := range 230 {
			acct := []string{"A", "B", "C"}[i%3]
			text := []string{"rent", "fee 100%", "card_payout"}[i%3]
			all = append(all, brk(fmt.Sprint(i), i, acct, int64((i*7919)%5000-2500), text))
		}
		if err := s.Apply(ctx, "c", &Batch{Breaks: all}); err != nil {
			t.Fatal(err)
		}
		for _, sort := range []string{"age", "-age", "amount", "-amount"} {
			var seen []Break
			cursor, pages := "", 0
			for {
				page, next, err := s.ListBreaks(ctx, Filter{Sort: sort, Limit: 37, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, page...)
				pages++
				if next == "" {
					break
				}
				if pages > 20 {
					t.Fatalf("%s: paging does not end", sort)
				}
				cursor = next
			}
			ids := map[string]bool{}
			for i, b := range seen {
				if ids[b.BreakID] {
					t.Fatalf("%s: %s listed twice", sort, b.BreakID)
				}
				ids[b.BreakID] = true
				if i == 0 {
					continue
				}
				p := seen[i-1]
				var c int
				switch strings.TrimPrefix(sort, "-") {
				case "age":
					c = int(b.BookingDate) - int(p.BookingDate)
				case "amount":
					c = b.Amount.Cmp(p.Amount)
				}
				if strings.HasPrefix(sort, "-") {
					c = -c
				}
				if c < 0 || (c == 0 && (b.BreakID < p.BreakID) != strings.HasPrefix(sort, "-")) {
					t.Fatalf("%s: %s after %s out of order", sort, b.BreakID, p.BreakID)
				}
			}
			if len(seen) != len(all) || pages != 7 {
				t.Errorf("%s: %d breaks in %d pages, want %d in 7", sort, len(seen), pages, len(all))
			}
		}
		lo, hi := money.New(-500, 2), money.New(1000, 2)
		count := func(f Filter) int64 {
			t.Helper()
			n, err := s.CountBreaks(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		want := func(keep func(*record.Break) bool) int64 {
			n := int64(0)
			for _, b := range all {
				if keep(b) {
					n++
				}
			}
			return n
		}
		today := day0 + 45
		for name, c := range map[string]struct {
			f    Filter
			keep func(*record.Break) bool
		}{
			"account": {Filter{Account: "B"}, func(b *record.Break) bool { return b.Account == "B" }},
			"amount range": {Filter{MinAmount: &lo, MaxAmount: &hi}, func(b *record.Break) bool {
				return b.Record.Amount.Cmp(lo) >= 0 && b.Record.Amount.Cmp(hi) <= 0
			}},
			"text with a literal %": {Filter{Text: "FEE 100%"}, func(b *record.Break) bool { return strings.Contains(b.Record.Description, "fee 100%") }},
			"text with a literal _": {Filter{Text: "d_p"}, func(b *record.Break) bool { return strings.Contains(b.Record.Description, "d_p") }},
			"age at least 30 days":  {Filter{Today: today, MinAgeDays: 30}, func(b *record.Break) bool { return today-b.Record.BookingDate >= 30 }},
			"age 8 to 30 days": {Filter{Today: today, MinAgeDays: 8, MaxAgeDays: 30}, func(b *record.Break) bool {
				return today-b.Record.BookingDate >= 8 && today-b.Record.BookingDate <= 30
			}},
		} {
			if got, w := count(c.f), want(c.keep); got != w || w == 0 {
				t.Errorf("%s: %d breaks, want %d", name, got, w)
			}
		}
		for _, bad := range []Filter{{Status: "closed"}, {Sort: "name"}, {Cursor: "no-separator"}, {Sort: "amount", Cursor: "x~id"}} {
			if _, _, err := s.ListBreaks(ctx, bad); err == nil {
				t.Errorf("filter %+v accepted", bad)
			}
		}
	})
}

// A store migrated by a newer version is refused with a line that says so.
func TestNewerSchemaRefused(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO case_migrations (version) VALUES (?)`), len(migrations)+1); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("migrate over a newer schema: %v", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "mysql://u:secret@h/db"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("unknown scheme: %v", err)
	}
	if _, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")); err == nil {
		t.Error("sqlite in a missing folder opened")
	}
}

// BenchmarkListBreaks100k: the first page of the open queue, filtered by
// account and sorted by amount, over 100,000 breaks (SQLite).
func BenchmarkListBreaks100k(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "cases.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100000; i += 5000 {
		var bs []*record.Break
		for j := i; j < i+5000; j++ {
			bs = append(bs, brk(fmt.Sprint(j), j, fmt.Sprintf("ACCT-%02d", j%50), int64((j*7919)%500000-250000), "payment"))
		}
		if err := s.Apply(ctx, "c", &Batch{Breaks: bs}); err != nil {
			b.Fatal(err)
		}
	}
	for name, f := range map[string]Filter{
		"account by amount":      {Account: "ACCT-07", Sort: "-amount"},
		"oldest":                 {},
		"text on all by amount":  {Sort: "-amount", Text: "payment"},
		"text on few by amount":  {Sort: "-amount", Text: "ref-4242"},
		"amount range, 2nd page": {MinAmount: ptr(money.New(-100000, 2)), MaxAmount: ptr(money.New(100000, 2)), Cursor: "2026-03-02~0"},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.ListBreaks(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func outcome(seq int64, resID string, action record.Action, applied bool, matchID, matchStatus string, breaks ...record.BreakState) Outcome {
	return Outcome{Seq: seq, Outcome: &record.Outcome{ResolutionID: resID, Action: action, Account: "A", Currency: "EUR", Applied: applied,
		MatchID: matchID, MatchStatus: matchStatus, Breaks: breaks, User: "preparer", DecidedAt: day0.Time()}}
}

// A break's status follows the matches and resolutions that concern it,
// whichever topic the feed reads first: proposed while a proposal clears
// it, open again when the proposal is rejected, matched by a manual match
// (also before the match itself is read), open when that is undone,
// written off; an outcome read twice, or a refused second copy of a
// resolution, changes nothing.
func TestStatusFromOutcomes(t *testing.T) {
	b1 := brk("1", 0, "A", -1000, "rent")
	prop := match("r-1", b1.BreakID)
	prop.Status = record.Proposed
	manual := match("r-1x", b1.BreakID)
	manual.Rule, manual.Status = "manual", record.Confirmed
	st := func(s string) record.BreakState {
		return record.BreakState{BreakID: b1.BreakID, RecordID: "r-1", Status: s}
	}
	outs := []Outcome{
		outcome(10, "rs-reject", record.ActReject, true, prop.MatchID, record.MatchRejected, st(StatusOpen)),
		outcome(11, "rs-manual", record.ActManualMatch, true, manual.MatchID, "confirmed", st(StatusMatched)),
		outcome(12, "rs-unmatch", record.ActUnmatch, true, manual.MatchID, record.MatchUnmatched, st(StatusOpen)),
		outcome(13, "rs-wo", record.ActWriteOff, true, "", "", st(StatusWrittenOff)),
		outcome(14, "rs-wo", record.ActWriteOff, false, "", ""), // the same resolution again: refused, ignored
	}
	status := func(t *testing.T, s *Store) (string, string) {
		all, _, err := s.ListBreaks(context.Background(), Filter{Status: "all"})
		if err != nil || len(all) != 1 {
			t.Fatalf("breaks %+v %v", all, err)
		}
		return all[0].Status, all[0].MatchedBy
	}
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		apply := func(b *Batch) {
			t.Helper()
			if err := s.Apply(ctx, "console", b); err != nil {
				t.Fatal(err)
			}
		}
		apply(&Batch{Breaks: []*record.Break{b1}, Matches: []*record.Match{prop}})
		if got, by := status(t, s); got != StatusProposed || by != prop.MatchID {
			t.Fatalf("with a proposal: %s by %s", got, by)
		}
		want := []string{StatusOpen, StatusMatched, StatusOpen, StatusWrittenOff, StatusWrittenOff}
		for i, o := range outs {
			b := &Batch{Outcomes: []Outcome{o}}
			if i == 1 {
				apply(b)
				if got, by := status(t, s); got != StatusMatched || by != manual.MatchID {
					t.Fatalf("manual match outcome before its match: %s by %s", got, by)
				}
				b = &Batch{Matches: []*record.Match{manual}}
			}
			apply(b)
			apply(b) // read twice
			if got, _ := status(t, s); got != want[i] {
				t.Fatalf("after %s (seq %d): %s, want %s", o.ResolutionID, o.Seq, got, want[i])
			}
		}
	})
	// The same topics read the other way round (outcomes first) end the same.
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.Apply(ctx, "console", &Batch{Outcomes: outs}); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, "console", &Batch{Matches: []*record.Match{manual, prop}, Breaks: []*record.Break{b1}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := status(t, s); got != StatusWrittenOff {
			t.Fatalf("outcomes first: %s", got)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM case_outcomes WHERE applied = 1`).Scan(&n); err != nil || n != 4 {
			t.Errorf("%d applied outcomes stored (%v), want 4", n, err)
		}
	})
}
