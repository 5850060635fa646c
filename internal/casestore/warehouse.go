package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// In the all-in-one mode (recon up) the warehouse and the case store
// share one SQLite file, and the warehouse's two largest tables,
// recon_matches and recon_match_items, are views over the case store's
// matches and records: the day is stored once instead of twice (README
// "Performance"). The views show every match and item as the loader
// writes them into its own tables, column for column and type for type
// (TestWarehouseViews compares the two row by row): a match as it was
// first decided, times as the loader formats them. The loader sees the
// views and leaves those two tables to the console's feed; the rest of
// the warehouse (breaks, clears, resolutions, sign-offs, its offsets)
// it writes as ever.

// msText is the loader's text of a time stored as Unix milliseconds in
// the column X (RFC 3339 in UTC with milliseconds, the zero time as year 1).
const msText = `strftime('%Y-%m-%dT%H:%M:%S', (X - ((X % 1000) + 1000) % 1000) / 1000, 'unixepoch') || printf('.%03dZ', ((X % 1000) + 1000) % 1000)`

var warehouseViews = []string{
	`CREATE VIEW recon_matches AS SELECT m.match_id AS match_id, m.rule AS rule,
		CAST(printf('%d.%04d', m.confidence / 10000, m.confidence % 10000) AS NUMERIC) AS confidence,
		COALESCE(m.emitted_status, m.status) AS status, m.account AS account, m.currency AS currency, m.difference AS difference,
		COALESCE(m.emitted_explanation, m.explanation) AS explanation, ` + strings.ReplaceAll(msText, "X", "m.decided_ms") + ` AS decided_at,
		datetime(m.loaded_s, 'unixepoch') AS loaded_at, m.rule_version AS rule_version
		FROM case_matches m`,
	`CREATE VIEW recon_match_items AS SELECT m.match_id AS match_id, r.side AS side, r.record_id AS record_id, r.amount AS amount,
		r.booking_date AS booking_date, r.reference AS reference, r.counterparty AS counterparty, r.description AS description,
		f.name AS source_file, r.source_position AS source_position, ` + strings.ReplaceAll(msText, "X", "r.ingested_ms") + ` AS ingested_at,
		r.bank_reference AS bank_reference, CASE WHEN r.side = 'bank' THEN mr.item ELSE mr.item - m.bank_n END AS item_position
		FROM case_match_recs mr JOIN case_matches m ON m.mrow = mr.mrow JOIN case_recs r ON r.rec = mr.rec
		JOIN case_files f ON f.file_id = r.file_id`,
}

// ServeWarehouse makes the warehouse's recon_matches and
// recon_match_items, in the SQLite file this store shares with it, views
// over this store, and reports whether they are. Tables are replaced only
// while both are empty: a warehouse the loader already wrote keeps its
// tables (false). Views are made again as this version defines them. The
// warehouse must be migrated first.
func (s *Store) ServeWarehouse(ctx context.Context) (bool, error) {
	if s.pg {
		return false, fmt.Errorf("case store %s: the warehouse's views are for SQLite", s.source)
	}
	served := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		kinds := map[string]string{}
		for _, name := range []string{"recon_matches", "recon_match_items"} {
			var kind string
			err := tx.QueryRowContext(ctx, `SELECT type FROM sqlite_master WHERE name = ?`, name).Scan(&kind)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			kinds[name] = kind
		}
		switch m, i := kinds["recon_matches"], kinds["recon_match_items"]; {
		case m == "view" && i == "view":
			for _, v := range []string{"recon_match_items", "recon_matches"} {
				if _, err := tx.ExecContext(ctx, `DROP VIEW `+v); err != nil {
					return err
				}
			}
		case m == "table" && i == "table":
			var rows int
			if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM recon_matches LIMIT 1))
				+ (SELECT COUNT(*) FROM (SELECT 1 FROM recon_match_items LIMIT 1))`).Scan(&rows); err != nil {
				return err
			}
			if rows > 0 {
				return nil
			}
			for _, t := range []string{"recon_match_items", "recon_matches"} {
				if _, err := tx.ExecContext(ctx, `DROP TABLE `+t); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("warehouse's recon_matches is %q and recon_match_items %q: want both tables (a migrated warehouse) or both views", m, i)
		}
		for _, v := range warehouseViews {
			if _, err := tx.ExecContext(ctx, v); err != nil {
				return fmt.Errorf("warehouse views: %w", err)
			}
		}
		served = true
		return nil
	})
	return served, err
}
