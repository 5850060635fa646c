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
	ex, err := warehouseExport(ctx, databaseURL, allBreaks)
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
	sortOutputs(out)
	// The breaks as the matcher wrote them (their candidates verbatim), in
	// the sorted order.
	byID := make(map[string]*warehouse.ExportBreak, len(ex.Breaks))
	for _, b := range ex.Breaks {
		byID[b.BreakID] = b
	}
	if err := writeLines(filepath.Join(dir, "matches.jsonl"), len(out.matches), func(i int) any { return out.matches[i] }); err != nil {
		return nil, err
	}
	if err := writeLines(filepath.Join(dir, "breaks.jsonl"), len(out.breaks), func(i int) any { return byID[out.breaks[i].BreakID] }); err != nil {
		return nil, err
	}
	sum := &Summary{}
	sum.fill(out)
	if err := writeJSON(filepath.Join(dir, "summary.json"), sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// warehouseExport reads a running system's decisions from its warehouse.
func warehouseExport(ctx context.Context, databaseURL string, allBreaks bool) (*warehouse.Export, error) {
	st, err := warehouse.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Export(ctx, allBreaks)
}
