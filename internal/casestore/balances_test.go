package casestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// book is generated data of several accounts and days as the pipeline
// would deliver it: the records of both sides, the matcher's matches and
// breaks, the statements with balances that add up.
type book struct {
	batch   Batch
	accts   []string
	days    int
	opening money.Decimal
	// missing are bank records the statements contain that never reach
	// the store, per account and day.
	missing map[string]money.Decimal
	// adjusted are open breaks with an approved adjustment (workflow, not
	// the feed: apply records them once the feed has the breaks).
	adjusted []string
}

func tx(side record.Side, id, acct string, cents int64, d record.Date) *record.Transaction {
	return &record.Transaction{ID: id, Side: side, Account: acct, Currency: "EUR", Amount: money.New(cents, 2), BookingDate: d,
		Reference: "REF-" + id, SourceFile: string(side) + ".txt", SourcePosition: int64(len(id))*1000 + int64(d)}
}

// genBook draws a book: per account and day, bank entries whose ledger
// counterpart is booked the same day, a day later (matched later), with a
// fee deducted (a match difference), never (an open break, a written-off
// break, or still pending), or proposed; and ledger postings without a bank
// entry.
func genBook(seed uint64, missingBank bool) *book {
	rng := rand.New(rand.NewPCG(seed, 1))
	bk := &book{accts: []string{"ACC-1", "ACC-2", "ACC-3"}, days: 6, opening: money.New(5_000_00, 2), missing: map[string]money.Decimal{}}
	b := &bk.batch
	n := 0
	id := func(p string) string { n++; return fmt.Sprintf("%s%d", p, n) }
	for _, acct := range bk.accts {
		bal := money.New(5_000_00, 2)
		for d := 0; d < bk.days; d++ {
			day := day0 + record.Date(d)
			open := bal
			var entries int
			for k := rng.IntN(8) + 4; k > 0; k-- {
				cents := rng.Int64N(2_000_00) - 1_000_00
				if cents == 0 {
					cents = 1
				}
				bt := tx(record.Bank, id("b"), acct, cents, day)
				bal, _ = bal.Add(bt.Amount)
				entries++
				b.Records = append(b.Records, bt)
				mk := func(lt *record.Transaction, status record.MatchStatus, rule string) *record.Match {
					diff, _ := bt.Amount.Sub(lt.Amount)
					return &record.Match{MatchID: record.MatchID(bt.ID, lt.ID), Rule: rule, Status: status, Account: acct, Currency: "EUR",
						Bank: []record.Item{record.ItemOf(bt)}, Ledger: []record.Item{record.ItemOf(lt)}, Difference: diff, DecidedAt: day.Time()}
				}
				brk := func(t *record.Transaction) *record.Break {
					it := record.ItemOf(t)
					return &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: t.Side, Reason: record.Unmatched, Account: acct,
						Currency: "EUR", Record: it, WindowClosedAt: day + 5}
				}
				switch r := rng.IntN(20); {
				case r < 10: // same day
					lt := tx(record.Ledger, id("l"), acct, cents, day)
					b.Records = append(b.Records, lt)
					b.Matches = append(b.Matches, mk(lt, record.Auto, "exact"))
				case r < 12: // the ledger books it a day later
					lt := tx(record.Ledger, id("l"), acct, cents, day+1)
					b.Records = append(b.Records, lt)
					b.Matches = append(b.Matches, mk(lt, record.Auto, "date"))
				case r < 13: // a fee deducted by the bank
					lt := tx(record.Ledger, id("l"), acct, cents+150, day)
					b.Records = append(b.Records, lt)
					b.Matches = append(b.Matches, mk(lt, record.Auto, "tolerance"))
				case r < 14: // proposed, waiting for a person
					lt := tx(record.Ledger, id("l"), acct, cents, day)
					b.Records = append(b.Records, lt)
					b.Matches = append(b.Matches, mk(lt, record.Proposed, "counterparty"))
				case r < 15: // no ledger posting: a break, sometimes with an approved adjustment
					br := brk(bt)
					b.Breaks = append(b.Breaks, br)
					if rng.IntN(3) == 0 {
						bk.adjusted = append(bk.adjusted, br.BreakID)
					}
				case r < 16: // a break written off
					br := brk(bt)
					b.Breaks = append(b.Breaks, br)
					b.Outcomes = append(b.Outcomes, outcome(int64(len(b.Outcomes)+1), "rs-"+br.BreakID, record.ActWriteOff, true, "", "",
						record.BreakState{BreakID: br.BreakID, Status: StatusWrittenOff}))
				case r < 17: // not decided yet: pending
				case r < 18: // matched, then undone by a person: the records are open again
					lt := tx(record.Ledger, id("l"), acct, cents, day)
					b.Records = append(b.Records, lt)
					m := mk(lt, record.Confirmed, "manual")
					b.Matches = append(b.Matches, m)
					b.Outcomes = append(b.Outcomes, outcome(int64(len(b.Outcomes)+1), "rs-un-"+m.MatchID, record.ActUnmatch, true, m.MatchID, record.MatchUnmatched))
				default: // a ledger posting without a bank entry, and a pair
					lt := tx(record.Ledger, id("l"), acct, cents, day)
					b.Records = append(b.Records, lt, tx(record.Ledger, id("l"), acct, rng.Int64N(50_000)+1, day))
					b.Matches = append(b.Matches, mk(lt, record.Auto, "exact"))
				}
			}
			if missingBank && acct == "ACC-2" && d == 2 {
				// The statement has an entry the store never receives.
				lost := money.New(-123_45, 2)
				bal, _ = bal.Add(lost)
				entries++
				bk.missing[acct+"|"+day.String()] = lost
			}
			od, cd := day, day
			bal := bal
			b.Statements = append(b.Statements, &record.Statement{ID: fmt.Sprintf("st-%s-%d", acct, d), Account: acct, Currency: "EUR",
				OpeningDate: &od, OpeningBalance: &open, ClosingDate: &cd, ClosingBalance: &bal, Entries: entries, Format: "camt.053"})
		}
	}
	return bk
}

// apply applies the batch's parts in a random order of several batches:
// the view must not depend on what the feed reads first.
func (bk *book) apply(t *testing.T, s *Store, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, one := range batches(bk.parts(rng), rng) {
		if err := s.Apply(context.Background(), "feed", one); err != nil {
			t.Fatal(err)
		}
	}
	bk.adjustments(t, s)
}

// parts are the book's records, matches, breaks, outcomes and statements
// one by one, in a random order.
func (bk *book) parts(rng *rand.Rand) []Batch {
	var parts []Batch
	b := bk.batch
	for _, r := range b.Records {
		parts = append(parts, Batch{Records: []*record.Transaction{r}})
	}
	for _, m := range b.Matches {
		parts = append(parts, Batch{Matches: []*record.Match{m}})
	}
	for _, br := range b.Breaks {
		parts = append(parts, Batch{Breaks: []*record.Break{br}})
	}
	for _, o := range b.Outcomes {
		parts = append(parts, Batch{Outcomes: []Outcome{o}})
	}
	for _, st := range b.Statements {
		parts = append(parts, Batch{Statements: []*record.Statement{st}})
	}
	rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return parts
}

// batches joins parts, in their order, into batches of 1 to 40 parts.
func batches(parts []Batch, rng *rand.Rand) []*Batch {
	var out []*Batch
	for len(parts) > 0 {
		k := min(len(parts), rng.IntN(40)+1)
		one := &Batch{}
		for _, p := range parts[:k] {
			one.Records = append(one.Records, p.Records...)
			one.Matches = append(one.Matches, p.Matches...)
			one.Breaks = append(one.Breaks, p.Breaks...)
			one.Outcomes = append(one.Outcomes, p.Outcomes...)
			one.Statements = append(one.Statements, p.Statements...)
		}
		out, parts = append(out, one), parts[k:]
	}
	return out
}

// adjustments approves the book's adjusting entries.
func (bk *book) adjustments(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for _, id := range bk.adjusted {
		a := &Action{Kind: KindAdjust, Status: ActionPending, User: "preparer", BreakIDs: []string{id}, ReasonCode: "bank_fee", Attachment: "JE-" + id}
		if err := s.Act(ctx, a, false); err != nil {
			t.Fatal(err)
		}
		if d, err := s.Decide(ctx, a.ActionID, "approver", "approve", ActionApplied, ""); err != nil || d.Status != ActionApplied {
			t.Fatalf("adjustment of %s: %+v %v", id, d, err)
		}
	}
}

func sum(t *testing.T, ds ...money.Decimal) money.Decimal {
	t.Helper()
	var out money.Decimal
	for _, d := range ds {
		var err error
		if out, err = out.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The balance identity on generated data: on every account and day,
// statement − ledger = the sum of the reconciling items and nothing is
// unexplained, whatever order the feed read the topics in; each kind of
// item is where the data put it.
func TestBalanceIdentity(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		bk := genBook(11, false)
		bk.apply(t, s, 5)
		kinds := map[string]int{}
		for _, acct := range bk.accts {
			for d := 0; d < bk.days; d++ {
				day := day0 + record.Date(d)
				b, err := s.Balance(ctx, acct, "EUR", day, nil)
				if err != nil {
					t.Fatal(err)
				}
				if b.Unexplained == nil {
					t.Fatalf("%s %s: no unexplained difference: %s", acct, day, b.Problem)
				}
				diff, _ := b.StatementBalance.Sub(b.LedgerBalance)
				if !diff.Equal(b.ItemsTotal) || !b.Reconciled() {
					t.Errorf("%s %s: statement %s − ledger %s = %s, items %s, unexplained %s", acct, day, b.StatementBalance,
						b.LedgerBalance, diff, b.ItemsTotal, b.Unexplained)
				}
				var byKind []money.Decimal
				for _, k := range ItemKinds {
					byKind = append(byKind, b.Totals[k])
					kinds[k] += b.Counts[k]
				}
				if !sum(t, byKind...).Equal(b.ItemsTotal) {
					t.Errorf("%s %s: kind totals do not add up to %s", acct, day, b.ItemsTotal)
				}
				for _, it := range b.Items {
					if it.BookingDate > day {
						t.Errorf("%s %s: item %s booked %s after the day", acct, day, it.RecordID, it.BookingDate)
					}
				}
			}
		}
		for _, k := range ItemKinds {
			if kinds[k] == 0 {
				t.Errorf("the generated book has no %s item on any day: the test does not cover it", k)
			}
		}
		// The same book applied in another order gives the same figures.
		s2 := newStore(t, s.pg)
		bk.apply(t, s2, 99)
		for _, acct := range bk.accts {
			day := day0 + record.Date(bk.days-1)
			a, _ := s.Balance(ctx, acct, "EUR", day, nil)
			b, err := s2.Balance(ctx, acct, "EUR", day, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Items) != len(b.Items) || !a.ItemsTotal.Equal(b.ItemsTotal) || !a.LedgerBalance.Equal(b.LedgerBalance) {
				t.Errorf("%s: another read order gives %d items %s ledger %s, not %d items %s ledger %s", acct, len(b.Items), b.ItemsTotal,
					b.LedgerBalance, len(a.Items), a.ItemsTotal, a.LedgerBalance)
			}
		}
	})
}

// A missing ledger posting shows as the open bank break it leaves, the
// difference between statement and ledger equal to it; a bank entry that
// the statement has and the store never received is the unexplained
// difference, from its day on.
func TestBalanceMissingPostings(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		bk := genBook(12, true)
		// Take one matched ledger posting out: its bank entry is a break.
		var drop *record.Match
		for _, m := range bk.batch.Matches {
			if m.Rule == "exact" && m.Account == "ACC-1" && m.Bank[0].BookingDate == day0+3 {
				drop = m
				break
			}
		}
		if drop == nil {
			t.Fatal("no match to drop")
		}
		var keep []*record.Transaction
		for _, r := range bk.batch.Records {
			if r.ID != drop.Ledger[0].ID {
				keep = append(keep, r)
			}
		}
		var ms []*record.Match
		for _, m := range bk.batch.Matches {
			if m != drop {
				ms = append(ms, m)
			}
		}
		it := drop.Bank[0]
		bk.batch.Records, bk.batch.Matches = keep, ms
		bk.batch.Breaks = append(bk.batch.Breaks, &record.Break{BreakID: record.BreakID(it, record.Unmatched), Side: record.Bank,
			Reason: record.Unmatched, Account: "ACC-1", Currency: "EUR", Record: it, WindowClosedAt: it.BookingDate + 5})
		bk.apply(t, s, 3)

		with, err := s.Balance(ctx, "ACC-1", "EUR", day0+3, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !with.Reconciled() {
			t.Fatalf("a missing ledger posting is explained by its bank break; unexplained %v (%s)", with.Unexplained, with.Problem)
		}
		found := false
		for _, x := range with.Items {
			if x.RecordID == it.ID {
				found = x.Kind == ItemOpenBreak && x.Effect.Equal(it.Amount)
			}
		}
		if !found {
			t.Errorf("the bank entry %s without its ledger posting is not an open break item of %s", it.ID, it.Amount)
		}
		// Without the break item, statement − ledger would differ by it.
		without := with.ItemsTotal
		without, _ = without.Sub(it.Amount)
		diff, _ := with.StatementBalance.Sub(with.LedgerBalance)
		if gap, _ := diff.Sub(without); !gap.Equal(it.Amount) {
			t.Errorf("statement − ledger − the other items = %s, want the missing posting %s", gap, it.Amount)
		}

		for d := 0; d < bk.days; d++ {
			day := day0 + record.Date(d)
			b, err := s.Balance(ctx, "ACC-2", "EUR", day, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := money.New(0, 2)
			if d >= 2 {
				want = bk.missing["ACC-2|"+(day0+2).String()]
			}
			if b.Unexplained == nil || !b.Unexplained.Equal(want) {
				t.Errorf("ACC-2 %s: unexplained %v, want %s (a bank entry lost on day 2)", day, b.Unexplained, want)
			}
		}
	})
}

// Without a statement or an opening the view says why it has no figure;
// statements that disagree are not averaged into one.
func TestBalanceProblems(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		b, err := s.Balance(ctx, "NONE", "EUR", day0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.Unexplained != nil || b.Problem == "" {
			t.Errorf("an account without data: unexplained %v, problem %q", b.Unexplained, b.Problem)
		}
		one, two := money.New(100, 2), money.New(200, 2)
		d := day0
		if err := s.Apply(ctx, "feed", &Batch{Statements: []*record.Statement{
			{ID: "s1", Account: "X", Currency: "EUR", OpeningDate: &d, OpeningBalance: &one, ClosingDate: &d, ClosingBalance: &one},
			{ID: "s2", Account: "X", Currency: "EUR", ClosingDate: &d, ClosingBalance: &two}}}); err != nil {
			t.Fatal(err)
		}
		b, err = s.Balance(ctx, "X", "EUR", d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.Unexplained != nil || len(b.Statements) != 2 {
			t.Errorf("two statements with different balances: unexplained %v, %d statements (%s)", b.Unexplained, len(b.Statements), b.Problem)
		}
		set := &Opening{Date: d - 1, Balance: money.New(100, 2), Source: "setting"}
		b, err = s.Balance(ctx, "X", "EUR", d+1, set)
		if err != nil {
			t.Fatal(err)
		}
		if b.Problem != "no statement closes on "+(d+1).String() {
			t.Errorf("a day without a statement: %q", b.Problem)
		}
	})
}

// A manual match naming records is locked by their booking days; undoing a
// match a checker approved is known to need one again.
func TestRecordDaysAndApprovedMatches(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := tx(record.Bank, "r1", "X", 100, day0), tx(record.Ledger, "r2", "X", 100, day0+3)
		dup := *a
		dup.SourceFile = "other.txt" // the same record read from a second file
		o := func(id, by string, act record.Action) Outcome {
			return Outcome{Outcome: &record.Outcome{ResolutionID: id, Action: act, Account: "X", Currency: "EUR", Applied: true,
				MatchID: "m1", MatchStatus: "confirmed", ApprovedBy: by, User: "preparer"}, Seq: int64(len(id))}
		}
		if err := s.Apply(ctx, "feed", &Batch{Records: []*record.Transaction{a, b, &dup},
			Outcomes: []Outcome{o("res-1", "", record.ActConfirm), o("res-22", "approver", record.ActManualMatch)}}); err != nil {
			t.Fatal(err)
		}
		days, err := s.RecordDays(ctx, "X", "EUR", []string{"r1", "r2", "unknown"})
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 || days[0] != day0 || days[1] != day0+3 {
			t.Errorf("record days: %v, want %s and %s", days, day0, day0+3)
		}
		if days, _ := s.RecordDays(ctx, "Y", "EUR", []string{"r1"}); len(days) != 0 {
			t.Errorf("record days of another account: %v", days)
		}
		if by, err := s.MatchApprovedBy(ctx, "m1"); err != nil || by != "approver" {
			t.Errorf("match m1 approved by %q (%v), want approver", by, err)
		}
		if by, err := s.MatchApprovedBy(ctx, "m2"); err != nil || by != "" {
			t.Errorf("match m2 approved by %q (%v), want nobody", by, err)
		}
	})
}

// Escalations are recorded once per id; what is unsent stays until marked.
func TestRecordEscalationsOnce(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := day0.Time()
		e := func(subject string, level int) *record.Escalation {
			return &record.Escalation{EscalationID: record.EscalationID(record.EscalateBreak, subject, level), Kind: record.EscalateBreak,
				Level: level, SubjectID: subject, Recipient: "ops", Account: "X", Currency: "EUR", Age: "6d", SLA: "5d", EscalatedAt: at}
		}
		fresh, err := s.RecordEscalations(ctx, []*record.Escalation{e("k-1", 1), e("k-2", 1)})
		if err != nil || len(fresh) != 2 {
			t.Fatalf("first record: %d fresh, %v", len(fresh), err)
		}
		fresh, err = s.RecordEscalations(ctx, []*record.Escalation{e("k-1", 1), e("k-1", 2)})
		if err != nil || len(fresh) != 1 || fresh[0].Level != 2 {
			t.Fatalf("second record: %+v, %v; want only k-1 level 2", fresh, err)
		}
		un, err := s.UnsentEscalations(ctx, 10)
		if err != nil || len(un) != 3 {
			t.Fatalf("unsent: %d, %v", len(un), err)
		}
		if !un[0].EscalatedAt.Equal(at) {
			t.Errorf("escalated at %v, want %v", un[0].EscalatedAt, at)
		}
		if err := s.MarkEscalationsSent(ctx, []string{un[0].EscalationID, un[1].EscalationID}); err != nil {
			t.Fatal(err)
		}
		if un, _ := s.UnsentEscalations(ctx, 10); len(un) != 1 {
			t.Errorf("unsent after marking two: %d", len(un))
		}
		if es, _ := s.Escalations(ctx, "k-1"); len(es) != 2 || es[0].Level != 1 || es[1].Level != 2 {
			t.Errorf("escalations of k-1: %+v", es)
		}
	})
}
