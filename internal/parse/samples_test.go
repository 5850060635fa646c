package parse

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// samplesDir holds real bank files from other projects, each listed with
// its origin and licence in SOURCES.tsv.
const samplesDir = "../../testdata/samples"

// inconsistent lists sample statements whose own balances disagree with
// their own entries (anonymised or hand-made test files). The proof is
// skipped for exactly these, with the reason checked by hand.
var inconsistent = map[string]string{
	"mt940/fruitl00p__php-mt940__test_Parser_Banking_Mt940_Engine_Hsbc_sample.sta": "opening 0 and closing 0 around a single 20,000 debit",
	"mt940/fruitl00p__php-mt940__test_Parser_Banking_Mt940_Engine_Rabo_sample.sta": "demo file: balances move (0 -> 20000) on days without entries",
	"mt940/railslove__cmxl__spec_fixtures_mt940-with-detailed-end-balance.txt":     "10,00 + 1,00 stated as 15,00",
	"mt940/svenstaro__mt940-rs__tests_data_mt940_full_bugs_issue-51.sta":           "entries sum to -141,04, balances differ by -41,04",
	"mt940/wolph__mt940__mt940_tests_jejik_postfinance.sta":                        "second message: 229,2 - 79,9 + 10,1 stated as 159,6",
	"mt940/wolph__mt940__mt940_tests_mBank_with_newline_in_tnr.sta":                "0,46 + 45 + 44 stated as 860,17",
	"mt940/wolph__mt940__mt940_tests_self-provided_details_60-63.sta":              "12345,12 - 233,15 stated as 12345,98",
	"mt940/wolph__mt940__mt940_tests_self-provided_raiffeisen-cmi.sta":             "entries sum to -1012213,50, balances differ by +111050,50",
}

// wantRejects lists samples with entries that are rightly rejected.
var wantRejects = map[string]int{
	"mt940/wolph__mt940__mt940_tests_self-provided_multiline.sta":  1, // a :61: after the last message, outside any statement
	"mt940/wolph__mt940__mt940_tests_self-provided_sparkassen.sta": 1, // a fragment: one :61: without :20:/:25: (mt940 tests check the entry itself)
}

// implemented says which sample folders have their format's parser.
var implemented = map[string]bool{"mt940": true}

type sampleSink struct {
	format.Collector
}

// TestSamplesParseAndProve: every sample file parses, and every statement
// with an opening and a closing balance satisfies opening + the sum of its
// transactions (as emitted) = closing.
func TestSamplesParseAndProve(t *testing.T) {
	sources := readSources(t)
	dirs, err := os.ReadDir(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	proven := 0
	for _, d := range dirs {
		if !d.IsDir() || !implemented[d.Name()] {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(samplesDir, d.Name()))
		for _, f := range files {
			rel := d.Name() + "/" + f.Name()
			t.Run(rel, func(t *testing.T) {
				if sources[rel] == "" {
					t.Errorf("%s has no line in SOURCES.tsv", rel)
				}
				var c sampleSink
				fh, err := os.Open(filepath.Join(samplesDir, rel))
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
				kind, err := File(context.Background(), fh, format.Source{Name: rel, Digest: rel}, &c)
				if err != nil {
					t.Fatalf("%s (%s): %v", rel, kind, err)
				}
				if len(c.Rejects) != wantRejects[rel] {
					for _, r := range c.Rejects {
						t.Errorf("rejected: %v", r)
					}
					t.Errorf("%d rejects, want %d", len(c.Rejects), wantRejects[rel])
				}
				sums := map[string]money.Decimal{}
				for _, tx := range c.Transactions {
					if tx.Side != record.Bank || tx.Account == "" || !money.KnownCurrency(tx.Currency) {
						t.Errorf("transaction %+v", tx)
					}
					sums[tx.StatementID], _ = sums[tx.StatementID].Add(tx.Amount)
				}
				mismatches := 0
				for _, st := range c.Statements {
					if st.OpeningBalance == nil || st.ClosingBalance == nil {
						continue
					}
					got, _ := st.OpeningBalance.Add(sums[st.ID])
					if !got.Equal(*st.ClosingBalance) {
						mismatches++
						if inconsistent[rel] == "" {
							t.Errorf("statement %s (%s): opening %s + entries %s = %s, closing says %s",
								st.ID, st.Sequence, st.OpeningBalance, sums[st.ID], got, st.ClosingBalance)
						}
						continue
					}
					proven++
				}
				if inconsistent[rel] != "" && mismatches == 0 {
					t.Errorf("listed as inconsistent (%s) but every statement balances", inconsistent[rel])
				}
			})
		}
	}
	t.Logf("%d statements proven", proven)
}

func readSources(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join(samplesDir, "SOURCES.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, row := range rows[1:] {
		out[row[0]] = strings.Join(row[1:], " ")
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return out
}
