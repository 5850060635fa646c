package casestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/openrecon/recon/internal/migrate"
)

// migrations are the schema versions, applied in order, each once.
// {{TS}} is a timestamp type, {{JSON}} a JSON text type.
var migrations = []string{
	`CREATE TABLE case_breaks (
		break_id VARCHAR(64) NOT NULL PRIMARY KEY,
		side VARCHAR(8) NOT NULL,
		reason VARCHAR(32) NOT NULL,
		status VARCHAR(16) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		amount VARCHAR(40) NOT NULL,
		amount_e6 BIGINT NOT NULL,
		booking_date DATE NOT NULL,
		record_id VARCHAR(256) NOT NULL,
		reference TEXT NOT NULL DEFAULT '',
		counterparty TEXT NOT NULL DEFAULT '',
		description TEXT NOT NULL DEFAULT '',
		source_file TEXT NOT NULL DEFAULT '',
		source_position BIGINT NOT NULL DEFAULT 0,
		window_closed_at DATE NOT NULL,
		candidates {{JSON}} NOT NULL,
		ingested_at {{TS}},
		matched_by VARCHAR(64),
		assignee VARCHAR(256),
		search TEXT NOT NULL DEFAULT '',
		updated_at {{TS}} NOT NULL
	)`,
	`CREATE INDEX case_breaks_queue ON case_breaks (status, booking_date, break_id)`,
	`CREATE INDEX case_breaks_account ON case_breaks (status, account, currency, booking_date)`,
	`CREATE INDEX case_breaks_assignee ON case_breaks (assignee, status, booking_date)`,
	`CREATE INDEX case_breaks_record ON case_breaks (record_id)`,
	`CREATE INDEX case_breaks_amount ON case_breaks (status, amount_e6, break_id)`,
	`CREATE TABLE case_matches (
		match_id VARCHAR(64) NOT NULL PRIMARY KEY,
		rule VARCHAR(64) NOT NULL,
		status VARCHAR(16) NOT NULL,
		confidence INTEGER NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		difference VARCHAR(40) NOT NULL,
		explanation TEXT NOT NULL DEFAULT '',
		decided_at DATE NOT NULL,
		bank {{JSON}} NOT NULL,
		ledger {{JSON}} NOT NULL,
		clears {{JSON}} NOT NULL
	)`,
	`CREATE INDEX case_matches_status ON case_matches (status, decided_at)`,
	`CREATE TABLE case_clears (
		break_id VARCHAR(64) NOT NULL PRIMARY KEY,
		match_id VARCHAR(64) NOT NULL
	)`,
	`CREATE TABLE case_offsets (
		consumer VARCHAR(128) NOT NULL,
		topic VARCHAR(256) NOT NULL,
		part INTEGER NOT NULL,
		next_offset BIGINT NOT NULL,
		PRIMARY KEY (consumer, topic, part)
	)`,
	// A break can be cleared by more than one match over time (a manual
	// match undone, then another).
	`CREATE TABLE case_break_clears (
		break_id VARCHAR(64) NOT NULL,
		match_id VARCHAR(64) NOT NULL,
		PRIMARY KEY (break_id, match_id)
	)`,
	`INSERT INTO case_break_clears (break_id, match_id) SELECT break_id, match_id FROM case_clears`,
	`DROP TABLE case_clears`,
	`CREATE INDEX case_break_clears_match ON case_break_clears (match_id)`,
	`CREATE TABLE case_outcomes (
		resolution_id VARCHAR(128) NOT NULL PRIMARY KEY,
		action VARCHAR(32) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		applied INTEGER NOT NULL,
		detail TEXT NOT NULL,
		match_id VARCHAR(64) NOT NULL,
		match_status VARCHAR(16) NOT NULL,
		breaks {{JSON}} NOT NULL,
		user_name VARCHAR(256) NOT NULL,
		approved_by VARCHAR(256) NOT NULL,
		reason_code VARCHAR(64) NOT NULL,
		comment TEXT NOT NULL,
		decided_at {{TS}} NOT NULL,
		seq BIGINT NOT NULL
	)`,
	`CREATE TABLE case_break_outcome (
		break_id VARCHAR(64) NOT NULL PRIMARY KEY,
		status VARCHAR(16) NOT NULL,
		resolution_id VARCHAR(128) NOT NULL,
		match_id VARCHAR(64) NOT NULL,
		seq BIGINT NOT NULL
	)`,
	`CREATE TABLE case_match_outcome (
		match_id VARCHAR(64) NOT NULL PRIMARY KEY,
		status VARCHAR(16) NOT NULL,
		resolution_id VARCHAR(128) NOT NULL,
		seq BIGINT NOT NULL
	)`,
	`CREATE TABLE case_statements (
		statement_id VARCHAR(128) NOT NULL PRIMARY KEY,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		closing_date DATE,
		closing_balance VARCHAR(40),
		opening_date DATE,
		opening_balance VARCHAR(40),
		entries INTEGER NOT NULL,
		entries_total VARCHAR(40) NOT NULL,
		provisional INTEGER NOT NULL,
		format VARCHAR(32) NOT NULL,
		source_file TEXT NOT NULL
	)`,
	`CREATE INDEX case_statements_day ON case_statements (account, currency, closing_date)`,
	// Workflow (workflow.go): people's actions and requests, comments, the
	// audit chain, sign-in sessions.
	`CREATE TABLE case_actions (
		action_id VARCHAR(64) NOT NULL PRIMARY KEY,
		kind VARCHAR(32) NOT NULL,
		status VARCHAR(24) NOT NULL,
		user_name VARCHAR(256) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency VARCHAR(3) NOT NULL,
		break_ids {{JSON}} NOT NULL,
		record_ids {{JSON}} NOT NULL,
		match_id VARCHAR(64) NOT NULL,
		reason_code VARCHAR(64) NOT NULL,
		comment TEXT NOT NULL,
		attachment TEXT NOT NULL,
		assignee VARCHAR(256) NOT NULL,
		difference VARCHAR(40) NOT NULL,
		requested_at {{TS}} NOT NULL,
		decided_by VARCHAR(256) NOT NULL,
		decided_at {{TS}},
		decision_comment TEXT NOT NULL,
		resolution_id VARCHAR(128) NOT NULL,
		sent INTEGER NOT NULL,
		outcome_detail TEXT NOT NULL
	)`,
	`CREATE INDEX case_actions_status ON case_actions (status, requested_at)`,
	`CREATE INDEX case_actions_resolution ON case_actions (resolution_id)`,
	`CREATE TABLE case_action_breaks (
		break_id VARCHAR(64) NOT NULL,
		action_id VARCHAR(64) NOT NULL,
		PRIMARY KEY (break_id, action_id)
	)`,
	`CREATE TABLE case_comments (
		comment_id VARCHAR(80) NOT NULL PRIMARY KEY,
		break_id VARCHAR(64) NOT NULL,
		user_name VARCHAR(256) NOT NULL,
		body TEXT NOT NULL,
		at {{TS}} NOT NULL
	)`,
	`CREATE INDEX case_comments_break ON case_comments (break_id, at)`,
	`CREATE TABLE case_audit (
		seq BIGINT NOT NULL PRIMARY KEY,
		entry TEXT NOT NULL,
		prev_hash VARCHAR(64) NOT NULL,
		hash VARCHAR(64) NOT NULL
	)`,
	`CREATE TABLE case_sessions (
		id_hash VARCHAR(64) NOT NULL PRIMARY KEY,
		user_name VARCHAR(256) NOT NULL,
		display_name VARCHAR(256) NOT NULL,
		roles VARCHAR(256) NOT NULL,
		csrf VARCHAR(64) NOT NULL,
		expires_at {{TS}} NOT NULL
	)`,
	`ALTER TABLE case_matches ADD COLUMN members INTEGER NOT NULL DEFAULT 0`,
	`CREATE INDEX case_breaks_closed ON case_breaks (window_closed_at)`,
	// Text search: a trigram index, so a substring of a reference or a
	// name is found without reading every break (SQLite FTS5; PostgreSQL
	// pg_trgm where the extension can be created: without it, a scan).
	"-- sqlite\n" + `CREATE VIRTUAL TABLE case_breaks_fts USING fts5(search, content='case_breaks', content_rowid='rowid', tokenize='trigram')`,
	"-- sqlite\n" + `INSERT INTO case_breaks_fts (rowid, search) SELECT rowid, search FROM case_breaks`,
	"-- sqlite\n" + `CREATE TRIGGER case_breaks_fts_insert AFTER INSERT ON case_breaks BEGIN
		INSERT INTO case_breaks_fts (rowid, search) VALUES (new.rowid, new.search); END`,
	"-- sqlite\n" + `CREATE TRIGGER case_breaks_fts_delete AFTER DELETE ON case_breaks BEGIN
		INSERT INTO case_breaks_fts (case_breaks_fts, rowid, search) VALUES ('delete', old.rowid, old.search); END`,
	"-- sqlite\n" + `CREATE TRIGGER case_breaks_fts_update AFTER UPDATE OF search ON case_breaks BEGIN
		INSERT INTO case_breaks_fts (case_breaks_fts, rowid, search) VALUES ('delete', old.rowid, old.search);
		INSERT INTO case_breaks_fts (rowid, search) VALUES (new.rowid, new.search); END`,
	"-- postgres optional\n" + `CREATE EXTENSION IF NOT EXISTS pg_trgm`,
	"-- postgres optional\n" + `CREATE INDEX case_breaks_search ON case_breaks USING gin (search gin_trgm_ops)`,
	`CREATE INDEX case_breaks_reason ON case_breaks (status, reason, booking_date, break_id)`,
	// The balance view (balances.go).
	`CREATE TABLE case_records (` + caseRecordsColumns + `)`,
	`CREATE INDEX case_records_open ON case_records (account, currency, settled, booking_date)`,
	`CREATE TABLE case_record_days (
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		side VARCHAR(8) NOT NULL,
		booking_date DATE NOT NULL,
		total VARCHAR(48) NOT NULL,
		n INTEGER NOT NULL,
		PRIMARY KEY (account, currency, side, booking_date)
	)`,
	`CREATE TABLE case_match_members (` + caseMatchMembersColumns + `)`,
	`CREATE INDEX case_match_members_match ON case_match_members (match_id)`,
	`ALTER TABLE case_matches ADD COLUMN first_date DATE`,
	`ALTER TABLE case_matches ADD COLUMN last_date DATE`,
	`ALTER TABLE case_matches ADD COLUMN diff_zero INTEGER NOT NULL DEFAULT 1`,
	`CREATE INDEX case_matches_span ON case_matches (account, currency, last_date)`,
	"-- go\nbackfill-members",
	`CREATE TABLE case_signoffs (
		signoff_id VARCHAR(64) NOT NULL PRIMARY KEY,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		date_from DATE NOT NULL,
		date_to DATE NOT NULL,
		status VARCHAR(24) NOT NULL,
		requested_by VARCHAR(256) NOT NULL,
		requested_at {{TS}} NOT NULL,
		comment TEXT NOT NULL,
		figures TEXT NOT NULL,
		approved_by VARCHAR(256) NOT NULL,
		approved_at {{TS}},
		decision_comment TEXT NOT NULL,
		reopened_by VARCHAR(256) NOT NULL,
		reopened_at {{TS}},
		reopen_reason TEXT NOT NULL,
		version INTEGER NOT NULL,
		sent_version INTEGER NOT NULL
	)`,
	`CREATE INDEX case_signoffs_days ON case_signoffs (account, currency, status, date_from)`,
	`CREATE INDEX case_outcomes_match ON case_outcomes (match_id)`,
	// Escalation (escalations.go).
	`CREATE TABLE case_escalations (
		escalation_id VARCHAR(64) NOT NULL PRIMARY KEY,
		kind VARCHAR(24) NOT NULL,
		level INTEGER NOT NULL,
		subject_id VARCHAR(128) NOT NULL,
		recipient VARCHAR(256) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		reason VARCHAR(64) NOT NULL,
		amount VARCHAR(48) NOT NULL,
		age VARCHAR(16) NOT NULL,
		sla VARCHAR(16) NOT NULL,
		detail TEXT NOT NULL,
		url TEXT NOT NULL,
		escalated_at {{TS}} NOT NULL,
		sent INTEGER NOT NULL
	)`,
	`CREATE INDEX case_escalations_subject ON case_escalations (subject_id, level)`,
	`CREATE INDEX case_escalations_unsent ON case_escalations (sent, escalated_at)`,
	// What the matcher could not search for a break (a group search bound).
	`ALTER TABLE case_breaks ADD COLUMN note TEXT`,
	// Statement numbers, for the continuity checks (continuity.go).
	`ALTER TABLE case_statements ADD COLUMN sequence VARCHAR(64)`,
	// Rules as versioned data (rules.go, DESIGN.md §10).
	`ALTER TABLE case_matches ADD COLUMN rule_version BIGINT`,
	`ALTER TABLE case_breaks ADD COLUMN rule_version BIGINT`,
	`CREATE TABLE case_rule_versions (
		version BIGINT NOT NULL PRIMARY KEY,
		yaml TEXT NOT NULL,
		aliases TEXT NOT NULL,
		hash VARCHAR(64) NOT NULL,
		author VARCHAR(256) NOT NULL,
		approver VARCHAR(256) NOT NULL,
		comment TEXT NOT NULL,
		activated_at {{TS}} NOT NULL,
		proposal_id VARCHAR(64) NOT NULL
	)`,
	`CREATE TABLE case_rule_proposals (
		proposal_id VARCHAR(64) NOT NULL PRIMARY KEY,
		base_version BIGINT NOT NULL,
		yaml TEXT NOT NULL,
		aliases TEXT NOT NULL,
		comment TEXT NOT NULL,
		period_from VARCHAR(10) NOT NULL,
		period_to VARCHAR(10) NOT NULL,
		author VARCHAR(256) NOT NULL,
		status VARCHAR(16) NOT NULL,
		diff TEXT NOT NULL,
		samples TEXT NOT NULL,
		error TEXT NOT NULL,
		action_id VARCHAR(64) NOT NULL,
		version BIGINT NOT NULL,
		created_at {{TS}} NOT NULL
	)`,
	`CREATE INDEX case_rule_proposals_action ON case_rule_proposals (action_id)`,
	// Decisions on what the console learned from people (suggestions.go).
	`CREATE TABLE case_suggestions (
		suggestion_id VARCHAR(64) NOT NULL PRIMARY KEY,
		kind VARCHAR(16) NOT NULL,
		status VARCHAR(16) NOT NULL,
		decided_by VARCHAR(256) NOT NULL,
		decided_at {{TS}} NOT NULL,
		comment TEXT NOT NULL,
		detail TEXT NOT NULL
	)`,
	// The balance view's records stored once (balances.go): a match names
	// its members by the records' integer keys instead of carrying copies
	// of them, and a record names its file and account by theirs.
	`CREATE TABLE case_files (
		file_id {{ID}},
		name VARCHAR(1024) NOT NULL UNIQUE
	)`,
	`CREATE TABLE case_accounts (
		acct_id {{ID}},
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		UNIQUE (account, currency)
	)`,
	`CREATE TABLE case_recs (
		rec {{ID}},
		record_id VARCHAR(256) NOT NULL,
		file_id BIGINT NOT NULL,
		source_position BIGINT NOT NULL,
		side VARCHAR(8) NOT NULL,
		acct_id BIGINT NOT NULL,
		booked INTEGER NOT NULL,
		amount VARCHAR(40) NOT NULL,
		booking_date DATE NOT NULL,
		reference TEXT NOT NULL,
		counterparty TEXT NOT NULL,
		description TEXT NOT NULL,
		settled DATE NOT NULL,
		UNIQUE (record_id, file_id, source_position)
	)`,
	`CREATE TABLE case_matches_v2 (
		mrow {{ID}},
		match_id VARCHAR(64) NOT NULL UNIQUE,
		rule VARCHAR(64) NOT NULL,
		status VARCHAR(16) NOT NULL,
		confidence INTEGER NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		difference VARCHAR(40) NOT NULL,
		explanation TEXT NOT NULL DEFAULT '',
		decided_at DATE NOT NULL,
		clears {{JSON}} NOT NULL,
		members INTEGER NOT NULL DEFAULT 0,
		first_date DATE,
		last_date DATE,
		diff_zero INTEGER NOT NULL DEFAULT 1,
		rule_version BIGINT
	)`,
	`CREATE TABLE case_match_recs (
		rec BIGINT NOT NULL,
		mrow BIGINT NOT NULL,
		item INTEGER NOT NULL,
		PRIMARY KEY (rec, mrow)
	){{NOROWID}}`,
	`INSERT INTO case_matches_v2 (match_id, rule, status, confidence, account, currency, difference, explanation, decided_at, clears,
		members, first_date, last_date, diff_zero, rule_version)
		SELECT match_id, rule, status, confidence, account, currency, difference, explanation, decided_at, clears,
		members, first_date, last_date, diff_zero, rule_version FROM case_matches ORDER BY decided_at, match_id`,
	`ALTER TABLE case_matches RENAME TO case_matches_v1`,
	`ALTER TABLE case_matches_v2 RENAME TO case_matches`,
	"-- go\nnormalise-records",
	`DROP TABLE case_match_members`,
	`DROP TABLE case_records`,
	`DROP TABLE case_matches_v1`,
	`CREATE INDEX case_matches_status ON case_matches (status, decided_at)`,
	`CREATE INDEX case_matches_span ON case_matches (account, currency, last_date)`,
	`CREATE INDEX case_match_recs_match ON case_match_recs (mrow)`,
	`CREATE INDEX case_recs_open ON case_recs (acct_id, settled, booking_date)`,
	// What the warehouse's views over this store (warehouse.go) show
	// beyond what the console needs: each record's bank reference and
	// ingestion time, each match's decision time to the millisecond, when
	// it was stored, how many of its items are the bank's, and its first
	// status and explanation when a confirmation replaced them.
	`ALTER TABLE case_recs ADD COLUMN bank_reference TEXT`,
	`ALTER TABLE case_recs ADD COLUMN ingested_ms BIGINT`,
	`ALTER TABLE case_matches ADD COLUMN decided_ms BIGINT`,
	`ALTER TABLE case_matches ADD COLUMN loaded_s BIGINT`,
	`ALTER TABLE case_matches ADD COLUMN bank_n INTEGER`,
	`ALTER TABLE case_matches ADD COLUMN emitted_status VARCHAR(16)`,
	`ALTER TABLE case_matches ADD COLUMN emitted_explanation TEXT`,
}

// The columns and keys of case_records and case_match_members as the
// balance view first stored them (since normalise-records: case_recs and
// case_match_recs).
const (
	caseRecordsColumns = `
		record_id VARCHAR(256) NOT NULL,
		source_file VARCHAR(1024) NOT NULL,
		source_position BIGINT NOT NULL,
		side VARCHAR(8) NOT NULL,
		account VARCHAR(256) NOT NULL,
		currency CHAR(3) NOT NULL,
		amount VARCHAR(40) NOT NULL,
		amount_e6 BIGINT NOT NULL,
		booking_date DATE NOT NULL,
		reference TEXT NOT NULL,
		counterparty TEXT NOT NULL,
		settled DATE NOT NULL,
		PRIMARY KEY (record_id, source_file, source_position)
	`
	caseMatchMembersColumns = `
		record_id VARCHAR(256) NOT NULL,
		source_file VARCHAR(1024) NOT NULL,
		source_position BIGINT NOT NULL,
		match_id VARCHAR(64) NOT NULL,
		PRIMARY KEY (record_id, source_file, source_position, match_id)
	`
)

func (s *Store) dialect(stmt string) string {
	ts, js, id, norowid := "TEXT", "TEXT", "INTEGER PRIMARY KEY", " WITHOUT ROWID"
	if s.pg {
		ts, js, id, norowid = "TIMESTAMPTZ", "JSONB", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", ""
	}
	return strings.NewReplacer("{{TS}}", ts, "{{JSON}}", js, "{{ID}}", id, "{{NOROWID}}", norowid).Replace(stmt)
}

// Migrate creates or upgrades the tables; every version runs once, in one
// transaction (on PostgreSQL under a lock, so two consoles starting
// together do not race).
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, migrations) }

// migrate applies steps (Migrate: all of them; a test: the first few).
func (s *Store) migrate(ctx context.Context, steps []string) error {
	dialect, arg := "sqlite", "?"
	if s.pg {
		dialect, arg = "postgres", "$1"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		return migrate.Schema{Name: "case store " + s.source, Table: "case_migrations", Dialect: dialect, Steps: steps, Arg: arg,
			Create: `CREATE TABLE IF NOT EXISTS case_migrations (version INTEGER NOT NULL PRIMARY KEY)`, Expand: s.dialect, Lock: s.pg,
			Go: func(ctx context.Context, _ migrate.Tx, step string) error {
				switch step {
				case "backfill-members":
					// Superseded: normalise-records derives every match's
					// members and span from its items.
					return nil
				case "normalise-records":
					return s.normaliseRecords(ctx, tx)
				}
				return fmt.Errorf("unknown step %q", step)
			},
		}.Apply(ctx, migrate.SQL(tx))
	})
}
