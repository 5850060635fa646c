package reconcile

import (
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// DiffLine is one line of diff.jsonl: a match or a break that the new
// rules gain (the live system did not decide it) or lose (it did, the new
// rules do not). A match the new rules make under another rule, or with
// another status (auto or proposed), is lost under the old and gained
// under the new; a break with another reason likewise.
type DiffLine struct {
	Change   string   `json:"change"` // gained | lost
	Kind     string   `json:"kind"`   // match | break
	Rule     string   `json:"rule,omitempty"`
	Status   string   `json:"status,omitempty"` // auto | proposed (a proposal people confirmed counts as proposed)
	MatchID  string   `json:"match_id,omitempty"`
	Bank     []string `json:"bank,omitempty"`   // record ids
	Ledger   []string `json:"ledger,omitempty"` // record ids
	Reason   string   `json:"reason,omitempty"`
	BreakID  string   `json:"break_id,omitempty"`
	Side     string   `json:"side,omitempty"`
	RecordID string   `json:"record_id,omitempty"`
	Account  string   `json:"account"`
	Currency string   `json:"currency"`
	Amount   string   `json:"amount"` // match: the bank side's total; break: the record's amount
}

// DiffSummary is diff-summary.json.
type DiffSummary struct {
	From    record.Date  `json:"from"`
	To      *record.Date `json:"to,omitempty"`
	Records int64        `json:"records"` // records of the period replayed
	Matches struct {
		Gained map[string]int `json:"gained"` // by rule
		Lost   map[string]int `json:"lost"`
	} `json:"matches"`
	Breaks struct {
		Gained map[string]int `json:"gained"` // by reason
		Lost   map[string]int `json:"lost"`
	} `json:"breaks"`
	Amounts map[string]*DiffAmount `json:"amounts"` // by currency, absolute
	// LeftOut counts live matches with a member booked outside the period:
	// the replay cannot see them whole, so they and their records are
	// left out of the comparison.
	LeftOut int `json:"left_out"`
}

// DiffAmount sums the absolute amounts of the changes in one currency.
type DiffAmount struct {
	MatchedGained string `json:"matched_gained"`
	MatchedLost   string `json:"matched_lost"`
	BreaksGained  string `json:"breaks_gained"`
	BreaksLost    string `json:"breaks_lost"`
	sums          [4]money.Decimal
}

// Diff is the comparison of two runs' outputs.
type Diff struct {
	Lines   []DiffLine
	Summary *DiffSummary
}

func statusClass(s record.MatchStatus) string {
	if s == record.Auto {
		return string(record.Auto)
	}
	return string(record.Proposed)
}

func ids(its []record.Item) []string {
	out := make([]string, len(its))
	for i, it := range its {
		out[i] = it.ID
	}
	sort.Strings(out)
	return out
}

func matchKey(m *record.Match) string {
	return statusClass(m.Status) + "\x00" + m.Rule + "\x00" + strings.Join(ids(m.Bank), ",") + "\x00" + strings.Join(ids(m.Ledger), ",")
}

func breakKey(b *record.Break) string {
	return fmt.Sprintf("%s\x00%d\x00%s", b.Record.ID, b.Record.SourcePosition, b.Reason)
}

// diffOutputs compares old (what was decided) with new (what the new
// rules decide) over the records inPeriod accepts.
func diffOutputs(old, new *outputs, inPeriod func(record.Date) bool) *Diff {
	d := &Diff{Summary: &DiffSummary{Amounts: map[string]*DiffAmount{}}}
	s := d.Summary
	s.Matches.Gained, s.Matches.Lost = map[string]int{}, map[string]int{}
	s.Breaks.Gained, s.Breaks.Lost = map[string]int{}, map[string]int{}
	// Live matches reaching outside the period: left out with their records.
	edge := map[string]bool{}
	whole := func(m *record.Match) bool {
		for _, it := range append(append([]record.Item(nil), m.Bank...), m.Ledger...) {
			if !inPeriod(it.BookingDate) {
				return false
			}
		}
		return true
	}
	for _, m := range old.matches {
		if !whole(m) {
			s.LeftOut++
			for _, it := range append(append([]record.Item(nil), m.Bank...), m.Ledger...) {
				edge[it.ID] = true
			}
		}
	}
	touchesEdge := func(m *record.Match) bool {
		for _, it := range append(append([]record.Item(nil), m.Bank...), m.Ledger...) {
			if edge[it.ID] {
				return true
			}
		}
		return false
	}
	keep := func(o *outputs) (map[string]*record.Match, map[string]*record.Break) {
		ms, bs := map[string]*record.Match{}, map[string]*record.Break{}
		for _, m := range o.matches {
			if whole(m) && !touchesEdge(m) {
				ms[matchKey(m)] = m
			}
		}
		for _, b := range o.breaks {
			if inPeriod(b.Record.BookingDate) && !edge[b.Record.ID] {
				bs[breakKey(b)] = b
			}
		}
		return ms, bs
	}
	om, ob := keep(old)
	nm, nb := keep(new)
	amount := func(cur string, v money.Decimal, slot int) string {
		a := s.Amounts[cur]
		if a == nil {
			a = &DiffAmount{}
			for i := range a.sums {
				a.sums[i] = money.New(0, 0)
			}
			s.Amounts[cur] = a
		}
		abs, _ := v.Abs()
		a.sums[slot], _ = a.sums[slot].Add(abs)
		a.MatchedGained, a.MatchedLost = money.Format(a.sums[0], cur), money.Format(a.sums[1], cur)
		a.BreaksGained, a.BreaksLost = money.Format(a.sums[2], cur), money.Format(a.sums[3], cur)
		return money.Format(v, cur)
	}
	matchLine := func(change string, m *record.Match, slot int) {
		total := money.New(0, 0)
		for _, it := range m.Bank {
			total, _ = total.Add(it.Amount)
		}
		d.Lines = append(d.Lines, DiffLine{Change: change, Kind: "match", Rule: m.Rule, Status: statusClass(m.Status), MatchID: m.MatchID,
			Bank: ids(m.Bank), Ledger: ids(m.Ledger), Account: m.Account, Currency: m.Currency, Amount: amount(m.Currency, total, slot)})
	}
	breakLine := func(change string, b *record.Break, slot int) {
		d.Lines = append(d.Lines, DiffLine{Change: change, Kind: "break", Reason: string(b.Reason), BreakID: b.BreakID, Side: string(b.Side),
			RecordID: b.Record.ID, Account: b.Account, Currency: b.Currency, Amount: amount(b.Currency, b.Record.Amount, slot)})
	}
	for _, k := range slices.Sorted(maps.Keys(nm)) {
		if om[k] == nil {
			s.Matches.Gained[nm[k].Rule]++
			matchLine("gained", nm[k], 0)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(om)) {
		if nm[k] == nil {
			s.Matches.Lost[om[k].Rule]++
			matchLine("lost", om[k], 1)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(nb)) {
		if ob[k] == nil {
			s.Breaks.Gained[string(nb[k].Reason)]++
			breakLine("gained", nb[k], 2)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ob)) {
		if nb[k] == nil {
			s.Breaks.Lost[string(ob[k].Reason)]++
			breakLine("lost", ob[k], 3)
		}
	}
	return d
}

// Print writes the diff summary in a few lines.
func (s *DiffSummary) Print(w io.Writer, dir string) {
	count := func(m map[string]int) string {
		if len(m) == 0 {
			return "none"
		}
		total := 0
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			total += m[k]
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\nreplayed %d records against the live decisions\n", s.Records)
	fmt.Fprintf(w, "  matches gained %s\n  matches lost   %s\n", count(s.Matches.Gained), count(s.Matches.Lost))
	fmt.Fprintf(w, "  breaks gained  %s\n  breaks lost    %s\n", count(s.Breaks.Gained), count(s.Breaks.Lost))
	for _, c := range slices.Sorted(maps.Keys(s.Amounts)) {
		a := s.Amounts[c]
		fmt.Fprintf(w, "  %s            matched +%s -%s; in breaks +%s -%s (absolute)\n", c, a.MatchedGained, a.MatchedLost, a.BreaksGained, a.BreaksLost)
	}
	if s.LeftOut > 0 {
		fmt.Fprintf(w, "  left out       %d live matches reaching outside the period\n", s.LeftOut)
	}
	fmt.Fprintf(w, "  output         %s, %s (the replay's own matches.jsonl, breaks.jsonl, summary.json beside them)\n",
		filepath.Join(dir, "diff.jsonl"), filepath.Join(dir, "diff-summary.json"))
}
