package parse

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

var generators = map[format.Kind]func(io.Writer, gen.StatementConfig) (int, error){
	format.MT940: gen.WriteMT940,
	format.BAI2:  gen.WriteBAI2,
	format.CAMT:  gen.WriteCAMT053,
}

// TestGeneratedRoundTrip: generated files of every format are detected,
// parse without rejects into the expected number of transactions, and
// every statement's balances prove.
func TestGeneratedRoundTrip(t *testing.T) {
	for kind, write := range generators {
		var buf bytes.Buffer
		entries, err := write(&buf, gen.StatementConfig{Statements: 120, EntriesPer: 40, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		var c format.Collector
		got, err := File(context.Background(), &buf, format.Source{Name: string(kind), Digest: "d"}, &c)
		if err != nil || got != kind {
			t.Fatalf("%s: detected %s, %v", kind, got, err)
		}
		if len(c.Rejects) != 0 {
			t.Errorf("%s: rejects %v", kind, c.Rejects[:min(3, len(c.Rejects))])
		}
		want := entries
		if kind == format.CAMT {
			want += 120 * 8 // every fifth entry of 40 is a batch of two details
		}
		if len(c.Transactions) != want || len(c.Statements) != 120 {
			t.Errorf("%s: %d transactions (want %d), %d statements", kind, len(c.Transactions), want, len(c.Statements))
		}
		sums := map[string]money.Decimal{}
		for _, tx := range c.Transactions {
			sums[tx.StatementID], _ = sums[tx.StatementID].Add(tx.Amount)
		}
		for _, st := range c.Statements {
			got, _ := st.OpeningBalance.Add(sums[st.ID])
			if !got.Equal(*st.ClosingBalance) {
				t.Errorf("%s: statement %s does not prove", kind, st.ID)
			}
		}
	}
}

type countingSink struct{ n int }

func (c *countingSink) Statement(*record.Statement) error     { return nil }
func (c *countingSink) Transaction(*record.Transaction) error { c.n++; return nil }
func (c *countingSink) Reject(*format.ParseError) error       { return nil }

// benchFormat parses a generated file of about size bytes and reports MB/s
// and entries/s. Run with -benchtime 1x:
//
//	go test -run '^$' -bench 'BenchmarkParse' -benchtime 1x ./internal/parse/
func benchFormat(b *testing.B, kind format.Kind, size int) {
	var buf bytes.Buffer
	per := 200
	cfg := gen.StatementConfig{EntriesPer: per, Seed: 9}
	// Estimate entries per byte from a small sample, then generate.
	var sample bytes.Buffer
	generators[kind](&sample, gen.StatementConfig{Statements: 10, EntriesPer: per, Seed: 9})
	cfg.Statements = max(1, size/(sample.Len()/10))
	generators[kind](&buf, cfg)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	var entries int
	for b.Loop() {
		s := &countingSink{}
		if _, err := File(context.Background(), bytes.NewReader(data), format.Source{Name: "bench", Digest: "d"}, s); err != nil {
			b.Fatal(err)
		}
		entries += s.n
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(len(data))/1e6, "file_MB")
}

func BenchmarkParseMT940_100MB(b *testing.B) { benchFormat(b, format.MT940, 100<<20) }
func BenchmarkParseBAI2_100MB(b *testing.B)  { benchFormat(b, format.BAI2, 100<<20) }
func BenchmarkParseCAMT_50MB(b *testing.B)   { benchFormat(b, format.CAMT, 50<<20) }
