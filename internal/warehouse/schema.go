package warehouse

import (
	"strings"

	"github.com/openrecon/recon/internal/migrate"
)

// migrations are applied in order; each runs once (recon_schema_migrations).
// In recon up's data dir recon_matches and recon_match_items are views
// over the case store (casestore.ServeWarehouse): a step that changes
// either must change those views too, not ALTER a table that is not there.
// They are written in the subset of SQL that PostgreSQL, Redshift and SQLite
// share; {{NUMERIC}}, {{TS}} and {{TEXT}} are replaced per dialect. Redshift
// has no enforced unique indexes, so idempotency never relies on them: the
// Redshift path deletes and inserts from a staging table.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS recon_matches (
		match_id VARCHAR(64) NOT NULL PRIMARY KEY,
		rule VARCHAR(128) NOT NULL,
		confidence NUMERIC(5,4) NOT NULL,
		status VARCHAR(16) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		difference {{NUMERIC}} NOT NULL,
		explanation {{TEXT}},
		decided_at {{TS}} NOT NULL,
		loaded_at {{TS}} DEFAULT CURRENT_TIMESTAMP
	)`,
	`CREATE TABLE IF NOT EXISTS recon_match_items (
		match_id VARCHAR(64) NOT NULL,
		side VARCHAR(8) NOT NULL,
		record_id VARCHAR(256) NOT NULL,
		amount {{NUMERIC}} NOT NULL,
		booking_date DATE NOT NULL,
		reference {{TEXT}},
		counterparty {{TEXT}},
		description {{TEXT}},
		source_file {{TEXT}},
		source_position BIGINT,
		ingested_at {{TS}},
		PRIMARY KEY (match_id, side, record_id)
	)`,
	`CREATE TABLE IF NOT EXISTS recon_breaks (
		break_id VARCHAR(64) NOT NULL PRIMARY KEY,
		side VARCHAR(8) NOT NULL,
		reason VARCHAR(32) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		record_id VARCHAR(256) NOT NULL,
		amount {{NUMERIC}} NOT NULL,
		booking_date DATE NOT NULL,
		reference {{TEXT}},
		counterparty {{TEXT}},
		description {{TEXT}},
		source_file {{TEXT}},
		source_position BIGINT,
		window_closed_at DATE NOT NULL,
		candidates {{TEXT}},
		loaded_at {{TS}} DEFAULT CURRENT_TIMESTAMP
	)`,
	`CREATE TABLE IF NOT EXISTS recon_break_clears (
		break_id VARCHAR(64) NOT NULL PRIMARY KEY,
		match_id VARCHAR(64) NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS recon_loader_offsets (
		consumer VARCHAR(256) NOT NULL,
		topic VARCHAR(256) NOT NULL,
		partition_id INTEGER NOT NULL,
		next_offset BIGINT NOT NULL,
		PRIMARY KEY (consumer, topic, partition_id)
	)`,
	`CREATE VIEW recon_break_status AS
		SELECT b.*, CASE WHEN c.match_id IS NULL THEN 'open' ELSE 'cleared' END AS status, c.match_id AS cleared_by_match_id
		FROM recon_breaks b LEFT JOIN recon_break_clears c ON c.break_id = b.break_id`,

	// People's resolutions (the console). A break can be cleared by more
	// than one match over time (a manual match undone, then another), so
	// recon_break_clears is keyed by both ids.
	`DROP VIEW recon_break_status`,
	`CREATE TABLE recon_break_clears_v2 (
		break_id VARCHAR(64) NOT NULL,
		match_id VARCHAR(64) NOT NULL,
		PRIMARY KEY (break_id, match_id)
	)`,
	`INSERT INTO recon_break_clears_v2 (break_id, match_id) SELECT break_id, match_id FROM recon_break_clears`,
	`DROP TABLE recon_break_clears`,
	`ALTER TABLE recon_break_clears_v2 RENAME TO recon_break_clears`,
	`CREATE TABLE IF NOT EXISTS recon_resolutions (
		resolution_id VARCHAR(128) NOT NULL,
		outcome_seq BIGINT NOT NULL,
		action VARCHAR(32) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		status VARCHAR(16) NOT NULL,
		detail {{TEXT}},
		match_id VARCHAR(64),
		match_status VARCHAR(16),
		user_name VARCHAR(256),
		approved_by VARCHAR(256),
		reason_code VARCHAR(64),
		comment {{TEXT}},
		decided_at {{TS}} NOT NULL,
		loaded_at {{TS}} DEFAULT CURRENT_TIMESTAMP,
		PRIMARY KEY (resolution_id, outcome_seq)
	)`,
	`CREATE TABLE IF NOT EXISTS recon_resolution_breaks (
		resolution_id VARCHAR(128) NOT NULL,
		outcome_seq BIGINT NOT NULL,
		break_id VARCHAR(64) NOT NULL,
		record_id VARCHAR(256),
		status VARCHAR(16) NOT NULL,
		PRIMARY KEY (resolution_id, outcome_seq, break_id)
	)`,
	// The first outcome of a resolution is the one that counts (a
	// resolution sent twice is refused the second time).
	`CREATE VIEW recon_resolutions_applied AS
		SELECT r.* FROM recon_resolutions r WHERE r.status = 'applied'
		AND r.outcome_seq = (SELECT MIN(x.outcome_seq) FROM recon_resolutions x WHERE x.resolution_id = r.resolution_id)`,
	`CREATE VIEW recon_match_status AS
		SELECT m.match_id, COALESCE(o.match_status, m.status) AS status
		FROM recon_matches m LEFT JOIN (
			SELECT match_id, match_status FROM (
				SELECT match_id, match_status, ROW_NUMBER() OVER (PARTITION BY match_id ORDER BY outcome_seq DESC) AS rn
				FROM recon_resolutions_applied WHERE match_status <> '') t WHERE rn = 1
		) o ON o.match_id = m.match_id`,
	// A break is matched while a match that is neither rejected nor undone
	// clears it; otherwise it has the status its latest resolution gave
	// it (written_off, accepted, open, matched); otherwise proposed while a
	// proposed match clears it; otherwise open.
	`CREATE VIEW recon_break_status AS
		SELECT b.*,
			CASE WHEN lc.match_id IS NOT NULL THEN 'matched' WHEN bo.status IS NOT NULL THEN bo.status
				WHEN pc.match_id IS NOT NULL THEN 'proposed' ELSE 'open' END AS status,
			COALESCE(lc.match_id, CASE WHEN bo.status = 'matched' THEN bo.match_id END) AS cleared_by_match_id,
			bo.resolution_id AS resolved_by_resolution_id
		FROM recon_breaks b
		LEFT JOIN (SELECT c.break_id, MIN(c.match_id) AS match_id FROM recon_break_clears c
			JOIN recon_match_status ms ON ms.match_id = c.match_id WHERE ms.status IN ('auto', 'confirmed') GROUP BY c.break_id
		) lc ON lc.break_id = b.break_id
		LEFT JOIN (SELECT c.break_id, MIN(c.match_id) AS match_id FROM recon_break_clears c
			JOIN recon_match_status ms ON ms.match_id = c.match_id WHERE ms.status = 'proposed' GROUP BY c.break_id
		) pc ON pc.break_id = b.break_id
		LEFT JOIN (SELECT break_id, status, match_id, resolution_id FROM (
			SELECT rb.break_id, rb.status, a.match_id, a.resolution_id,
				ROW_NUMBER() OVER (PARTITION BY rb.break_id ORDER BY a.outcome_seq DESC) AS rn
			FROM recon_resolution_breaks rb JOIN recon_resolutions_applied a
				ON a.resolution_id = rb.resolution_id AND a.outcome_seq = rb.outcome_seq) t WHERE rn = 1
		) bo ON bo.break_id = b.break_id`,
	// Period sign-offs (the console): every state after approval, so BI
	// keeps the trail; the view has each sign-off in its latest state.
	`CREATE TABLE IF NOT EXISTS recon_signoffs (
		signoff_id VARCHAR(64) NOT NULL,
		version INTEGER NOT NULL,
		status VARCHAR(16) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		date_from DATE NOT NULL,
		date_to DATE NOT NULL,
		statement_balance {{NUMERIC}} NOT NULL,
		ledger_balance {{NUMERIC}} NOT NULL,
		reconciling_items_total {{NUMERIC}} NOT NULL,
		unexplained_difference {{NUMERIC}} NOT NULL,
		figures {{TEXT}},
		requested_by VARCHAR(256) NOT NULL,
		requested_at {{TS}} NOT NULL,
		comment {{TEXT}},
		approved_by VARCHAR(256) NOT NULL,
		approved_at {{TS}} NOT NULL,
		decision_comment {{TEXT}},
		reopened_by VARCHAR(256),
		reopened_at {{TS}},
		reopen_reason {{TEXT}},
		loaded_at {{TS}} DEFAULT CURRENT_TIMESTAMP,
		PRIMARY KEY (signoff_id, version)
	)`,
	`CREATE VIEW recon_signoff_status AS
		SELECT s.* FROM recon_signoffs s
		WHERE s.version = (SELECT MAX(x.version) FROM recon_signoffs x WHERE x.signoff_id = s.signoff_id)`,
	// What recon export needs to write the records as recon reconcile
	// does: the bank's own reference, and each item's place in its match.
	`ALTER TABLE recon_match_items ADD COLUMN bank_reference {{TEXT}}`,
	`ALTER TABLE recon_match_items ADD COLUMN item_position INTEGER`,
	`ALTER TABLE recon_breaks ADD COLUMN bank_reference {{TEXT}}`,
	`ALTER TABLE recon_breaks ADD COLUMN note {{TEXT}}`,
	// On SQLite the largest table is kept in its primary key's order
	// (WITHOUT ROWID): no second copy of the key in an index, a fifth of
	// the warehouse on a day of a million records.
	"-- sqlite\n" + `CREATE TABLE recon_match_items_v2 (
		match_id VARCHAR(64) NOT NULL,
		side VARCHAR(8) NOT NULL,
		record_id VARCHAR(256) NOT NULL,
		amount TEXT NOT NULL,
		booking_date DATE NOT NULL,
		reference TEXT,
		counterparty TEXT,
		description TEXT,
		source_file TEXT,
		source_position BIGINT,
		ingested_at TEXT,
		bank_reference TEXT,
		item_position INTEGER,
		PRIMARY KEY (match_id, side, record_id)
	) WITHOUT ROWID`,
	"-- sqlite\n" + `INSERT INTO recon_match_items_v2 SELECT match_id, side, record_id, amount, booking_date, reference, counterparty,
		description, source_file, source_position, ingested_at, bank_reference, item_position FROM recon_match_items`,
	"-- sqlite\n" + `DROP TABLE recon_match_items`,
	"-- sqlite\n" + `ALTER TABLE recon_match_items_v2 RENAME TO recon_match_items`,
	// The version of the rule set in force when the matcher decided
	// (DESIGN.md §10; 0 before rules were versioned).
	`ALTER TABLE recon_matches ADD COLUMN rule_version BIGINT DEFAULT 0`,
	`ALTER TABLE recon_breaks ADD COLUMN rule_version BIGINT DEFAULT 0`,
}

// schema is the warehouse's history in dialect d: the steps above, their
// placeholders in the dialect's types.
func schema(d Dialect) migrate.Schema {
	num, ts, text := "NUMERIC(38,6)", "TIMESTAMPTZ", "TEXT"
	switch d {
	case Redshift:
		text = "VARCHAR(65535)"
	case SQLite:
		num, ts = "TEXT", "TEXT" // SQLite has no exact decimal type: amounts stay decimal strings
	}
	arg := "$1"
	if d == SQLite {
		arg = "?"
	}
	return migrate.Schema{Name: "warehouse", Table: "recon_schema_migrations", Dialect: string(d), Steps: migrations, Arg: arg,
		Create: `CREATE TABLE IF NOT EXISTS recon_schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at ` + ts + ` DEFAULT CURRENT_TIMESTAMP)`,
		Expand: strings.NewReplacer("{{NUMERIC}}", num, "{{TS}}", ts, "{{TEXT}}", text).Replace,
		Lock:   d != SQLite} // concurrent loaders starting together
}
