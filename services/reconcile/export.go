package reconcile

import (
	"context"
	"os"
	"path/filepath"

	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/warehouse"
)

// Export writes what a running system decided, from its warehouse
// (postgres://, redshift:// or sqlite:PATH), as Run writes a batch run
// (DESIGN.md §6): DIR/matches.jsonl (the matches that stand),
// DIR/breaks.jsonl (the open breaks; every break with allBreaks) and
// DIR/summary.json, in the same order and bytes, so a streaming and a
// batch run of the same files compare with diff or a digest.
func Export(ctx context.Context, databaseURL, dir string, allBreaks bool) (*Summary, error) {
	st, err := warehouse.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ex, err := st.Export(ctx, allBreaks)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := &outputs{matches: ex.Matches, cleared: ex.Cleared}
	for _, b := range ex.Breaks {
		out.breaks = append(out.breaks, &record.Break{BreakID: b.BreakID, Side: b.Side, Reason: b.Reason, Account: b.Account,
			Currency: b.Currency, Record: b.Record, WindowClosedAt: b.WindowClosedAt})
	}
	sum := &Summary{}
	if err := write(dir, out, sum); err != nil {
		return nil, err
	}
	// breaks.jsonl again, with each break's candidates as the matcher
	// wrote them (write sorted out.breaks; the export's follow that order).
	byID := make(map[string]*warehouse.ExportBreak, len(ex.Breaks))
	for _, b := range ex.Breaks {
		byID[b.BreakID] = b
	}
	sorted := make([]*warehouse.ExportBreak, len(out.breaks))
	for i, b := range out.breaks {
		sorted[i] = byID[b.BreakID]
	}
	if err := writeLines(filepath.Join(dir, "breaks.jsonl"), len(sorted), func(i int) any { return sorted[i] }); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, "rejected.jsonl")); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, "summary.json"), sum); err != nil {
		return nil, err
	}
	return sum, nil
}
