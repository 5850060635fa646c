package parse

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
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
	"camt053/genkgo__camt__test_data_camt053.v2.all-balance-types.xml":              "parser fixture: balances 1.01, 2.02 … 10.10, one type each",
	"camt053/genkgo__camt__test_data_camt053.v2.five.decimals.xml":                  "18.150 + 8.850 stated as 27.050",
	"camt053/genkgo__camt__test_data_camt053.v3.xml":                                "parser fixture: opening EUR 18.15, closing SEK 27.00 DBIT, one EUR 8.85 credit",
	"camt053/genkgo__camt__test_data_camt053.v4.xml":                                "parser fixture: opening EUR 18.15, closing SEK 27.00 DBIT, one EUR 8.85 credit",
	"bai2/moov-io__bai2__test_testdata_sample4-continuations-newline-delimited.txt": "account 104108339 holds some 20 details while its summary counts one 2,000.00 debit (stitched)",
	"bai2/ministryofjustice__bai2__tests_data_citi_example.bai2":                    "opening 100.00 and closing 100.00 around a 0.01 credit (the 49 total does include it)",
	"mt940/fruitl00p__php-mt940__test_Parser_Banking_Mt940_Engine_Hsbc_sample.sta":  "opening 0 and closing 0 around a single 20,000 debit",
	"mt940/fruitl00p__php-mt940__test_Parser_Banking_Mt940_Engine_Rabo_sample.sta":  "demo file: balances move (0 -> 20000) on days without entries",
	"mt940/railslove__cmxl__spec_fixtures_mt940-with-detailed-end-balance.txt":      "10,00 + 1,00 stated as 15,00",
	"mt940/svenstaro__mt940-rs__tests_data_mt940_full_bugs_issue-51.sta":            "entries sum to -141,04, balances differ by -41,04",
	"mt940/wolph__mt940__mt940_tests_jejik_postfinance.sta":                         "second message: 229,2 - 79,9 + 10,1 stated as 159,6",
	"mt940/wolph__mt940__mt940_tests_mBank_with_newline_in_tnr.sta":                 "0,46 + 45 + 44 stated as 860,17",
	"mt940/wolph__mt940__mt940_tests_self-provided_details_60-63.sta":               "12345,12 - 233,15 stated as 12345,98",
	"mt940/wolph__mt940__mt940_tests_self-provided_raiffeisen-cmi.sta":              "entries sum to -1012213,50, balances differ by +111050,50",
}

// wantRejects lists samples with entries or trailers that are rightly
// rejected (lenient mode reports control mismatches as rejects).
var wantRejects = map[string]int{
	"bai2/venturehacks__bai2__test_data_invalid_checksum_eod.bai2":                  3, // 49, 98 and 99 totals off by one cent (a negative test)
	"bai2/moov-io__bai2__test_testdata_bai3_x9-03-split-summary.txt":                3, // totals stitched by hand: 49/98/99 state 299000000, the records add up to 399666664
	"bai2/moov-io__bai2__test_testdata_bai3_x9-continuation-16.txt":                 3, // record counts stitched by hand: one 88 short at 49, 98 and 99
	"bai2/moov-io__bai2__test_testdata_sample4-continuations-newline-delimited.txt": 9, // trailers from another file: totals and counts match nothing in it
	"mt940/wolph__mt940__mt940_tests_self-provided_multiline.sta":                   1, // a :61: after the last message, outside any statement
	"mt940/wolph__mt940__mt940_tests_self-provided_sparkassen.sta":                  1, // a fragment: one :61: without :20:/:25: (mt940 tests check the entry itself)
}

// negative samples must fail as files, with a clear error.
var negative = map[string]string{
	"bai2/hengpor__bai2-to-csv__tests_data_sample.bai":               "02 as-of date",
	"bai2/moov-io__bai2__test_testdata_errors_sample-parseError.txt": "unrecognised format",
}

// implemented says which sample folders have their format's parser.
var implemented = map[string]bool{"mt940": true, "bai2": true, "camt053": true, "camt052_054": true, "csv": true}

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
				if want := negative[rel]; want != "" {
					if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), rel) {
						t.Fatalf("negative sample: error %v, want one naming the file and %q", err, want)
					}
					return
				}
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
					if s := tx.Extra["status"]; s == "PDNG" || s == "INFO" || s == "FUTR" {
						continue // not in booked balances
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
	return out
}
