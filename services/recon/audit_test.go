package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/casestore"
)

// recon audit verify walks a case store's chain: valid as written, and a
// changed entry makes it fail naming the entry.
func TestAuditVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cases.db")
	ctx := context.Background()
	st, err := casestore.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"preparer", "approver", "admin"} {
		if err := st.Audit(ctx, u, "sign_in", map[string]any{"roles": []string{u}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	var out bytes.Buffer
	if code := run([]string{"audit", "verify", "--database-url", "sqlite:" + path}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), `"valid":true`) {
		t.Fatalf("verify of an intact chain: %d %s", code, out.String())
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE case_audit SET entry = REPLACE(entry, '"approver"', '"nobody"') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out.Reset()
	var errb bytes.Buffer
	if code := run([]string{"audit", "verify", "--database-url", "sqlite:" + path}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "broken at entry 2") {
		t.Fatalf("verify of a changed chain: %d %s %s", code, out.String(), errb.String())
	}
}
