package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Score compares a reconciliation's output with the truth.
type Score struct {
	TruthLinks, PredictedLinks, CorrectLinks int
	TruthBreaks, FoundBreaks                 int
	// Records is every generated bank entry and ledger posting; FalseBreaks
	// those of them that have a counterpart in the truth but ended as
	// breaks.
	Records, FalseBreaks           int
	Precision, Recall, BreakRecall float64
	FalseBreakRate                 float64 // FalseBreaks / Records
}

type scoreRec struct {
	ID             string `json:"id"`
	SourceFile     string `json:"source_file"`
	SourcePosition int64  `json:"source_position"`
}

// ScoreDir scores DIR/matches.jsonl and DIR/breaks.jsonl against truth:
// pair precision and recall over (bank entry, ledger posting) links, and
// the share of expected breaks found among the breaks.
func ScoreDir(dir string, truth *TruthFile) (*Score, error) {
	bankKey := func(r scoreRec) string {
		if filepath.Base(r.SourceFile) == filepath.Base(truth.BankFile) {
			return fmt.Sprint(r.SourcePosition)
		}
		return ""
	}
	want := map[[2]string]bool{}
	linked := map[string]bool{} // "b:position", "l:id" of records with a counterpart
	for _, l := range truth.Links {
		want[l] = true
		linked["b:"+l[0]], linked["l:"+l[1]] = true, true
	}
	s := &Score{TruthLinks: len(want)}
	err := eachLine(filepath.Join(dir, "matches.jsonl"), func(b []byte) error {
		var m struct {
			Bank, Ledger []scoreRec
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for _, bk := range m.Bank {
			for _, l := range m.Ledger {
				s.PredictedLinks++
				if want[[2]string{bankKey(bk), l.ID}] {
					s.CorrectLinks++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	expected := map[string]bool{}
	for _, p := range truth.BankBreaks {
		expected["b:"+p] = true
	}
	for _, id := range truth.LedgerBreaks {
		expected["l:"+id] = true
	}
	s.TruthBreaks = len(expected)
	s.Records = len(linked) + len(expected)
	err = eachLine(filepath.Join(dir, "breaks.jsonl"), func(b []byte) error {
		var br struct {
			Side   string   `json:"side"`
			Record scoreRec `json:"record"`
		}
		if err := json.Unmarshal(b, &br); err != nil {
			return err
		}
		k := "l:" + br.Record.ID
		if br.Side == "bank" {
			k = "b:" + bankKey(br.Record)
		}
		if expected[k] {
			s.FoundBreaks++
			delete(expected, k)
		}
		if linked[k] {
			s.FalseBreaks++
			delete(linked, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 1
		}
		return float64(a) / float64(b)
	}
	s.Precision, s.Recall, s.BreakRecall = ratio(s.CorrectLinks, s.PredictedLinks), ratio(s.CorrectLinks, s.TruthLinks), ratio(s.FoundBreaks, s.TruthBreaks)
	s.FalseBreakRate = 1 - ratio(s.Records-s.FalseBreaks, s.Records)
	return s, nil
}

// ReadTruth reads a truth file written by WriteNoisy.
func ReadTruth(path string) (*TruthFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t TruthFile
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

func eachLine(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	return sc.Err()
}
