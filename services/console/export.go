package console

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/xuri/excelize/v2"
)

// The break export (CSV, XLSX) of the API.

// exportMax bounds one export (a filter selecting more is refused with the
// count, so a file never silently stops short).
const exportMax = 1_000_000

var exportHeader = []string{"break_id", "status", "side", "reason", "account", "currency", "amount", "booking_date", "age_days", "age_business_days",
	"reference", "counterparty", "description", "record_id", "source_file", "source_position", "assignee", "matched_by"}

func (s *Service) exportRow(b casestore.Break) []string {
	return []string{b.BreakID, b.Status, b.Side, b.Reason, b.Account, b.Currency, money.Format(b.Amount, b.Currency), b.BookingDate.String(),
		strconv.Itoa(int(s.today() - b.BookingDate)), strconv.Itoa(s.businessAge(b)), b.Reference, b.Counterparty, b.Description, b.RecordID, b.SourceFile,
		strconv.FormatInt(b.SourcePosition, 10), b.Assignee, b.MatchedBy}
}

// eachBreak visits every break f selects, in f's order, a page at a time.
func (s *Service) eachBreak(ctx context.Context, f casestore.Filter, visit func(casestore.Break) error) error {
	f.Limit, f.Cursor = 1000, ""
	for {
		bs, next, err := s.store.ListBreaks(ctx, f)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := visit(b); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		f.Cursor = next
	}
}

// apiExport writes the filtered break list as CSV or XLSX. Amounts are
// exact decimal text in both (in XLSX a text cell, never a float).
func (s *Service) apiExport(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "xlsx" {
		apiError(w, http.StatusBadRequest, "bad_format", "format "+format+": want csv or xlsx")
		return
	}
	f, err := s.filterOf(q, ss)
	if err != nil {
		s.fail(w, err)
		return
	}
	n, err := s.store.CountBreaks(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	if n > exportMax {
		apiError(w, http.StatusBadRequest, "too_large", fmt.Sprintf("the filter selects %d breaks; an export holds at most %d: narrow the filter", n, exportMax))
		return
	}
	name := fmt.Sprintf("recon-breaks-%s.%s", time.Now().UTC().Format("20060102-150405"), format)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		_ = cw.Write(exportHeader)
		err := s.eachBreak(r.Context(), f, func(b casestore.Break) error { return cw.Write(csvSafe(s.exportRow(b))) })
		cw.Flush()
		if err != nil {
			s.log.Error("export stopped", "err", err)
		}
		return
	}
	x := excelize.NewFile()
	defer x.Close()
	sheet := "Breaks"
	_ = x.SetSheetName("Sheet1", sheet)
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		s.fail(w, err)
		return
	}
	row := func(i int, vals []string) error {
		cells := make([]any, len(vals))
		for j, v := range vals {
			cells[j] = excelize.Cell{Value: v}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i)
		return sw.SetRow(cell, cells)
	}
	_ = sw.SetColWidth(1, len(exportHeader), 16)
	if err := row(1, exportHeader); err != nil {
		s.fail(w, err)
		return
	}
	i := 1
	if err := s.eachBreak(r.Context(), f, func(b casestore.Break) error { i++; return row(i, s.exportRow(b)) }); err != nil {
		s.fail(w, err)
		return
	}
	if err := sw.Flush(); err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	if err := x.Write(w); err != nil {
		s.log.Error("export stopped", "err", err)
	}
}

// csvSafe keeps a spreadsheet from reading a text cell as a formula (CSV
// injection): a leading =, +, - or @ in free text gets a quote mark. Amounts
// (the only numbers that start with -) are left as they are.
func csvSafe(row []string) []string {
	for i, v := range row {
		if i == 6 || v == "" {
			continue
		}
		switch v[0] {
		case '=', '+', '-', '@', '\t', '\r':
			row[i] = "'" + v
		}
	}
	return row
}
