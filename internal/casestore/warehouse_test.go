package casestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/warehouse"
)

// warehouseBook is genBook's book with what the warehouse shows beyond the
// balance view: bank references, ingestion and decision times to the
// millisecond (one record with none: a provisional member never read),
// confidences, explanations, a group match, a proposal confirmed (the
// confirmation sent again under the same id), and a record in two matches
// (the first undone).
func warehouseBook(seed uint64) *book {
	bk := genBook(seed, false)
	b := &bk.batch
	base := time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC)
	byID := map[string]*record.Transaction{}
	for i, r := range b.Records {
		r.IngestedAt = base.Add(time.Duration(i)*1234567*time.Microsecond + 7*time.Millisecond)
		if r.Side == record.Bank {
			r.BankReference = fmt.Sprintf("BR%06d", i)
		}
		r.SourceFile = string(r.Side) + "/day.csv"
		byID[r.ID] = r
	}
	for i, m := range b.Matches {
		for _, its := range [][]record.Item{m.Bank, m.Ledger} {
			for j := range its {
				its[j] = record.ItemOf(byID[its[j].ID])
			}
		}
		m.Confidence = record.Confidence(10000 - 50*(i%7))
		m.Explanation = fmt.Sprintf("reference equal (normalised), dates %d day(s) apart", i%3)
		m.DecidedAt = base.Add(time.Duration(i)*time.Second + time.Duration(i%1000)*time.Millisecond)
		m.RuleVersion = int64(1 + i%2)
	}
	acct, day := "ACC-1", day0+3
	add := func(side record.Side, id string, cents int64) *record.Transaction {
		t := tx(side, id, acct, cents, day)
		t.IngestedAt, t.SourceFile = base.Add(time.Hour+time.Duration(len(b.Records))*time.Millisecond), string(side)+"/late.csv"
		if side == record.Bank {
			t.BankReference = "BR-" + id
		}
		b.Records = append(b.Records, t)
		return t
	}
	items := func(ts ...*record.Transaction) []record.Item {
		var out []record.Item
		for _, t := range ts {
			out = append(out, record.ItemOf(t))
		}
		return out
	}
	mk := func(bank, ledger []record.Item, status record.MatchStatus, expl string, at time.Time) *record.Match {
		var ids []string
		for _, it := range append(append([]record.Item{}, bank...), ledger...) {
			ids = append(ids, it.ID)
		}
		return &record.Match{MatchID: record.MatchID(ids...), Rule: "group", Status: status, Confidence: 9731, Account: acct, Currency: "EUR",
			Bank: bank, Ledger: ledger, Difference: money.New(0, 2), Explanation: expl, DecidedAt: at, RuleVersion: 2}
	}
	// One bank entry, two ledger postings.
	g := mk(items(add(record.Bank, "wb-g", 300_00)), items(add(record.Ledger, "wl-g1", 100_00), add(record.Ledger, "wl-g2", 200_00)),
		record.Auto, "sum of 2 postings", base.Add(2*time.Hour+123*time.Millisecond))
	// Proposed, then confirmed: the confirmation comes again under the same id.
	pb, pl := add(record.Bank, "wb-p", 42_00), add(record.Ledger, "wl-p", 42_00)
	p := mk(items(pb), items(pl), record.Proposed, "counterparty alias", base.Add(3*time.Hour+1*time.Millisecond))
	pc := *p
	pc.Status, pc.Explanation = record.Confirmed, "confirmed by approver"
	// A manual match undone, then its bank entry matched again.
	ub := add(record.Bank, "wb-u", 77_00)
	u1 := mk(items(ub), items(add(record.Ledger, "wl-u1", 77_00)), record.Confirmed, "manual", base.Add(4*time.Hour))
	u2 := mk(items(ub), items(add(record.Ledger, "wl-u2", 77_00)), record.Auto, "exact", base.Add(5*time.Hour+999*time.Millisecond))
	// A provisional member: its record is never read, and carries no ingestion time.
	prov := record.ItemOf(tx(record.Bank, "wb-prov", acct, 55_00, day))
	prov.SourceFile = "bank/intraday.csv"
	pm := mk([]record.Item{prov}, items(add(record.Ledger, "wl-prov", 55_00)), record.Auto, "exact", base.Add(6*time.Hour))
	b.Matches = append(b.Matches, g, p, &pc, u1, u2, pm)
	b.Outcomes = append(b.Outcomes, outcome(int64(len(b.Outcomes)+1), "rs-un-"+u1.MatchID, record.ActUnmatch, true, u1.MatchID, record.MatchUnmatched),
		outcome(int64(len(b.Outcomes)+2), "rs-cf-"+p.MatchID, record.ActConfirm, true, p.MatchID, string(record.Confirmed)))
	return bk
}

// queryAll is every row of q, each as the driver's values.
func queryAll(t *testing.T, s *Store, q string) [][]any {
	t.Helper()
	rows, err := s.db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWarehouseViews: the same book, its parts read in a random order and
// in batches of random sizes, written by the loader into a warehouse of
// its own and into the warehouse recon up keeps in the case store's file
// (its matches and items views over the case store, the console's feed
// applying the same batches): every row of recon_matches,
// recon_match_items, recon_match_status and recon_break_status is the
// same, value for value and type for type, and so is the export.
func TestWarehouseViews(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	own, err := warehouse.Open(ctx, "sqlite:"+filepath.Join(dir, "own.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	sharedPath := filepath.Join(dir, "recon.db")
	cases, err := Open(ctx, "sqlite:"+sharedPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cases.Close()
	wh, err := warehouse.Open(ctx, "sqlite:"+sharedPath)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	for _, m := range []interface{ Migrate(context.Context) error }{own, cases, wh} {
		if err := m.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 2; round++ { // served again at the next start: the same views
		if ok, err := cases.ServeWarehouse(ctx); err != nil || !ok {
			t.Fatalf("ServeWarehouse = %v, %v on a new file", ok, err)
		}
	}

	bk := warehouseBook(7)
	b := bk.batch
	rng := rand.New(rand.NewPCG(7, 3))
	parts := bk.parts(rng)
	// A confirmation comes after its proposal (one key, one partition).
	confirmed := b.Matches[len(b.Matches)-4]
	first, last := -1, -1
	for i, p := range parts {
		for _, m := range p.Matches {
			if m.MatchID == confirmed.MatchID {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
	}
	if parts[first].Matches[0].Status == record.Confirmed {
		parts[first], parts[last] = parts[last], parts[first]
	}
	for _, one := range batches(parts, rng) {
		wb := &warehouse.Batch{Matches: one.Matches, Breaks: one.Breaks}
		for _, o := range one.Outcomes {
			wb.Outcomes = append(wb.Outcomes, warehouse.Outcome{Outcome: o.Outcome, Seq: o.Seq})
		}
		if err := cases.Apply(ctx, "feed", one); err != nil {
			t.Fatal(err)
		}
		for _, st := range []warehouse.Store{own, wh} {
			if err := st.Write(ctx, "loader", wb); err != nil {
				t.Fatal(err)
			}
		}
	}

	ownDB, err := Open(ctx, "sqlite:"+filepath.Join(dir, "own.db")) // only to read it the same way
	if err != nil {
		t.Fatal(err)
	}
	defer ownDB.Close()
	for _, q := range []string{
		`SELECT match_id, rule, confidence, status, account, currency, difference, explanation, decided_at, rule_version FROM recon_matches ORDER BY match_id`,
		`SELECT * FROM recon_match_items ORDER BY match_id, side, record_id`,
		`SELECT * FROM recon_match_status ORDER BY match_id`,
		`SELECT break_id, status, cleared_by_match_id, resolved_by_resolution_id FROM recon_break_status ORDER BY break_id`,
	} {
		want, got := queryAll(t, ownDB, q), queryAll(t, cases, q)
		if len(want) < len(b.Breaks) {
			t.Fatalf("%s: %d rows: the test shows nothing", q, len(want))
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, the loader's warehouse %d", q, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s: row %d\n views:  %#v\n loader: %#v", q, i, got[i], want[i])
			}
		}
	}
	// When each match was stored differs between the two; its form does not.
	loadedAt := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)
	const q = `SELECT loaded_at, typeof(loaded_at) FROM recon_matches ORDER BY match_id`
	want, got := queryAll(t, ownDB, q), queryAll(t, cases, q)
	if len(got) != len(want) {
		t.Fatalf("loaded_at: %d rows, the loader's warehouse %d", len(got), len(want))
	}
	for i, r := range got {
		if !loadedAt.MatchString(fmt.Sprint(r[0])) || r[1] != want[i][1] {
			t.Fatalf("loaded_at %v (%v), the loader's %v (%v)", r[0], r[1], want[i][0], want[i][1])
		}
	}
	for _, all := range []bool{false, true} {
		want, err := own.Export(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wh.Export(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Matches) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("export (all breaks %v): %d matches, %d breaks; the loader's %d, %d", all, len(got.Matches), len(got.Breaks),
				len(want.Matches), len(want.Breaks))
		}
	}
	// The loader wrote none of the views' rows, and does not count them.
	one := &warehouse.Batch{Matches: b.Matches[:1]}
	if n := warehouse.Written(wh, one); n["recon_matches"] != 0 || n["recon_match_items"] != 0 {
		t.Errorf("the loader counts %v rows written into the views", n)
	}
	if n := warehouse.Written(own, one); n["recon_matches"] != 1 || n["recon_match_items"] != 2 {
		t.Errorf("the loader counts %v rows written into its own tables", n)
	}
	var tables int
	if err := cases.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('recon_matches', 'recon_match_items')`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("%d of the two are tables (%v)", tables, err)
	}
}

// TestServeWarehouseKeepsLoadedTables: a warehouse the loader already wrote
// into keeps its tables (a data dir from before), and a file whose
// warehouse is not migrated is refused.
func TestServeWarehouseKeepsLoadedTables(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "recon.db")
	cases, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer cases.Close()
	if err := cases.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := cases.ServeWarehouse(ctx); ok || err == nil {
		t.Fatalf("ServeWarehouse without a warehouse = %v, %v; want an error", ok, err)
	}
	wh, err := warehouse.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	if err := wh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wh.Write(ctx, "loader", &warehouse.Batch{Matches: []*record.Match{match("b1")}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := cases.ServeWarehouse(ctx); ok || err != nil {
		t.Fatalf("ServeWarehouse over a loaded warehouse = %v, %v; want its tables kept", ok, err)
	}
	if n, err := wh.Counts(ctx); err != nil || n["recon_matches"] != 1 || n["recon_match_items"] != 2 {
		t.Fatalf("counts %v (%v)", n, err)
	}
}
