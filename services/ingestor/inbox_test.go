package ingestor

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// readGzip is the content of the gzip file path, and the name it records.
func readGzip(t *testing.T, path string) (string, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b), zr.Name
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestCompressProcessed: a handled file becomes NAME.gz with the same
// bytes; a name taken in either form gets a suffix; a stop halfway (the
// file still there, a half-written .gz.tmp beside it) is finished at the
// next start, and a reason file stays as it is.
func TestCompressProcessed(t *testing.T) {
	inbox := t.TempDir()
	dir := filepath.Join(inbox, ProcessedDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("2026-03-02,ACC,EUR,10.00,INV-1,x\n"), 1000)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("day.csv", body)
	if err := gzipFile(filepath.Join(dir, "day.csv")); err != nil {
		t.Fatal(err)
	}
	if got, name := readGzip(t, filepath.Join(dir, "day.csv.gz")); got != string(body) || name != "day.csv" {
		t.Fatalf("day.csv.gz holds %d bytes named %q, want the %d bytes of day.csv", len(got), name, len(body))
	}
	if st, _ := os.Stat(filepath.Join(dir, "day.csv.gz")); st.Size()*5 > int64(len(body)) {
		t.Errorf("compressed to %d bytes of %d", st.Size(), len(body))
	}
	// day.csv is free, but day.csv.gz is not: the next day.csv is day.1.csv.
	if got := uniquePath(filepath.Join(dir, "day.csv"), ".gz"); got != filepath.Join(dir, "day.1.csv") {
		t.Errorf("uniquePath = %s, want day.1.csv", got)
	}
	if got := uniquePath(filepath.Join(dir, "day.csv"), ""); got != filepath.Join(dir, "day.csv") {
		t.Errorf("uniquePath without the compressed form = %s, want day.csv", got)
	}

	// A stop halfway through the next file.
	write("late.csv", []byte("late\n"))
	write("late.csv.gz.tmp", []byte("\x1f\x8b half"))
	write("late.csv.reason.txt", []byte("re-sent\n"))
	s := &Service{cfg: Config{Inbox: inbox, CompressProcessed: true}, log: slog.New(slog.DiscardHandler)}
	s.compressLeftovers()
	want := []string{"day.csv.gz", "late.csv.gz", "late.csv.reason.txt"}
	if got := names(t, dir); !equalStrings(got, want) {
		t.Fatalf("processed/ after the start = %v, want %v", got, want)
	}
	if got, _ := readGzip(t, filepath.Join(dir, "late.csv.gz")); got != "late\n" {
		t.Errorf("late.csv.gz = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "late.csv.reason.txt")); string(b) != "re-sent\n" {
		t.Errorf("reason = %q", b)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
