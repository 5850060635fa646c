package warehouse

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// countingStore records what the bulk path puts and deletes.
type countingStore struct {
	objectStore
	mu      sync.Mutex
	puts    map[string]int
	deleted map[string]bool
	failPut string // a key whose Put fails once (a crash before the load)
}

func (c *countingStore) Put(ctx context.Context, key string, body []byte) error {
	c.mu.Lock()
	if c.failPut != "" && strings.HasSuffix(key, c.failPut) {
		c.failPut = ""
		c.mu.Unlock()
		return fmt.Errorf("injected: the network went away")
	}
	c.puts[key]++
	c.mu.Unlock()
	return c.objectStore.Put(ctx, key, body)
}

func (c *countingStore) Delete(ctx context.Context, keys []string) error {
	c.mu.Lock()
	for _, k := range keys {
		c.deleted[k] = true
	}
	c.mu.Unlock()
	return c.objectStore.Delete(ctx, keys)
}

// pgLoad is PostgreSQL standing in for Redshift's COPY … MANIFEST: it
// reads the manifest and its objects from the S3-compatible server and
// feeds them to PostgreSQL's COPY FROM STDIN with the options the Redshift
// statement names (CSV, NULL AS '\N', gzip undone), so the staged files
// are parsed by a real database's CSV reader.
func pgLoad(loaded *[]string) func(ctx context.Context, tx pgx.Tx, st *Staging, stage string, cols []string, man string) error {
	return func(ctx context.Context, tx pgx.Tx, st *Staging, stage string, cols []string, man string) error {
		sql := st.copySQL(stage, cols, man)
		for _, want := range []string{"MANIFEST", "GZIP", "CSV", `NULL AS '\N'`, "IAM_ROLE '" + st.IAMRole + "'"} {
			if !strings.Contains(sql, want) {
				return fmt.Errorf("the COPY statement lacks %s: %s", want, sql)
			}
		}
		mb, err := st.store.Get(ctx, man)
		if err != nil {
			return err
		}
		var m manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", man, err)
		}
		for _, e := range m.Entries {
			key := strings.TrimPrefix(e.URL, "s3://"+st.bucket+"/")
			body, err := st.store.Get(ctx, key)
			if err != nil {
				if e.Mandatory {
					return fmt.Errorf("mandatory %s: %w", e.URL, err)
				}
				continue
			}
			if e.Meta.ContentLength != len(body) {
				return fmt.Errorf("%s: %d bytes, the manifest says %d", e.URL, len(body), e.Meta.ContentLength)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return err
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				return err
			}
			copyIn := fmt.Sprintf(`COPY %s (%s) FROM STDIN WITH (FORMAT csv, NULL '\N')`, stage, strings.Join(cols, ", "))
			if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(raw), copyIn); err != nil {
				return err
			}
			*loaded = append(*loaded, key)
		}
		return nil
	}
}

// TestRedshiftCopyManifest: the Redshift bulk path against an in-process
// S3-compatible server, PostgreSQL standing in for Redshift in every
// statement both accept and for the COPY … MANIFEST itself (pgLoad). A
// batch is staged as gzip CSV plus a manifest per table, loaded and merged
// with its offsets in one transaction, and its objects deleted; a batch
// retried after a failed staging writes the same objects and loads them
// once; every value (quotes, commas, NULLs, decimals, times) survives.
func TestRedshiftCopyManifest(t *testing.T) {
	ctx := context.Background()
	backend := s3mem.New()
	if err := backend.CreateBucket("recon-staging"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")

	url := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("t_bulk_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	rs := "redshift://" + strings.SplitN(url+sep+"search_path="+schema, "://", 2)[1]
	var loaded []string
	st := &Staging{URL: "s3://recon-staging/runs/test", IAMRole: "arn:aws:iam::123456789012:role/recon-redshift-copy",
		Region: "eu-west-1", Endpoint: srv.URL, PathStyle: true}
	st.load = pgLoad(&loaded)
	s, err := OpenWith(ctx, rs, Options{Staging: st})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counting := &countingStore{objectStore: st.store, puts: map[string]int{}, deleted: map[string]bool{}, failPut: "recon_breaks.manifest"}
	st.store = counting
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	const n = 300
	b := sampleBatch(n)
	b.Matches[1].Explanation = "" // an empty text stays empty, not NULL
	// A sign-off never reopened: its reopened_at is NULL.
	b.SignOffs = []*record.SignOff{{SignoffID: "so-1", Version: 1, Status: record.SignedOff, Account: "DE89", Currency: "EUR",
		From: 20400, To: 20402, StatementBalance: money.New(100, 2), LedgerBalance: money.New(100, 2), ItemsTotal: money.New(0, 2),
		Unexplained: money.New(0, 2), Figures: "{}", RequestedBy: "pat", RequestedAt: time.Unix(1772400000, 0), ApprovedBy: "alex",
		ApprovedAt: time.Unix(1772403600, 0)}}
	// The first attempt fails while staging (nothing loaded, no offsets);
	// the retry writes the same objects and loads each once.
	if err := s.Write(ctx, "loader", b); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("first write: %v", err)
	}
	if offs, _ := s.Offsets(ctx, "loader"); len(offs) != 0 {
		t.Fatalf("offsets stored by a batch that failed staging: %v", offs)
	}
	if err := s.Write(ctx, "loader", b); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]int64{"recon_matches": n, "recon_match_items": 2 * n, "recon_breaks": n, "recon_break_clears": 1} {
		if counts[k] != v {
			t.Errorf("%s = %d, want %d", k, counts[k], v)
		}
	}
	if offs, _ := s.Offsets(ctx, "loader"); offs["recon.matches"][0] != n || offs["recon.breaks"][1] != 7 {
		t.Errorf("offsets %v", offs)
	}
	pg := s.(*pgStore)
	var conf, ingested, cp, decided, expl string
	if err := pg.pool.QueryRow(ctx, `SELECT m.confidence::text, i.ingested_at::text, i.counterparty, m.decided_at::text,
		COALESCE((SELECT explanation FROM recon_matches WHERE match_id = $1), 'NULL') FROM recon_matches m
		JOIN recon_match_items i ON i.match_id = m.match_id WHERE i.record_id = 'b-7'`, b.Matches[1].MatchID).Scan(&conf, &ingested, &cp, &decided, &expl); err != nil {
		t.Fatal(err)
	}
	if conf != "0.9731" || !strings.HasPrefix(ingested, "2026-03-01 21:20:00") || cp != "O'Brien, \"Ltd\"" || !strings.HasPrefix(decided, "2026-03-02 00:00:00") || expl != "" {
		t.Errorf("values after the bulk load: confidence %s, ingested_at %s, counterparty %q, decided_at %s, empty explanation %q", conf, ingested, cp, decided, expl)
	}
	var reopenedNull bool
	var stmtBal string
	if err := pg.pool.QueryRow(ctx, `SELECT reopened_at IS NULL, statement_balance::text FROM recon_signoffs WHERE signoff_id = 'so-1'`).Scan(&reopenedNull, &stmtBal); err != nil {
		t.Fatal(err)
	}
	if !reopenedNull || stmtBal != "1.000000" {
		t.Errorf("sign-off after the bulk load: reopened_at NULL %v, statement_balance %s", reopenedNull, stmtBal)
	}
	// Each table's object and manifest: written twice at most (the retry
	// names them the same), loaded once, deleted after the commit.
	dir := st.batchDir("loader", b.Offsets)
	perLoad := map[string]int{}
	for _, k := range loaded {
		perLoad[k]++
	}
	for _, tbl := range []string{"recon_matches", "recon_match_items", "recon_breaks", "recon_break_clears"} {
		obj := dir + "/" + tbl + ".csv.gz"
		if perLoad[obj] != 1 {
			t.Errorf("%s loaded %d times", obj, perLoad[obj])
		}
		if !counting.deleted[obj] || !counting.deleted[dir+"/"+tbl+".manifest"] {
			t.Errorf("%s or its manifest not deleted after the commit", obj)
		}
		if _, err := st.store.Get(ctx, obj); err == nil {
			t.Errorf("%s still in the bucket", obj)
		}
	}
	if !strings.HasPrefix(dir, "runs/test/loader/loader/") {
		t.Errorf("batch objects under %s, want the staging prefix", dir)
	}
	// The same batch again (a loader that lost its commit's answer):
	// nothing doubles.
	if err := s.Write(ctx, "loader", b); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(ctx); c["recon_matches"] != n || c["recon_match_items"] != 2*n {
		t.Errorf("after a replayed batch: %v", c)
	}
}

// TestRedshiftCopySQL: the Redshift-only statement of the bulk path, as
// Redshift's COPY reference spells it.
func TestRedshiftCopySQL(t *testing.T) {
	st := &Staging{bucket: "recon-staging", IAMRole: "arn:aws:iam::123456789012:role/recon-redshift-copy"}
	got := st.copySQL("stage_recon_matches", []string{"match_id", "rule"}, "runs/loader/x/recon_matches.manifest")
	want := `COPY stage_recon_matches (match_id, rule) FROM 's3://recon-staging/runs/loader/x/recon_matches.manifest' ` +
		`IAM_ROLE 'arn:aws:iam::123456789012:role/recon-redshift-copy' MANIFEST GZIP CSV NULL AS '\N' TIMEFORMAT 'auto' DATEFORMAT 'auto'`
	if got != want {
		t.Errorf("COPY statement\n got %s\nwant %s", got, want)
	}
	for _, q := range mergeStatements(&table{name: "recon_breaks", cols: breakCols, key: []string{"break_id"}}, "stage_recon_breaks") {
		for _, bad := range []string{"ON CONFLICT", "UPSERT", "RETURNING"} {
			if strings.Contains(q, bad) {
				t.Errorf("merge statement uses %s, which Redshift lacks: %s", bad, q)
			}
		}
	}
	bad := &Staging{URL: "https://bucket/x", IAMRole: "arn:aws:iam::1:role/r"}
	if err := bad.prepare(context.Background()); err == nil {
		t.Error("a staging URL that is not s3:// was accepted")
	}
	noRole := &Staging{URL: "s3://bucket/x"}
	if err := noRole.prepare(context.Background()); err == nil {
		t.Error("staging without an IAM role was accepted")
	}
}
