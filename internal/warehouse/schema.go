package warehouse

import "strings"

// migrations are applied in order; each runs once (recon_schema_migrations).
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
}

func migrationSQL(d Dialect, i int) string {
	s := migrations[i]
	num, ts, text := "NUMERIC(38,6)", "TIMESTAMPTZ", "TEXT"
	switch d {
	case Redshift:
		text = "VARCHAR(65535)"
	case SQLite:
		num, ts = "TEXT", "TEXT" // SQLite has no exact decimal type: amounts stay decimal strings
	}
	return strings.NewReplacer("{{NUMERIC}}", num, "{{TS}}", ts, "{{TEXT}}", text).Replace(s)
}
