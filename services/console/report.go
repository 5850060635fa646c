package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/xuri/excelize/v2"
)

// The reconciliation statement of an account-day, as a page and XLSX.

// reportPage is the reconciliation statement of one account-day: a
// printable page, or (format=xlsx) a workbook.
func (s *Service) reportPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	v, err := s.dayView(r, ss)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if r.URL.Query().Get("format") != "xlsx" {
		s.render(w, r, http.StatusOK, "report", view{S: ss, Title: fmt.Sprintf("Reconciliation statement %s %s %s", v.B.Account, v.B.Currency, v.B.Date),
			Nav: "balances", Data: v})
		return
	}
	x, err := reportXLSX(v)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	defer x.Close()
	name := fmt.Sprintf("reconciliation-%s-%s-%s.xlsx", safeName(v.B.Account), v.B.Currency, v.B.Date)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	if err := x.Write(w); err != nil {
		s.log.Error("report stopped", "err", err)
	}
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// reportXLSX writes the statement as a workbook: amounts as exact decimal
// text with the currency's digits (never a binary float), one sheet of
// figures and trail, one of items.
func reportXLSX(v *dayView) (*excelize.File, error) {
	x := excelize.NewFile()
	sheet := "Reconciliation"
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	b := v.B
	opt := func(p *string) string {
		if p == nil {
			return "—"
		}
		return *p
	}
	rows := [][]string{
		{"Reconciliation statement"},
		{"Account", b.Account}, {"Currency", b.Currency}, {"Day", b.Date.String()},
		{"Generated", v.Generated.Format(time.RFC3339)},
		{},
		{"Statement closing balance", opt(b.StatementBalance)},
		{"Ledger opening balance (" + b.LedgerOpeningAt.String() + ", " + b.OpeningSource + ")", b.LedgerOpening},
		{fmt.Sprintf("Ledger postings before the day (%d)", b.LedgerBeforeN), b.LedgerBefore},
		{fmt.Sprintf("Ledger postings on the day (%d)", b.LedgerDayN), b.LedgerDay},
		{"Ledger balance", b.LedgerBalance},
		{},
	}
	for _, k := range b.Kinds {
		rows = append(rows, []string{fmt.Sprintf("%s (%d)", k.Label, k.Count), k.Total})
	}
	rows = append(rows, []string{"Reconciling items", b.ItemsTotal}, []string{"Unexplained difference", opt(b.Unexplained)})
	if b.Problem != "" {
		rows = append(rows, []string{"Note", b.Problem})
	}
	rows = append(rows, []string{}, []string{"Sign-off trail"}, []string{"Sign-off", "Days", "Status", "Prepared by", "Approved by", "Reopened by", "Comment"})
	for _, t := range v.Trail {
		rows = append(rows, []string{t.SignoffID, t.From.String() + ".." + t.To.String(), t.Status, t.RequestedBy, t.ApprovedBy, t.ReopenedBy,
			strings.TrimSpace(t.Comment + " " + t.ReopenReason)})
	}
	for i, row := range rows {
		for j, val := range row {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			if err := x.SetCellStr(sheet, cell, val); err != nil {
				return nil, err
			}
		}
	}
	_ = x.SetColWidth(sheet, "A", "A", 58)
	_ = x.SetColWidth(sheet, "B", "G", 20)
	items := "Items"
	if _, err := x.NewSheet(items); err != nil {
		return nil, err
	}
	head := []string{"Kind", "Side", "Record", "Booking date", "Amount", "Effect", "Reference", "Counterparty", "Break", "Match", "Source file", "Position"}
	for j, h := range head {
		cell, _ := excelize.CoordinatesToCellName(j+1, 1)
		_ = x.SetCellStr(items, cell, h)
	}
	for i, it := range b.Items {
		vals := []string{it.Kind, it.Side, it.RecordID, it.BookingDate.String(), it.Amount, it.Effect, it.Reference, it.Counterparty,
			it.BreakID, it.MatchID, it.SourceFile, fmt.Sprint(it.SourcePosition)}
		for j, val := range vals {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+2)
			if err := x.SetCellStr(items, cell, val); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}
