package warehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrecon/recon/internal/migrate"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

func sampleBatch(n int) *Batch {
	b := &Batch{}
	for i := 0; i < n; i++ {
		it := func(id string, side record.Side) record.Item {
			return record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(int64(-12345-i), 2),
				BookingDate: record.MakeDate(2026, 3, 2), Reference: "INV-" + id, Counterparty: "O'Brien, \"Ltd\"",
				SourceFile: "f.csv", SourcePosition: int64(i + 1), IngestedAt: time.UnixMilli(1772400000000).UTC()}
		}
		bank, ledger := it(fmt.Sprintf("b-%d", i), record.Bank), it(fmt.Sprintf("L%d", i), record.Ledger)
		b.Matches = append(b.Matches, &record.Match{MatchID: record.MatchID(bank.ID, ledger.ID), Rule: "exact", Confidence: 9731,
			Status: record.Auto, Account: "DE89", Currency: "EUR", Bank: []record.Item{bank}, Ledger: []record.Item{ledger},
			Difference: money.New(0, 2), Explanation: "x", DecidedAt: bank.BookingDate.Time()})
		brk := it(fmt.Sprintf("b-x%d", i), record.Bank)
		b.Breaks = append(b.Breaks, &record.Break{BreakID: record.BreakID(brk, record.Unmatched), Side: record.Bank,
			Reason: record.Unmatched, Account: "DE89", Currency: "EUR", Record: brk, Candidates: []record.Candidate{},
			WindowClosedAt: brk.BookingDate + 4})
	}
	// The first match clears the first break (a late counterpart).
	b.Matches[0].ClearsBreakIDs = []string{b.Breaks[0].BreakID}
	b.Offsets = []Offset{{"recon.matches", 0, int64(n)}, {"recon.breaks", 1, 7}}
	return b
}

func TestRedshiftSQL(t *testing.T) {
	b := sampleBatch(3)
	s := &pgStore{dialect: Redshift}
	var all []string
	for _, st := range s.statements("loader", b) {
		all = append(all, st.sql)
		if n := strings.Count(st.sql, "$"); n != len(st.args) {
			t.Errorf("%d placeholders, %d args: %s", n, len(st.args), st.sql)
		}
	}
	sql := strings.Join(all, ";\n")
	for _, bad := range []string{"ON CONFLICT", "COPY", "UNIQUE", "UPSERT"} {
		if strings.Contains(sql, bad) {
			t.Errorf("Redshift SQL uses %s:\n%s", bad, sql)
		}
	}
	for _, want := range []string{
		"CREATE TEMP TABLE stage_recon_matches (LIKE recon_matches)",
		"DELETE FROM recon_matches USING stage_recon_matches WHERE recon_matches.match_id = stage_recon_matches.match_id",
		"INSERT INTO recon_matches (match_id, rule, confidence, status, account, currency, difference, explanation, decided_at, rule_version) SELECT DISTINCT",
		"recon_match_items.match_id = stage_recon_match_items.match_id AND recon_match_items.side = stage_recon_match_items.side AND recon_match_items.record_id = stage_recon_match_items.record_id",
		"CAST($3 AS NUMERIC(5,4))", "CAST($7 AS NUMERIC(38,6))", "DROP TABLE stage_recon_breaks",
		"DELETE FROM recon_loader_offsets WHERE consumer = $1 AND topic = $2 AND partition_id = $3",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("Redshift SQL lacks %q", want)
		}
	}
	pg := (&pgStore{dialect: Postgres}).statements("loader", b)
	if !strings.Contains(pg[0].sql, "ON CONFLICT (match_id) DO NOTHING") {
		t.Errorf("postgres SQL: %s", pg[0].sql)
	}
	// Large batches are split under the parameter limit.
	big := valuesChunks("t", matchCols, make([][]any, 20000), "")
	for _, st := range big {
		if len(st.args) > maxParams {
			t.Errorf("%d parameters in one statement", len(st.args))
		}
	}
}

func stores(t *testing.T) map[string]Store {
	ctx := context.Background()
	out := map[string]Store{}
	lite, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	out["sqlite"] = lite
	url := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, d := range []string{"postgres", "redshift"} {
		schema := fmt.Sprintf("t_%s_%d", d, time.Now().UnixNano())
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		u := url + sep + "search_path=" + schema
		if d == "redshift" {
			u = "redshift://" + strings.SplitN(u, "://", 2)[1]
		}
		s, err := Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		out[d] = s
	}
	return out
}

// TestWriteIdempotent: every dialect stores a batch once, however often it
// is written, with its offsets; a late match's clear shows in the view.
// TestWriteIdempotent: a batch written three times is there once, in
// every dialect; on PostgreSQL both ways of writing (VALUES for a few
// rows, COPY into staging and a merge for many) keep every value.
func TestWriteIdempotent(t *testing.T) {
	for _, n := range []int{50, copyRows + 100} {
		writeIdempotent(t, n)
	}
}

func writeIdempotent(t *testing.T, n int) {
	for name, s := range stores(t) {
		t.Run(fmt.Sprint(name, "-", n), func(t *testing.T) {
			defer s.Close()
			ctx := context.Background()
			for i := 0; i < 2; i++ {
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			b := sampleBatch(n)
			for i := 0; i < 3; i++ {
				if err := s.Write(ctx, "loader", b); err != nil {
					t.Fatal(err)
				}
			}
			counts, err := s.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{"recon_matches": int64(n), "recon_match_items": int64(2 * n), "recon_breaks": int64(n), "recon_break_clears": 1}
			for k, v := range want {
				if counts[k] != v {
					t.Errorf("%s = %d, want %d", k, counts[k], v)
				}
			}
			offs, err := s.Offsets(ctx, "loader")
			if err != nil || offs["recon.matches"][0] != int64(n) || offs["recon.breaks"][1] != 7 {
				t.Errorf("offsets %v %v", offs, err)
			}
			if pg, ok := s.(*pgStore); ok {
				var conf, ingested, cp, decided string
				if err := pg.pool.QueryRow(ctx, `SELECT m.confidence::text, i.ingested_at::text, i.counterparty, m.decided_at::text FROM recon_matches m
					JOIN recon_match_items i ON i.match_id = m.match_id WHERE i.record_id = 'b-7'`).Scan(&conf, &ingested, &cp, &decided); err != nil {
					t.Fatal(err)
				}
				if conf != "0.9731" || !strings.HasPrefix(ingested, "2026-03-01 21:20:00") || cp != "O'Brien, \"Ltd\"" || !strings.HasPrefix(decided, "2026-03-02 00:00:00") {
					t.Errorf("values after the write: confidence %s, ingested_at %s, counterparty %q, decided_at %s", conf, ingested, cp, decided)
				}
			}
			b.Offsets = []Offset{{"recon.matches", 0, int64(n + 10)}}
			b.Matches, b.Breaks = nil, nil
			if err := s.Write(ctx, "loader", b); err != nil {
				t.Fatal(err)
			}
			if offs, _ := s.Offsets(ctx, "loader"); offs["recon.matches"][0] != int64(n+10) {
				t.Errorf("offset not moved: %v", offs)
			}
			open, amount := breakStatus(t, s)
			if open != n-1 {
				t.Errorf("open breaks = %d, want %d", open, n-1)
			}
			if amount != "-123.45" {
				t.Errorf("first match amount = %q", amount)
			}
		})
	}
}

func breakStatus(t *testing.T, s Store) (int, string) {
	ctx := context.Background()
	var open int
	var amount string
	switch st := s.(type) {
	case *pgStore:
		if err := st.pool.QueryRow(ctx, `SELECT COUNT(*) FROM recon_break_status WHERE status = 'open'`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if err := st.pool.QueryRow(ctx, `SELECT amount::text FROM recon_match_items WHERE record_id = 'b-0'`).Scan(&amount); err != nil {
			t.Fatal(err)
		}
		amount = strings.TrimRight(amount, "0") // NUMERIC(38,6) prints -123.450000
	case *sqliteStore:
		if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recon_break_status WHERE status = 'open'`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if err := st.db.QueryRowContext(ctx, `SELECT amount FROM recon_match_items WHERE record_id = 'b-0'`).Scan(&amount); err != nil {
			t.Fatal(err)
		}
	}
	return open, amount
}

// TestBreakStatusFromResolutions: recon_break_status shows what people's
// resolutions did, in every dialect: a rejected proposal's break open, a
// written-off break written_off (a refused second copy of the resolution
// changes nothing), a manually matched break matched, an undone match's
// break open again, an accepted one accepted.
func TestBreakStatusFromResolutions(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			defer s.Close()
			ctx := context.Background()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			b := sampleBatch(5)
			ids := make([]string, 5)
			for i, br := range b.Breaks {
				ids[i] = br.BreakID
			}
			b.Matches[0].ClearsBreakIDs = nil
			prop := b.Matches[1]
			prop.Status, prop.ClearsBreakIDs = record.Proposed, []string{ids[0]}
			manual := b.Matches[2]
			manual.Rule, manual.Status, manual.ClearsBreakIDs = "manual", record.Confirmed, []string{ids[2]}
			undone := b.Matches[3]
			undone.Rule, undone.Status, undone.ClearsBreakIDs = "manual", record.Confirmed, []string{ids[3]}
			out := func(seq int64, res string, a record.Action, applied bool, match, matchStatus string, brk, status string) Outcome {
				o := &record.Outcome{ResolutionID: res, Action: a, Account: "DE89", Currency: "EUR", Applied: applied, MatchID: match,
					MatchStatus: matchStatus, User: "preparer", DecidedAt: time.UnixMilli(1772400000000).UTC()}
				if brk != "" {
					o.Breaks = []record.BreakState{{BreakID: brk, Status: status}}
				}
				return Outcome{Outcome: o, Seq: seq}
			}
			b.Outcomes = []Outcome{
				out(5, "rs-1", record.ActReject, true, prop.MatchID, record.MatchRejected, ids[0], "open"),
				out(6, "rs-2", record.ActWriteOff, true, "", "", ids[1], "written_off"),
				out(7, "rs-2", record.ActWriteOff, false, "", "", "", ""),
				out(8, "rs-3", record.ActManualMatch, true, manual.MatchID, "confirmed", ids[2], "matched"),
				out(9, "rs-4", record.ActManualMatch, true, undone.MatchID, "confirmed", ids[3], "matched"),
				out(10, "rs-5", record.ActUnmatch, true, undone.MatchID, record.MatchUnmatched, ids[3], "open"),
				out(11, "rs-6", record.ActAccept, true, "", "", ids[4], "accepted"),
			}
			for range 2 {
				if err := s.Write(ctx, "loader", b); err != nil {
					t.Fatal(err)
				}
			}
			want := map[string]string{ids[0]: "open", ids[1]: "written_off", ids[2]: "matched", ids[3]: "open", ids[4]: "accepted"}
			got := pairs(t, s, `SELECT break_id, status FROM recon_break_status`)
			for id, w := range want {
				if got[id] != w {
					t.Errorf("break %s: %q, want %q (all: %v)", id, got[id], w, got)
				}
			}
		})
	}
}

// pairs runs a query of two text columns on s.
func pairs(t *testing.T, s Store, q string) map[string]string {
	t.Helper()
	var r rows
	switch st := s.(type) {
	case *pgStore:
		pr, err := st.pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		r = pr
	case *sqliteStore:
		sr, err := st.db.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		defer sr.Close()
		r = sr
	}
	out := map[string]string{}
	for r.Next() {
		var k, v string
		if err := r.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSignOffs: every state of a sign-off is a row (written twice, stored
// once), the figures exact; the status view has each in its latest state.
func TestSignOffs(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			defer s.Close()
			ctx := context.Background()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			at := time.UnixMilli(1_790_000_000_123).UTC()
			so := func(id string, v int) *record.SignOff {
				x := &record.SignOff{SignoffID: id, Version: v, Status: record.SignedOff, Account: "DE89", Currency: "EUR", From: 20400, To: 20402,
					StatementBalance: money.New(1516_50, 2), LedgerBalance: money.New(1535_00, 2), ItemsTotal: money.New(-18_50, 2),
					Unexplained: money.New(0, 2), Figures: `{"date":"2025-11-08"}`, RequestedBy: "preparer", RequestedAt: at,
					ApprovedBy: "approver", ApprovedAt: at.Add(time.Hour)}
				if v == 2 {
					x.Status, x.ReopenedBy, x.ReopenedAt, x.ReopenReason = record.Reopened, "admin", at.Add(2*time.Hour), "late correction"
				}
				return x
			}
			b := &Batch{SignOffs: []*record.SignOff{so("a-1", 1), so("a-1", 2), so("a-2", 1)}}
			for i := 0; i < 2; i++ {
				if err := s.Write(ctx, "c", b); err != nil {
					t.Fatal(err)
				}
			}
			counts, err := s.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if counts["recon_signoffs"] != 3 {
				t.Errorf("recon_signoffs has %d rows, want 3", counts["recon_signoffs"])
			}
			got := pairs(t, s, `SELECT signoff_id, status FROM recon_signoff_status`)
			if len(got) != 2 || got["a-1"] != record.Reopened || got["a-2"] != record.SignedOff {
				t.Errorf("sign-off status view: %v", got)
			}
			for id, v := range pairs(t, s, `SELECT signoff_id || '/' || CAST(version AS VARCHAR(8)), CAST(ledger_balance - statement_balance AS VARCHAR(48)) FROM recon_signoffs`) {
				if d, err := money.Parse(v); err != nil || !d.Equal(money.New(18_50, 2)) {
					t.Errorf("%s: ledger - statement balance %q (%v), want 18.50", id, v, err)
				}
			}
			reason := pairs(t, s, `SELECT signoff_id, reopen_reason FROM recon_signoffs WHERE version = 2`)
			if reason["a-1"] != "late correction" {
				t.Errorf("reopen reason: %v", reason)
			}
		})
	}
}

// TestExport: every dialect reads back the matches and the open breaks as
// the matcher wrote them: the same JSON, items in their order, the bank's
// reference kept, and a cleared break counted and left out.
func TestExport(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			defer s.Close()
			ctx := context.Background()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			b := sampleBatch(3)
			m := b.Matches[1]
			extra := m.Ledger[0]
			extra.ID, extra.Amount = "L0-second", money.New(5, 2)
			m.Ledger = []record.Item{extra, m.Ledger[0]} // not in id order: the order must survive
			m.Bank[0].BankReference = "ASR-77"
			b.Breaks[2].Candidates = []record.Candidate{{ID: "L9", Currency: "EUR", Amount: money.New(-12346, 2), BookingDate: 20500, Reference: "X", Score: 8100}}
			b.Breaks[2].Note = "N:M search bound hit: 2 bank entries and 11 ledger items share the reference X"
			if err := s.Write(ctx, "c", b); err != nil {
				t.Fatal(err)
			}
			ex, err := s.Export(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex.Matches) != 3 || len(ex.Breaks) != 2 || ex.Cleared != 1 {
				t.Fatalf("export: %d matches, %d open breaks, %d cleared; want 3, 2, 1", len(ex.Matches), len(ex.Breaks), ex.Cleared)
			}
			want := map[string][]byte{}
			for _, x := range b.Matches {
				want[x.MatchID], _ = json.Marshal(x)
			}
			for _, x := range ex.Matches {
				got, _ := json.Marshal(x)
				if !bytes.Equal(got, want[x.MatchID]) {
					t.Errorf("match %s:\n got  %s\n want %s", x.MatchID, got, want[x.MatchID])
				}
			}
			wantB := map[string][]byte{}
			for _, x := range b.Breaks {
				wantB[x.BreakID], _ = json.Marshal(x)
			}
			for _, x := range ex.Breaks {
				got, _ := json.Marshal(x)
				if !bytes.Equal(got, wantB[x.BreakID]) {
					t.Errorf("break %s:\n got  %s\n want %s", x.BreakID, got, wantB[x.BreakID])
				}
			}
			if all, err := s.Export(ctx, true); err != nil || len(all.Breaks) != 3 {
				t.Errorf("export of all breaks: %v %v", all, err)
			}
		})
	}
}

// TestSQLiteUpgradeKeepsItems: a warehouse written by a version before
// recon_match_items was kept WITHOUT ROWID is upgraded in place: its rows
// are all there, in the new layout, and writing goes on.
func TestSQLiteUpgradeKeepsItems(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := openSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// The schema of the version before: every migration up to the
	// rebuild, then a batch written.
	rebuild := -1
	for i := range migrations {
		if strings.Contains(migrations[i], "recon_match_items_v2") {
			rebuild = i
			break
		}
	}
	if rebuild < 0 {
		t.Fatal("no rebuild migration")
	}
	// The database as the version before the rebuild left it.
	old := schema(SQLite)
	old.Steps = migrations[:rebuild]
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Apply(ctx, migrate.SQL(tx)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Written as that version wrote: without the later columns.
	mc, bc := matchCols, breakCols
	matchCols, breakCols = slices.DeleteFunc(slices.Clone(mc), func(c string) bool { return c == "rule_version" }),
		slices.DeleteFunc(slices.Clone(bc), func(c string) bool { return c == "rule_version" })
	b := sampleBatch(50)
	for _, m := range b.Matches {
		m.RuleVersion = 0
	}
	for _, x := range b.Breaks {
		x.RuleVersion = 0
	}
	err = s.Write(ctx, "loader", b)
	matchCols, breakCols = mc, bc
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	var ddl string
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recon_match_items WHERE reference LIKE 'INV-%' AND ingested_at <> ''`).Scan(&n); err != nil || n != 100 {
		t.Fatalf("%d items after the upgrade (%v), want 100", n, err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = 'recon_match_items'`).Scan(&ddl); err != nil || !strings.HasSuffix(ddl, "WITHOUT ROWID") {
		t.Fatalf("recon_match_items after the upgrade: %s (%v)", ddl, err)
	}
	b = sampleBatch(60)
	b.Offsets = []Offset{{"recon.matches", 0, 60}}
	if err := s.Write(ctx, "loader", b); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recon_match_items`).Scan(&n); err != nil || n != 120 {
		t.Fatalf("%d items after writing 10 more matches (%v), want 120", n, err)
	}
	s.Close()
}
