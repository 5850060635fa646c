package casestore

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// TestStoredItems: a match's items are stored as arrays without keys, and
// read back whole; rows of earlier versions (objects) still read.
func TestStoredItems(t *testing.T) {
	d, _ := record.ParseDate("2026-03-15")
	its := []record.Item{{ID: "b-1", Amount: money.New(-75870, 2), BookingDate: d, Reference: "INV-35", Counterparty: "ACME",
		Description: `transfer "INV-35", ß`, SourceFile: "bank/bank.csv", SourcePosition: 35}, {ID: "b-2", Amount: money.New(1, 2), BookingDate: d}}
	raw, err := storeItems(its)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"id"`) || !strings.HasPrefix(string(raw), `[["b-1","-758.70","2026-03-15","INV-35","ACME",`) {
		t.Errorf("stored form %s", raw)
	}
	got, err := parseItems(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := itemsJSON(its); !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n got %+v\nwant %+v", got, want)
	}
	old := `[{"id":"b-1","amount":"-758.70","booking_date":"2026-03-15","reference":"INV-35","counterparty":"ACME","description":"transfer \"INV-35\", ß","source_file":"bank/bank.csv","source_position":35}]`
	if got, err = parseItems([]byte(old)); err != nil || !reflect.DeepEqual(got, itemsJSON(its[:1])) {
		t.Errorf("the object form read as %+v, %v", got, err)
	}
	for _, bad := range []string{`{"id":"x"}`, `[["b-1","1.00"]]`, `[["b-1",1,"","","","","",0]]`} {
		if _, err := parseItems([]byte(bad)); err == nil {
			t.Errorf("%s read without an error", bad)
		}
	}
}

// TestSQLiteUpgradeWithoutRowid: a case store of the version before its
// balance tables were kept WITHOUT ROWID is upgraded in place, every row
// kept.
func TestSQLiteUpgradeWithoutRowid(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := migrations
	rebuild := slices.IndexFunc(all, func(m string) bool { return strings.Contains(m, "case_records_v2") })
	if rebuild < 0 {
		t.Fatal("no rebuild migration")
	}
	migrations = all[:rebuild]
	err = s.Migrate(ctx)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO case_records (record_id, source_file, source_position, side, account, currency,
			amount, amount_e6, booking_date, reference, counterparty, settled) VALUES (?, 'f.csv', ?, 'bank', 'A', 'EUR', '1.00', 1000000,
			'2026-03-02', 'INV', 'ACME', '2026-03-03')`, fmt.Sprint("b-", i), i); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO case_match_members (record_id, source_file, source_position, match_id)
			VALUES (?, 'f.csv', ?, ?)`, fmt.Sprint("b-", i), i, fmt.Sprint("m-", i/2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"case_records", "case_match_members"} {
		var n int
		var ddl string
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 30 {
			t.Errorf("%s: %d rows after the upgrade (%v), want 30", table, n, err)
		}
		if err := s.db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = ?`, table).Scan(&ddl); err != nil || !strings.HasSuffix(ddl, "WITHOUT ROWID") {
			t.Errorf("%s after the upgrade: %s (%v)", table, ddl, err)
		}
	}
	var idx int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('case_records_open', 'case_match_members_match')`).Scan(&idx); err != nil || idx != 2 {
		t.Errorf("%d of the 2 secondary indexes after the upgrade (%v)", idx, err)
	}
}
