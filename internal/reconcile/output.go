package reconcile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// outputs are the final matches and breaks of a run.
type outputs struct {
	matches  []*record.Match
	breaks   []*record.Break // open breaks only: cleared ones are dropped
	cleared  int
	rejected []Rejected
}

// Rejected is a bad input entry as rejected.jsonl lists it.
type Rejected struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Entry  int64  `json:"entry,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// collect reads the run's output topics from their start to their end.
func collect(ctx context.Context, kc kafka.Config) (*outputs, error) {
	topics := []string{kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicBreaks), kc.Topic(kafka.TopicDLQ)}
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// The end offsets count transaction markers: the control records are
	// kept so that a partition whose last entry is a commit marker (the
	// ingestor's dead letters) is seen to end instead of waiting for an
	// empty fetch.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	remaining := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Topic+"/"+strconv.Itoa(int(o.Partition))] = o.Offset
		}
	})
	mc, err := avro.NewMatchCodec(ctx, avro.Embedded{}, topics[0]+"-value")
	if err != nil {
		return nil, err
	}
	bc, err := avro.NewBreakCodec(ctx, avro.Embedded{}, topics[1]+"-value")
	if err != nil {
		return nil, err
	}
	out := &outputs{}
	var breaks []*record.Break
	seenM, seenB := map[string]bool{}, map[string]bool{}
	var decodeErr error
	for len(remaining) > 0 && decodeErr == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		f := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if f.Empty() {
			break // the rest are transaction markers
		}
		f.EachRecord(func(r *kgo.Record) {
			key := r.Topic + "/" + strconv.Itoa(int(r.Partition))
			if r.Offset+1 >= remaining[key] {
				delete(remaining, key)
			}
			if r.Attrs.IsControl() {
				return
			}
			switch r.Topic {
			case topics[0]:
				m, err := mc.Decode(ctx, r.Value)
				if err != nil {
					decodeErr = err
					return
				}
				if !seenM[m.MatchID] { // the outbox may publish twice after a crash
					seenM[m.MatchID] = true
					out.matches = append(out.matches, m)
				}
			case topics[1]:
				b, err := bc.Decode(ctx, r.Value)
				if err != nil {
					decodeErr = err
					return
				}
				if !seenB[b.BreakID] {
					seenB[b.BreakID] = true
					breaks = append(breaks, b)
				}
			default:
				out.rejected = append(out.rejected, rejectedOf(r))
			}
		})
	}
	if decodeErr != nil {
		return nil, fmt.Errorf("read outputs: %w", decodeErr)
	}
	cleared := map[string]bool{}
	for _, m := range out.matches {
		for _, id := range m.ClearsBreakIDs {
			cleared[id] = true
		}
	}
	for _, b := range breaks {
		if cleared[b.BreakID] {
			out.cleared++
			continue
		}
		out.breaks = append(out.breaks, b)
	}
	return out, nil
}

func rejectedOf(r *kgo.Record) Rejected {
	d := kafka.ParseDLQ(r.Headers)
	rj := Rejected{File: d.File, Field: d.Field, Reason: d.Reason, Error: d.Error, Line: d.Line, Entry: d.Entry}
	if rj.Error == "" {
		rj.Error = rj.File + ": " + rj.Reason
	}
	return rj
}

// write sorts the outputs into a stable order (by the bank side's file
// position, then id) and writes the JSON lines files, filling sum.
func write(dir string, out *outputs, sum *Summary) error {
	sortOutputs(out)
	if err := writeLines(filepath.Join(dir, "matches.jsonl"), len(out.matches), func(i int) any { return out.matches[i] }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(dir, "breaks.jsonl"), len(out.breaks), func(i int) any { return out.breaks[i] }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(dir, "rejected.jsonl"), len(out.rejected), func(i int) any { return out.rejected[i] }); err != nil {
		return err
	}
	sum.fill(out)
	return nil
}

// sortOutputs puts matches, breaks and rejected entries in the files' order.
func sortOutputs(out *outputs) {
	sort.Slice(out.matches, func(i, j int) bool {
		a, b := firstItem(out.matches[i]), firstItem(out.matches[j])
		if a.SourceFile != b.SourceFile {
			return a.SourceFile < b.SourceFile
		}
		if a.SourcePosition != b.SourcePosition {
			return a.SourcePosition < b.SourcePosition
		}
		return out.matches[i].MatchID < out.matches[j].MatchID
	})
	sort.Slice(out.breaks, func(i, j int) bool {
		a, b := out.breaks[i], out.breaks[j]
		if a.Side != b.Side {
			return a.Side < b.Side
		}
		if a.Record.SourceFile != b.Record.SourceFile {
			return a.Record.SourceFile < b.Record.SourceFile
		}
		if a.Record.SourcePosition != b.Record.SourcePosition {
			return a.Record.SourcePosition < b.Record.SourcePosition
		}
		return a.BreakID < b.BreakID
	})
	sort.Slice(out.rejected, func(i, j int) bool {
		a, b := out.rejected[i], out.rejected[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Entry < b.Entry
	})
}

func firstItem(m *record.Match) record.Item {
	if len(m.Bank) > 0 {
		return m.Bank[0]
	}
	if len(m.Ledger) > 0 {
		return m.Ledger[0]
	}
	return record.Item{}
}

func writeLines(path string, n int, item func(int) any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(w)
	for i := 0; i < n; i++ {
		if err := enc.Encode(item(i)); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Summary is summary.json.
type Summary struct {
	Files   []FileSummary     `json:"files"`
	Records map[string]int64  `json:"records"` // by side: inputs that reached the matcher
	Matched map[string]int64  `json:"matched"` // by side: records in matches
	Matches int64             `json:"matches"` // match decisions
	Breaks  map[string]int64  `json:"breaks"`  // open breaks by reason
	BySide  map[string]int64  `json:"breaks_by_side"`
	Cleared int64             `json:"cleared_breaks"` // breaks closed by late matches
	Rejects int64             `json:"rejected_entries"`
	Rate    string            `json:"match_rate"` // matched records / records, 4 decimals
	Amounts map[string]Amount `json:"amounts"`    // by currency
	Seconds float64           `json:"seconds"`
}

// FileSummary is one input file's outcome.
type FileSummary struct {
	File       string `json:"file"`
	Side       string `json:"side"`
	Format     string `json:"format"`
	Outcome    string `json:"outcome"`
	Records    int64  `json:"records"`
	Rejected   int64  `json:"rejected"`
	Statements int64  `json:"statements"`
	Reason     string `json:"reason,omitempty"`
}

// Amount sums absolute amounts in one currency: matched (bank side of the
// matches) and in open breaks, per side.
type Amount struct {
	Matched         string `json:"matched"`
	UnmatchedBank   string `json:"unmatched_bank"`
	UnmatchedLedger string `json:"unmatched_ledger"`
	sums            [3]money.Decimal
}

func (s *Summary) fill(out *outputs) {
	s.Records, s.Matched = map[string]int64{}, map[string]int64{}
	s.Breaks, s.BySide = map[string]int64{}, map[string]int64{}
	s.Amounts = map[string]Amount{}
	add := func(cur string, d money.Decimal, slot int) {
		a := s.Amounts[cur]
		abs, _ := d.Abs()
		a.sums[slot], _ = a.sums[slot].Add(abs)
		a.Matched, a.UnmatchedBank, a.UnmatchedLedger = money.Format(a.sums[0], cur), money.Format(a.sums[1], cur), money.Format(a.sums[2], cur)
		s.Amounts[cur] = a
	}
	for _, m := range out.matches {
		s.Matches++
		for _, it := range m.Bank {
			s.Matched["bank"]++
			s.Records["bank"]++
			add(m.Currency, it.Amount, 0)
		}
		s.Matched["ledger"] += int64(len(m.Ledger))
		s.Records["ledger"] += int64(len(m.Ledger))
	}
	for _, b := range out.breaks {
		s.Breaks[string(b.Reason)]++
		s.BySide[string(b.Side)]++
		s.Records[string(b.Side)]++
		slot := 1
		if b.Side == record.Ledger {
			slot = 2
		}
		add(b.Currency, b.Record.Amount, slot)
	}
	s.Cleared = int64(out.cleared)
	s.Rejects = int64(len(out.rejected))
	total := s.Records["bank"] + s.Records["ledger"]
	matched := s.Matched["bank"] + s.Matched["ledger"]
	if total > 0 {
		s.Rate = money.New(matched*10000/total, 4).String()
	} else {
		s.Rate = "0.0000"
	}
}

// Print writes the one-screen summary.
func (s *Summary) Print(w io.Writer, dir string) {
	fmt.Fprintf(w, "\nreconciled in %.1fs\n", s.Seconds)
	fmt.Fprintf(w, "  records   bank %d, ledger %d\n", s.Records["bank"], s.Records["ledger"])
	fmt.Fprintf(w, "  matches   %d (bank %d, ledger %d records), match rate %s\n", s.Matches, s.Matched["bank"], s.Matched["ledger"], s.Rate)
	fmt.Fprintf(w, "  breaks    bank %d, ledger %d", s.BySide["bank"], s.BySide["ledger"])
	for _, r := range slices.Sorted(maps.Keys(s.Breaks)) {
		fmt.Fprintf(w, "; %s %d", r, s.Breaks[r])
	}
	fmt.Fprintln(w)
	for _, c := range slices.Sorted(maps.Keys(s.Amounts)) {
		a := s.Amounts[c]
		fmt.Fprintf(w, "  %s       matched %s; unmatched bank %s, ledger %s (absolute)\n", c, a.Matched, a.UnmatchedBank, a.UnmatchedLedger)
	}
	for _, f := range s.Files {
		if f.Outcome != record.OutcomeIngested {
			fmt.Fprintf(w, "  file %s: %s %s\n", f.File, f.Outcome, f.Reason)
		}
	}
	if s.Rejects > 0 {
		fmt.Fprintf(w, "  rejected  %d bad entries: see %s\n", s.Rejects, filepath.Join(dir, "rejected.jsonl"))
	}
	fmt.Fprintf(w, "  output    %s, %s, %s\n", filepath.Join(dir, "matches.jsonl"), filepath.Join(dir, "breaks.jsonl"), filepath.Join(dir, "summary.json"))
}
