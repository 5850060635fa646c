package warehouse

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/openrecon/recon/internal/awsconn"
)

// Staging is Redshift's bulk path: each batch's tables are written as
// gzip CSV objects with a manifest under an S3 prefix, and loaded with
// COPY … MANIFEST into temporary staging tables, from which one
// transaction deletes the rows a table already has with the same key,
// inserts the staged ones and stores the loader's offsets. A batch's
// objects are named by its consumer and offsets, so a retried batch
// writes the same objects again and loads each once; they are deleted
// after the commit (the bucket's lifecycle rule removes any a crash
// left).
type Staging struct {
	// URL is where batches go: s3://bucket/prefix.
	URL string
	// IAMRole is the role Redshift assumes to read the objects (COPY …
	// IAM_ROLE); the loader itself writes with its own credentials (the
	// AWS default chain).
	IAMRole string
	// Region, Endpoint and PathStyle address S3 for the loader's writes
	// (Endpoint: an S3-compatible store).
	Region, Endpoint string
	PathStyle        bool

	bucket, prefix string
	store          objectStore
	// load runs one table's COPY; nil: the statement on the transaction
	// (Redshift). Tests put PostgreSQL's COPY FROM STDIN of the same
	// objects in its place.
	load func(ctx context.Context, tx pgx.Tx, st *Staging, stage string, cols []string, manifestKey string) error
}

// objectStore is what the bulk path needs of S3.
type objectStore interface {
	Put(ctx context.Context, key string, body []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, keys []string) error
}

// Options are Open's choices beyond the URL.
type Options struct {
	// Staging enables Redshift's bulk path (redshift:// URLs only).
	Staging *Staging
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, o Options) (Store, error) {
	st, err := Open(ctx, url)
	if err != nil || o.Staging == nil {
		return st, err
	}
	pg, ok := st.(*pgStore)
	if !ok || pg.dialect != Redshift {
		st.Close()
		return nil, errors.New("warehouse: an S3 staging location is for redshift:// warehouses only")
	}
	if err := o.Staging.prepare(ctx); err != nil {
		st.Close()
		return nil, err
	}
	pg.staging = o.Staging
	return pg, nil
}

// prepare checks the settings and builds the S3 client.
func (st *Staging) prepare(ctx context.Context) error {
	u, err := url.Parse(st.URL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return fmt.Errorf("warehouse: staging %q: want s3://bucket/prefix", st.URL)
	}
	if st.IAMRole == "" || !strings.HasPrefix(st.IAMRole, "arn:") {
		return fmt.Errorf("warehouse: staging needs the IAM role Redshift reads it with (an ARN), not %q", st.IAMRole)
	}
	st.bucket, st.prefix = u.Host, strings.Trim(u.Path, "/")
	if st.store != nil {
		return nil
	}
	cfg, err := awsconn.Config(ctx, st.Region, "", "")
	if err != nil {
		return fmt.Errorf("warehouse: staging: %w", err)
	}
	st.store = &s3Objects{bucket: st.bucket, cl: awsconn.S3(cfg, st.Endpoint, st.PathStyle)}
	return nil
}

type s3Objects struct {
	bucket string
	cl     *s3.Client
}

func (o *s3Objects) Put(ctx context.Context, key string, body []byte) error {
	_, err := o.cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &key, Body: bytes.NewReader(body)})
	return err
}

func (o *s3Objects) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := o.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (o *s3Objects) Delete(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if _, err := o.cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.bucket, Key: aws.String(k)}); err != nil {
			return err
		}
	}
	return nil
}

// nullText stands for NULL in the staged CSV (COPY … NULL AS).
const nullText = `\N`

// stagedCSV is a table's rows as gzip CSV: every value as the text the
// column's type reads (decimals and dates as strings, times RFC 3339),
// NULL as \N.
func stagedCSV(t *table) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := csv.NewWriter(zw)
	rec := make([]string, len(t.cols))
	for _, r := range t.rows {
		for j, v := range r {
			if s := copyText(v); s == nil {
				rec[j] = nullText
			} else {
				rec[j] = s.(string)
			}
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// manifest is a COPY manifest: the objects to load, each mandatory.
type manifest struct {
	Entries []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	URL       string `json:"url"`
	Mandatory bool   `json:"mandatory"`
	Meta      struct {
		ContentLength int `json:"content_length"`
	} `json:"meta"`
}

// batchDir names a batch's objects by its consumer and offsets: the same
// batch, retried, gets the same names.
func (st *Staging) batchDir(consumer string, offs []Offset) string {
	o := append([]Offset(nil), offs...)
	sort.Slice(o, func(i, j int) bool {
		if o[i].Topic != o[j].Topic {
			return o[i].Topic < o[j].Topic
		}
		return o[i].Partition < o[j].Partition
	})
	h := sha256.New()
	for _, x := range o {
		fmt.Fprintf(h, "%s/%d/%d;", x.Topic, x.Partition, x.Next)
	}
	dir := "loader/" + consumer + "/" + hex.EncodeToString(h.Sum(nil)[:16])
	if st.prefix != "" {
		dir = st.prefix + "/" + dir
	}
	return dir
}

// copySQL is the COPY of one table's staged objects into stage.
func (st *Staging) copySQL(stage string, cols []string, manifestKey string) string {
	return fmt.Sprintf("COPY %s (%s) FROM 's3://%s/%s' IAM_ROLE '%s' MANIFEST GZIP CSV NULL AS '%s' TIMEFORMAT 'auto' DATEFORMAT 'auto'",
		stage, strings.Join(cols, ", "), st.bucket, manifestKey, strings.ReplaceAll(st.IAMRole, "'", "''"), nullText)
}

// writeBulk stages the batch in S3 and loads it in one transaction with
// its offsets.
func (s *pgStore) writeBulk(ctx context.Context, consumer string, b *Batch) error {
	st := s.staging
	dir := st.batchDir(consumer, b.Offsets)
	type staged struct {
		t        *table
		manifest string
	}
	var loads []staged
	var keys []string
	for _, t := range tables(b) {
		if len(t.rows) == 0 {
			continue
		}
		body, err := stagedCSV(t)
		if err != nil {
			return fmt.Errorf("warehouse: stage %s: %w", t.name, err)
		}
		obj, man := dir+"/"+t.name+".csv.gz", dir+"/"+t.name+".manifest"
		if err := st.store.Put(ctx, obj, body); err != nil {
			return fmt.Errorf("warehouse: stage %s to s3://%s/%s: %w", t.name, st.bucket, obj, err)
		}
		e := manifestEntry{URL: "s3://" + st.bucket + "/" + obj, Mandatory: true}
		e.Meta.ContentLength = len(body)
		mb, err := json.Marshal(manifest{Entries: []manifestEntry{e}})
		if err != nil {
			return err
		}
		if err := st.store.Put(ctx, man, mb); err != nil {
			return fmt.Errorf("warehouse: manifest of %s: %w", t.name, err)
		}
		loads = append(loads, staged{t, man})
		keys = append(keys, obj, man)
	}
	load := st.load
	if load == nil { // Redshift: the COPY statement itself
		load = func(ctx context.Context, tx pgx.Tx, st *Staging, stage string, cols []string, man string) error {
			_, err := tx.Exec(ctx, st.copySQL(stage, cols, man))
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, l := range loads {
			stage := "stage_" + l.t.name
			if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s)", stage, l.t.name)); err != nil {
				return fmt.Errorf("warehouse: staging table %s: %w", stage, err)
			}
			if err := load(ctx, tx, st, stage, l.t.cols, l.manifest); err != nil {
				return fmt.Errorf("warehouse: COPY %s from s3://%s/%s: %w", l.t.name, st.bucket, l.manifest, err)
			}
			for _, q := range mergeStatements(l.t, stage) {
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("warehouse: %s: %w", firstWords(q), err)
				}
			}
		}
		for _, o := range offsetStatements(consumer, b.Offsets) {
			if _, err := tx.Exec(ctx, o.sql, o.args...); err != nil {
				return fmt.Errorf("warehouse: %s: %w", firstWords(o.sql), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Committed: a failed delete leaves objects the lifecycle rule removes.
	_ = st.store.Delete(ctx, keys)
	return nil
}

// mergeStatements move a staged table into t: the rows t has with a
// staged key go, the staged rows (each once) come in, the stage is
// dropped. Redshift and PostgreSQL both accept them.
func mergeStatements(t *table, stage string) []string {
	cols := strings.Join(t.cols, ", ")
	var on []string
	for _, k := range t.key {
		on = append(on, fmt.Sprintf("%s.%s = %s.%s", t.name, k, stage, k))
	}
	return []string{
		fmt.Sprintf("DELETE FROM %s USING %s WHERE %s", t.name, stage, strings.Join(on, " AND ")),
		fmt.Sprintf("INSERT INTO %s (%s) SELECT DISTINCT %s FROM %s", t.name, cols, cols, stage),
		"DROP TABLE " + stage,
	}
}
