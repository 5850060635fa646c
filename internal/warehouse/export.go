package warehouse

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Export is what a running system decided, as recon reconcile writes it
// (DESIGN.md §6): the matches that stand (neither rejected nor undone), in
// their current status, with their items in the order the matcher gave
// them, and the breaks.
type Export struct {
	Matches []*record.Match
	Breaks  []*ExportBreak
	Cleared int // breaks a later match cleared (left out unless all are asked for)
}

// ExportBreak is a break with its candidates as the matcher wrote them.
type ExportBreak struct {
	BreakID        string             `json:"break_id"`
	Side           record.Side        `json:"side"`
	Reason         record.BreakReason `json:"reason"`
	Account        string             `json:"account"`
	Currency       string             `json:"currency"`
	Record         record.Item        `json:"record"`
	Candidates     json.RawMessage    `json:"candidates"`
	WindowClosedAt record.Date        `json:"window_closed_at"`
	Note           string             `json:"note,omitempty"`
	Status         string             `json:"-"`
}

// Text of every column the export reads, the same in each dialect.
const (
	exportMatches = `SELECT m.match_id, m.rule, CAST(m.confidence AS VARCHAR(16)), s.status, m.account, m.currency,
		CAST(m.difference AS VARCHAR(48)), COALESCE(m.explanation, '')
		FROM recon_matches m JOIN recon_match_status s ON s.match_id = m.match_id
		WHERE s.status NOT IN ('rejected', 'unmatched') ORDER BY m.match_id`
	exportItems = `SELECT i.match_id, i.side, i.record_id, CAST(i.amount AS VARCHAR(48)), CAST(i.booking_date AS VARCHAR(10)),
		COALESCE(i.reference, ''), COALESCE(i.bank_reference, ''), COALESCE(i.counterparty, ''), COALESCE(i.description, ''),
		COALESCE(i.source_file, ''), COALESCE(i.source_position, 0), COALESCE(i.item_position, 0)
		FROM recon_match_items i ORDER BY i.match_id, i.side, COALESCE(i.item_position, 0), i.record_id`
	exportClears = `SELECT c.break_id, c.match_id FROM recon_break_clears c ORDER BY c.match_id, c.break_id`
	exportBreaks = `SELECT b.break_id, b.side, b.reason, b.account, b.currency, b.record_id, CAST(b.amount AS VARCHAR(48)),
		CAST(b.booking_date AS VARCHAR(10)), COALESCE(b.reference, ''), COALESCE(b.bank_reference, ''), COALESCE(b.counterparty, ''),
		COALESCE(b.description, ''), COALESCE(b.source_file, ''), COALESCE(b.source_position, 0),
		CAST(b.window_closed_at AS VARCHAR(10)), COALESCE(b.candidates, '[]'), COALESCE(b.note, ''), s.status
		FROM recon_breaks b JOIN recon_break_status s ON s.break_id = b.break_id ORDER BY b.break_id`
)

// exportFrom runs the export's queries through query.
func exportFrom(ctx context.Context, query func(ctx context.Context, q string) (rowsCloser, error), all bool) (*Export, error) {
	out := &Export{}
	byID := map[string]*record.Match{}
	err := each(ctx, query, exportMatches, func(r rows) error {
		m := &record.Match{}
		var conf, diff string
		if err := r.Scan(&m.MatchID, &m.Rule, &conf, &m.Status, &m.Account, &m.Currency, &diff, &m.Explanation); err != nil {
			return err
		}
		c, err := money.Parse(conf)
		if err != nil {
			return fmt.Errorf("match %s: confidence %q: %w", m.MatchID, conf, err)
		}
		c4, err := c.Rescale(4)
		if err != nil {
			return err
		}
		m.Confidence = record.Confidence(c4.Units())
		if m.Difference, err = amount(diff, m.Currency); err != nil {
			return fmt.Errorf("match %s: difference: %w", m.MatchID, err)
		}
		m.Bank, m.Ledger = []record.Item{}, []record.Item{}
		byID[m.MatchID] = m
		out.Matches = append(out.Matches, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, query, exportItems, func(r rows) error {
		var matchID, side, amt, day string
		var it record.Item
		var pos int64
		if err := r.Scan(&matchID, &side, &it.ID, &amt, &day, &it.Reference, &it.BankReference, &it.Counterparty, &it.Description,
			&it.SourceFile, &it.SourcePosition, &pos); err != nil {
			return err
		}
		m := byID[matchID]
		if m == nil {
			return nil // a match that no longer stands
		}
		it.Currency = m.Currency
		var err error
		if it.Amount, err = amount(amt, m.Currency); err != nil {
			return fmt.Errorf("match %s item %s: %w", matchID, it.ID, err)
		}
		if it.BookingDate, err = record.ParseDate(day[:min(len(day), 10)]); err != nil {
			return fmt.Errorf("match %s item %s: booking date %q: %w", matchID, it.ID, day, err)
		}
		if side == string(record.Bank) {
			it.Side = record.Bank
			m.Bank = append(m.Bank, it)
		} else {
			it.Side = record.Ledger
			m.Ledger = append(m.Ledger, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, query, exportClears, func(r rows) error {
		var breakID, matchID string
		if err := r.Scan(&breakID, &matchID); err != nil {
			return err
		}
		if m := byID[matchID]; m != nil {
			m.ClearsBreakIDs = append(m.ClearsBreakIDs, breakID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, query, exportBreaks, func(r rows) error {
		b := &ExportBreak{}
		var amt, day, closed, cands string
		it := &b.Record
		if err := r.Scan(&b.BreakID, &b.Side, &b.Reason, &b.Account, &b.Currency, &it.ID, &amt, &day, &it.Reference, &it.BankReference,
			&it.Counterparty, &it.Description, &it.SourceFile, &it.SourcePosition, &closed, &cands, &b.Note, &b.Status); err != nil {
			return err
		}
		if b.Status == "matched" || b.Status == "proposed" {
			out.Cleared++ // a match (or a proposed one) names it
		}
		if !all && b.Status != "open" {
			return nil
		}
		it.Side, it.Currency = b.Side, b.Currency
		var err error
		if it.Amount, err = amount(amt, b.Currency); err != nil {
			return fmt.Errorf("break %s: %w", b.BreakID, err)
		}
		if it.BookingDate, err = record.ParseDate(day[:min(len(day), 10)]); err != nil {
			return fmt.Errorf("break %s: booking date %q: %w", b.BreakID, day, err)
		}
		if b.WindowClosedAt, err = record.ParseDate(closed[:min(len(closed), 10)]); err != nil {
			return fmt.Errorf("break %s: window closed %q: %w", b.BreakID, closed, err)
		}
		b.Candidates = json.RawMessage(cands)
		out.Breaks = append(out.Breaks, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// amount parses a stored amount at the currency's minor units (the
// warehouse may hold more digits: NUMERIC(38,6)).
func amount(s, currency string) (money.Decimal, error) {
	d, err := money.Parse(strings.TrimSpace(s))
	if err != nil {
		return d, err
	}
	if minor := money.MinorUnits(currency); d.Scale() > minor {
		if r, err := d.Rescale(minor); err == nil && r.Equal(d) {
			return r, nil
		}
	}
	return d, nil
}

// rowsCloser is rows that must be closed.
type rowsCloser interface {
	rows
	Close()
}

func each(ctx context.Context, query func(ctx context.Context, q string) (rowsCloser, error), q string, f func(rows) error) error {
	r, err := query(ctx, q)
	if err != nil {
		return fmt.Errorf("warehouse: export: %w", err)
	}
	defer r.Close()
	for r.Next() {
		if err := f(r); err != nil {
			return fmt.Errorf("warehouse: export: %w", err)
		}
	}
	return r.Err()
}

// Export implements Store.
func (s *pgStore) Export(ctx context.Context, all bool) (*Export, error) {
	return exportFrom(ctx, func(ctx context.Context, q string) (rowsCloser, error) {
		r, err := s.pool.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		return pgRows{r}, nil
	}, all)
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Close() { r.Rows.Close() }

// Export implements Store.
func (s *sqliteStore) Export(ctx context.Context, all bool) (*Export, error) {
	return exportFrom(ctx, func(ctx context.Context, q string) (rowsCloser, error) {
		r, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		return sqlRows{r}, nil
	}, all)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
