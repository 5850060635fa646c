// Package casestore is the console's case store (docs/design.md §9): the
// breaks and matches as the console works them, on PostgreSQL in
// production and SQLite in the all-in-one mode. The console's consumer
// applies what it reads from the topics with Apply: rows are upserted by
// their deterministic ids and the consumed offsets are stored in the same
// transaction, so a restart resumes exactly, a record read twice changes
// nothing, and the store can be rebuilt from the topics.
//
// Tables:
//
//	case_breaks         one row per break: the record, why, its status and who works it
//	case_matches        one row per match (rule, status, members as JSON)
//	case_break_clears   break -> the matches that name it in clears_break_ids
//	case_outcomes       one row per resolution the matcher decided (the first outcome read wins)
//	case_break_outcome  break -> the status the latest applied resolution gave it
//	case_match_outcome  match -> the status the latest applied resolution gave it
//	case_statements     one row per bank statement's balances
//	case_records, case_record_days, case_match_members   the balance view (balances.go)
//	case_signoffs       period sign-offs (signoffs.go)
//	case_escalations    what was escalated, once per subject and level (escalations.go)
//	case_offsets        consumer, topic, partition -> next offset
//	case_migrations     applied schema versions
//
// A break's status is derived, so that it does not depend on the order in
// which the topics are read: matched while a match that is neither rejected
// nor undone clears it; otherwise the status its latest applied resolution
// gave it (written_off, accepted, open, matched); otherwise proposed while
// a proposed match clears it; otherwise open.
//
// Amounts are exact: the text of the decimal, and its value in millionths
// as a 64-bit integer for filtering and sorting (money is never a float).
package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver, pure Go

	"github.com/openrecon/recon/internal/migrate"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/sqlitefile"
)

// Break statuses.
const (
	StatusOpen       = record.BreakOpen
	StatusMatched    = record.BreakMatched // a match (late counterpart, manual, confirmed) cleared it
	StatusProposed   = "proposed"          // in a proposed match waiting for a person
	StatusWrittenOff = record.BreakWrittenOff
	StatusAccepted   = record.BreakAccepted
)

// Store is a case store connection. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	pg     bool
	source string // for errors: the url without credentials
}

// Open connects to url: postgres://… or postgresql://… (PostgreSQL), or
// sqlite:PATH (SQLite, one file).
func Open(ctx context.Context, url string) (*Store, error) {
	var s *Store
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("case store: %w", err)
		}
		s = &Store{db: db, pg: true, source: redact(url)}
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		db, err := sql.Open("sqlite", sqlitefile.DSN(path, "foreign_keys(1)"))
		if err != nil {
			return nil, fmt.Errorf("case store: %w", err)
		}
		db.SetMaxOpenConns(1) // one writer; readers share it
		s = &Store{db: db, source: path}
	default:
		return nil, fmt.Errorf("case store: %q: want postgres://… or sqlite:PATH", redact(url))
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("case store %s: %w", s.source, err)
	}
	return s, nil
}

// redact drops the password from a URL for messages.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if i := strings.Index(url, "://"); i > 0 && i < at {
			return url[:i+3] + "…" + url[at:]
		}
	}
	return url
}

// Close closes the connection.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites ? placeholders to PostgreSQL's $N.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

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
}

// The columns and keys of case_records and case_match_members (the
// balance view's records and which matches they are in).
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
	ts, js := "TEXT", "TEXT"
	if s.pg {
		ts, js = "TIMESTAMPTZ", "JSONB"
	}
	return strings.NewReplacer("{{TS}}", ts, "{{JSON}}", js).Replace(stmt)
}

// Migrate creates or upgrades the tables; every version runs once, in one
// transaction (on PostgreSQL under a lock, so two consoles starting
// together do not race).
func (s *Store) Migrate(ctx context.Context) error {
	dialect, arg := "sqlite", "?"
	if s.pg {
		dialect, arg = "postgres", "$1"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		return migrate.Schema{Name: "case store " + s.source, Table: "case_migrations", Dialect: dialect, Steps: migrations, Arg: arg,
			Create: `CREATE TABLE IF NOT EXISTS case_migrations (version INTEGER NOT NULL PRIMARY KEY)`, Expand: s.dialect, Lock: s.pg,
			Go: func(ctx context.Context, _ migrate.Tx, _ string) error { return s.backfillMembers(ctx, tx) }, // the one "-- go" step
		}.Apply(ctx, migrate.SQL(tx))
	})
}

// tx runs f in a transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("case store %s: %w", s.source, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("case store %s: %w", s.source, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("case store %s: commit: %w", s.source, err)
	}
	return nil
}

// Offset is a consumed position stored with a batch.
type Offset struct {
	Topic     string
	Partition int32
	Next      int64
}

// Batch is what one transaction applies.
type Batch struct {
	Breaks     []*record.Break
	Matches    []*record.Match
	Outcomes   []Outcome
	Statements []*record.Statement
	Records    []*record.Transaction // booked bank and ledger transactions (the balance view)
	Offsets    []Offset
}

// Outcome is a resolution's outcome with its position in the outcomes
// topic: the outcomes of one account and currency share a partition, so
// Seq orders the resolutions of a break.
type Outcome struct {
	*record.Outcome
	Seq int64
}

// e6 is d in millionths, for filtering and sorting.
func e6(d money.Decimal) (int64, error) {
	v, err := d.Rescale(6)
	if err != nil {
		return 0, err
	}
	return v.Units(), nil
}

// Apply writes a batch and its offsets in one transaction. A break or
// match already stored is left as it is (ids are deterministic: the same
// id is the same content); a match clears the breaks it names, also ones
// that arrive after it.
func (s *Store) Apply(ctx context.Context, consumer string, b *Batch) error {
	now := time.Now().UTC()
	return s.tx(ctx, func(sqlTx *sql.Tx) error {
		tx := newBatchTx(sqlTx)
		defer tx.close()
		for _, br := range b.Breaks {
			amt, err := e6(br.Record.Amount)
			if err != nil {
				return fmt.Errorf("break %s: amount %s: %w", br.BreakID, br.Record.Amount, err)
			}
			cands, err := json.Marshal(candidatesJSON(br.Candidates))
			if err != nil {
				return err
			}
			r := br.Record
			search := strings.ToLower(strings.Join([]string{r.Reference, r.BankReference, r.Counterparty, r.Description, r.ID}, " "))
			var ingested any
			if !r.IngestedAt.IsZero() {
				ingested = r.IngestedAt.UTC()
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_breaks (break_id, side, reason, status, account, currency, amount, amount_e6,
				booking_date, record_id, reference, counterparty, description, source_file, source_position, window_closed_at,
				candidates, ingested_at, search, updated_at, note)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (break_id) DO NOTHING`),
				br.BreakID, string(br.Side), string(br.Reason), StatusOpen, br.Account, br.Currency, r.Amount.String(), amt,
				r.BookingDate.String(), r.ID, r.Reference, r.Counterparty, r.Description, r.SourceFile, r.SourcePosition,
				br.WindowClosedAt.String(), string(cands), ingested, search, now, br.Note); err != nil {
				return fmt.Errorf("break %s: %w", br.BreakID, err)
			}
		}
		for _, m := range b.Matches {
			bank, err := storeItems(m.Bank)
			if err != nil {
				return err
			}
			ledger, err := storeItems(m.Ledger)
			if err != nil {
				return err
			}
			clears, _ := json.Marshal(append([]string{}, m.ClearsBreakIDs...))
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_matches (match_id, rule, status, confidence, account, currency, difference,
				explanation, decided_at, bank, ledger, clears, members) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (match_id) DO UPDATE SET status = excluded.status, explanation = excluded.explanation, clears = excluded.clears
				WHERE excluded.status = 'confirmed' AND case_matches.status <> 'confirmed'`),
				m.MatchID, m.Rule, string(m.Status), int(m.Confidence), m.Account, m.Currency, m.Difference.String(), m.Explanation,
				m.DecidedAt.UTC().Format("2006-01-02"), string(bank), string(ledger), string(clears), len(m.Bank)+len(m.Ledger)); err != nil {
				return fmt.Errorf("match %s: %w", m.MatchID, err)
			}
		}
		if err := s.statements(ctx, tx, b.Statements); err != nil {
			return err
		}
		settle := map[memberKey]bool{}
		if err := s.members(ctx, tx, b.Matches, settle); err != nil {
			return err
		}
		if err := s.records(ctx, tx, b.Records, settle); err != nil {
			return err
		}
		touched, err := s.outcomes(ctx, tx, b, settle)
		if err != nil {
			return err
		}
		// Statuses after every insert: a break that arrives in the same
		// batch as (or after) what decides it gets its status too; so do
		// the records' settled dates.
		if err := s.restatus(ctx, tx, touched, now); err != nil {
			return err
		}
		if err := s.resettle(ctx, tx, settle); err != nil {
			return err
		}
		for _, o := range b.Offsets {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_offsets (consumer, topic, part, next_offset) VALUES (?, ?, ?, ?)
				ON CONFLICT (consumer, topic, part) DO UPDATE SET next_offset = excluded.next_offset`),
				consumer, o.Topic, o.Partition, o.Next); err != nil {
				return fmt.Errorf("offset %s/%d: %w", o.Topic, o.Partition, err)
			}
		}
		return nil
	})
}

// outcomes stores a batch's clears and resolution outcomes and returns
// every break whose status may have changed.
func (s *Store) outcomes(ctx context.Context, tx *batchTx, b *Batch, settle map[memberKey]bool) ([]string, error) {
	seen := map[string]bool{}
	var touched []string
	touch := func(id string) {
		if !seen[id] {
			seen[id] = true
			touched = append(touched, id)
		}
	}
	for _, m := range b.Matches {
		for _, id := range m.ClearsBreakIDs {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_break_clears (break_id, match_id) VALUES (?, ?) ON CONFLICT (break_id, match_id) DO NOTHING`),
				id, m.MatchID); err != nil {
				return nil, fmt.Errorf("clear break %s: %w", id, err)
			}
			touch(id)
		}
	}
	for _, o := range b.Outcomes {
		breaks, _ := json.Marshal(append([]record.BreakState{}, o.Breaks...))
		applied := 0
		if o.Applied {
			applied = 1
		}
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_outcomes (resolution_id, action, account, currency, applied, detail, match_id,
			match_status, breaks, user_name, approved_by, reason_code, comment, decided_at, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resolution_id) DO NOTHING`),
			o.ResolutionID, string(o.Action), o.Account, o.Currency, applied, o.Detail, o.MatchID, o.MatchStatus, string(breaks),
			o.User, o.ApprovedBy, o.ReasonCode, o.Comment, o.DecidedAt.UTC(), o.Seq)
		if err != nil {
			return nil, fmt.Errorf("outcome of %s: %w", o.ResolutionID, err)
		}
		// Only the first outcome of a resolution counts (one sent twice
		// is refused the second time, and that refusal changes nothing).
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		status := ActionApplied
		if !o.Applied {
			status = ActionRefused
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_actions SET status = ?, outcome_detail = ? WHERE resolution_id = ? AND status = ?`),
			status, o.Detail, o.ResolutionID, ActionSent); err != nil {
			return nil, fmt.Errorf("outcome of %s: action: %w", o.ResolutionID, err)
		}
		if !o.Applied {
			continue
		}
		for _, st := range o.Breaks {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_break_outcome (break_id, status, resolution_id, match_id, seq) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (break_id) DO UPDATE SET status = excluded.status, resolution_id = excluded.resolution_id,
				match_id = excluded.match_id, seq = excluded.seq WHERE excluded.seq > case_break_outcome.seq`),
				st.BreakID, st.Status, o.ResolutionID, o.MatchID, o.Seq); err != nil {
				return nil, fmt.Errorf("outcome of %s: break %s: %w", o.ResolutionID, st.BreakID, err)
			}
			touch(st.BreakID)
		}
		if o.MatchID != "" && o.MatchStatus != "" {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_match_outcome (match_id, status, resolution_id, seq) VALUES (?, ?, ?, ?)
				ON CONFLICT (match_id) DO UPDATE SET status = excluded.status, resolution_id = excluded.resolution_id, seq = excluded.seq
				WHERE excluded.seq > case_match_outcome.seq`), o.MatchID, o.MatchStatus, o.ResolutionID, o.Seq); err != nil {
				return nil, fmt.Errorf("outcome of %s: match %s: %w", o.ResolutionID, o.MatchID, err)
			}
			if err := s.touchMatch(ctx, tx, o.MatchID, settle); err != nil {
				return nil, fmt.Errorf("outcome of %s: match %s: %w", o.ResolutionID, o.MatchID, err)
			}
			// The breaks its match clears change with the match.
			rows, err := tx.QueryContext(ctx, s.q(`SELECT break_id FROM case_break_clears WHERE match_id = ?`), o.MatchID)
			if err != nil {
				return nil, err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return nil, err
				}
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				touch(id)
			}
		}
	}
	for _, br := range b.Breaks {
		touch(br.BreakID)
	}
	return touched, nil
}

// restatus derives the status of each break (see the package comment).
func (s *Store) restatus(ctx context.Context, tx *batchTx, ids []string, now time.Time) error {
	for _, id := range ids {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT c.match_id, COALESCE(mo.status, m.status, '') FROM case_break_clears c
			LEFT JOIN case_matches m ON m.match_id = c.match_id LEFT JOIN case_match_outcome mo ON mo.match_id = c.match_id
			WHERE c.break_id = ? ORDER BY c.match_id`), id)
		if err != nil {
			return fmt.Errorf("status of break %s: %w", id, err)
		}
		var live, proposed string
		for rows.Next() {
			var mid, st string
			if err := rows.Scan(&mid, &st); err != nil {
				rows.Close()
				return err
			}
			switch st {
			case string(record.Auto), string(record.Confirmed):
				if live == "" {
					live = mid
				}
			case string(record.Proposed):
				if proposed == "" {
					proposed = mid
				}
			}
		}
		rows.Close()
		status, by := StatusOpen, ""
		var ost, omid string
		err = tx.QueryRowContext(ctx, s.q(`SELECT status, match_id FROM case_break_outcome WHERE break_id = ?`), id).Scan(&ost, &omid)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("status of break %s: %w", id, err)
		}
		switch {
		case live != "":
			status, by = StatusMatched, live
		case ost != "":
			status = ost
			if ost == StatusMatched {
				by = omid
			}
		case proposed != "":
			status, by = StatusProposed, proposed
		}
		var byArg any
		if by != "" {
			byArg = by
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE case_breaks SET status = ?, matched_by = ?, updated_at = ?
			WHERE break_id = ? AND (status <> ? OR COALESCE(matched_by, '') <> ?)`), status, byArg, now, id, status, by); err != nil {
			return fmt.Errorf("status of break %s: %w", id, err)
		}
	}
	return nil
}

// statements stores statement balances (the same statement again changes nothing).
func (s *Store) statements(ctx context.Context, tx *batchTx, sts []*record.Statement) error {
	opt := func(d *money.Decimal) any {
		if d == nil {
			return nil
		}
		return d.String()
	}
	date := func(d *record.Date) any {
		if d == nil {
			return nil
		}
		return d.String()
	}
	for _, st := range sts {
		prov := 0
		if st.Provisional {
			prov = 1
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_statements (statement_id, account, currency, closing_date, closing_balance,
			opening_date, opening_balance, entries, entries_total, provisional, format, source_file, sequence)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (statement_id) DO NOTHING`),
			st.ID, st.Account, st.Currency, date(st.ClosingDate), opt(st.ClosingBalance), date(st.OpeningDate), opt(st.OpeningBalance),
			st.Entries, st.EntriesTotal.String(), prov, st.Format, st.SourceFile, st.Sequence); err != nil {
			return fmt.Errorf("statement %s: %w", st.ID, err)
		}
	}
	return nil
}

// Offsets returns the stored next offsets of consumer: topic -> partition -> offset.
func (s *Store) Offsets(ctx context.Context, consumer string) (map[string]map[int32]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT topic, part, next_offset FROM case_offsets WHERE consumer = ?`), consumer)
	if err != nil {
		return nil, fmt.Errorf("case store %s: offsets: %w", s.source, err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var t string
		var p int32
		var n int64
		if err := rows.Scan(&t, &p, &n); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = n
	}
	return out, rows.Err()
}

// Candidate is a break's candidate counterpart as stored (Break.Candidates).
type Candidate struct {
	ID          string `json:"id"`
	Amount      string `json:"amount"`
	BookingDate string `json:"booking_date"`
	Reference   string `json:"reference"`
	Score       int    `json:"score"`
	Note        string `json:"note"`
}

func candidatesJSON(cs []record.Candidate) []Candidate {
	out := make([]Candidate, 0, len(cs))
	for _, c := range cs {
		out = append(out, Candidate{ID: c.ID, Amount: c.Amount.String(), BookingDate: c.BookingDate.String(),
			Reference: c.Reference, Score: c.Score, Note: c.Note})
	}
	return out
}

func itemsJSON(its []record.Item) []MatchItem {
	out := make([]MatchItem, 0, len(its))
	for _, it := range its {
		out = append(out, MatchItem{ID: it.ID, Amount: it.Amount.String(), BookingDate: it.BookingDate.String(), Reference: it.Reference,
			Counterparty: it.Counterparty, Description: it.Description, SourceFile: it.SourceFile, SourcePosition: it.SourcePosition})
	}
	return out
}

// Break is a break as the console shows it.
type Break struct {
	BreakID, Side, Reason, Status string
	Account, Currency             string
	Amount                        money.Decimal
	BookingDate, WindowClosedAt   record.Date
	RecordID, Reference           string
	Counterparty, Description     string
	SourceFile                    string
	SourcePosition                int64
	Candidates                    json.RawMessage
	MatchedBy, Assignee           string
	Note                          string // what the matcher could not search (a group search bound it hit)
}

// Filter selects and orders breaks. The zero Filter is the open breaks,
// oldest first, 50 at a time.
type Filter struct {
	Status                 string // open (default), proposed, matched, written_off, accepted, resolved, all
	Account, Currency      string
	Side, Reason, Assignee string
	Today                  record.Date // age is Today - booking date
	MinAgeDays, MaxAgeDays int         // 0: no bound
	MinAmount, MaxAmount   *money.Decimal
	Text                   string // in reference, bank reference, counterparty, description or record id
	Sort                   string // age (oldest first, default), -age, amount, -amount
	Limit                  int    // default 50, at most 1000
	Cursor                 string // from the previous page
}

// Sorts are the orders ListBreaks knows.
var sorts = map[string]struct {
	col  string
	desc bool
}{"age": {"booking_date", false}, "-age": {"booking_date", true}, "amount": {"amount_e6", false}, "-amount": {"amount_e6", true}}

// ErrBadFilter: a filter value the store cannot use.
var ErrBadFilter = errors.New("bad filter")

// where builds the filter's conditions and arguments.
func (f Filter) where(pg bool, text textMatch) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	switch f.Status {
	case "", StatusOpen:
		add("status = ?", StatusOpen)
	case StatusMatched, StatusProposed, StatusWrittenOff, StatusAccepted:
		add("status = ?", f.Status)
	case "resolved":
		add("status IN (?, ?, ?)", StatusMatched, StatusWrittenOff, StatusAccepted)
	case "all":
	default:
		return "", nil, fmt.Errorf("%w: status %q: want open, proposed, matched, written_off, accepted, resolved or all", ErrBadFilter, f.Status)
	}
	for _, eq := range []struct{ col, v string }{{"account", f.Account}, {"currency", f.Currency}, {"side", f.Side}, {"reason", f.Reason}, {"assignee", f.Assignee}} {
		if eq.v != "" {
			add(eq.col+" = ?", eq.v)
		}
	}
	if f.MinAgeDays > 0 {
		add("booking_date <= ?", (f.Today - record.Date(f.MinAgeDays)).String())
	}
	if f.MaxAgeDays > 0 {
		add("booking_date >= ?", (f.Today - record.Date(f.MaxAgeDays)).String())
	}
	for _, b := range []struct {
		v  *money.Decimal
		op string
	}{{f.MinAmount, ">="}, {f.MaxAmount, "<="}} {
		if b.v == nil {
			continue
		}
		n, err := e6(*b.v)
		if err != nil {
			return "", nil, fmt.Errorf("%w: amount %s: %v", ErrBadFilter, b.v, err)
		}
		add("amount_e6 "+b.op+" ?", n)
	}
	if t := strings.TrimSpace(strings.ToLower(f.Text)); t != "" {
		if text.ids != nil {
			add(`rowid IN (SELECT value FROM json_each(?))`, text.ids)
		} else {
			t = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(t)
			add(`search LIKE ? ESCAPE '\'`, "%"+t+"%")
		}
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// textMatch is how a filter's text is looked up: on SQLite, a text of
// three or more characters is first looked up in the trigram index; when
// it matches few breaks, their row ids (a JSON array) select them; when it
// matches many, a plain LIKE along the sort's index finds a page sooner.
type textMatch struct {
	ids any // JSON array of row ids, or nil for LIKE
}

// textMatchMax is where "few" ends.
const textMatchMax = 5000

func (s *Store) textMatch(ctx context.Context, f Filter) (textMatch, error) {
	t := strings.TrimSpace(strings.ToLower(f.Text))
	if s.pg || utf8.RuneCountInString(t) < 3 || strings.ContainsAny(t, `%_\`) {
		return textMatch{}, nil
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT rowid FROM case_breaks_fts WHERE search LIKE ? LIMIT %d`, textMatchMax+1), "%"+t+"%")
	if err != nil {
		return textMatch{}, fmt.Errorf("case store %s: text: %w", s.source, err)
	}
	defer rows.Close()
	ids := make([]int64, 0, 64)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return textMatch{}, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) > textMatchMax {
		return textMatch{}, err
	}
	b, _ := json.Marshal(ids)
	return textMatch{ids: string(b)}, nil
}

// where is the filter's WHERE clause on this store.
func (s *Store) where(ctx context.Context, f Filter) (string, []any, error) {
	tm, err := s.textMatch(ctx, f)
	if err != nil {
		return "", nil, err
	}
	return f.where(s.pg, tm)
}

const breakColumns = `break_id, side, reason, status, account, currency, amount, booking_date, window_closed_at, record_id,
	reference, counterparty, description, source_file, source_position, candidates, COALESCE(matched_by, ''), COALESCE(assignee, ''),
	COALESCE(note, '')`

// ListBreaks returns a page of the breaks f selects, in f's order, and the
// cursor of the next page ("" after the last).
func (s *Store) ListBreaks(ctx context.Context, f Filter) ([]Break, string, error) {
	if f.Sort == "" {
		f.Sort = "age"
	}
	srt, ok := sorts[f.Sort]
	if !ok {
		return nil, "", fmt.Errorf("%w: sort %q: want age, -age, amount or -amount", ErrBadFilter, f.Sort)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	where, args, err := s.where(ctx, f)
	if err != nil {
		return nil, "", err
	}
	// Keyset paging: the page starts after the cursor's (sort key, id).
	if f.Cursor != "" {
		key, id, ok := strings.Cut(f.Cursor, "~")
		if !ok || id == "" {
			return nil, "", fmt.Errorf("%w: cursor %q", ErrBadFilter, f.Cursor)
		}
		var k any = key
		if srt.col == "amount_e6" {
			n, err := strconv.ParseInt(key, 10, 64)
			if err != nil {
				return nil, "", fmt.Errorf("%w: cursor %q", ErrBadFilter, f.Cursor)
			}
			k = n
		}
		op := ">"
		if srt.desc {
			op = "<"
		}
		// A row value: both databases walk the sort's index from it.
		cond := fmt.Sprintf("(%s, break_id) %s (?, ?)", srt.col, op)
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		args = append(args, k, id)
	}
	dir := "ASC"
	if srt.desc {
		dir = "DESC"
	}
	query := "SELECT " + breakColumns + ", amount_e6 FROM case_breaks" + where +
		fmt.Sprintf(" ORDER BY %s %s, break_id %s LIMIT %d", srt.col, dir, dir, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, "", fmt.Errorf("case store %s: list breaks: %w", s.source, err)
	}
	defer rows.Close()
	var out []Break
	var keys []string
	for rows.Next() {
		b, e6v, err := scanBreak(rows)
		if err != nil {
			return nil, "", err
		}
		key := b.BookingDate.String()
		if srt.col == "amount_e6" {
			key = strconv.FormatInt(e6v, 10)
		}
		out = append(out, b)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = keys[f.Limit-1] + "~" + out[f.Limit-1].BreakID
	}
	return out, next, nil
}

// scanBreak reads one row of breakColumns and amount_e6.
func scanBreak(rows interface{ Scan(...any) error }) (Break, int64, error) {
	var b Break
	var amount string
	var bd, wc dateValue
	var cands []byte
	var e6v int64
	if err := rows.Scan(&b.BreakID, &b.Side, &b.Reason, &b.Status, &b.Account, &b.Currency, &amount, &bd, &wc, &b.RecordID,
		&b.Reference, &b.Counterparty, &b.Description, &b.SourceFile, &b.SourcePosition, &cands, &b.MatchedBy, &b.Assignee, &b.Note, &e6v); err != nil {
		return b, 0, err
	}
	var err error
	if b.Amount, err = money.Parse(amount); err != nil {
		return b, 0, fmt.Errorf("break %s: stored amount %q: %w", b.BreakID, amount, err)
	}
	b.BookingDate, b.WindowClosedAt, b.Candidates = bd.d, wc.d, json.RawMessage(cands)
	return b, e6v, nil
}

// GetBreak returns one break (ErrNotFound if there is none).
func (s *Store) GetBreak(ctx context.Context, id string) (*Break, error) {
	row := s.db.QueryRowContext(ctx, s.q("SELECT "+breakColumns+", amount_e6 FROM case_breaks WHERE break_id = ?"), id)
	b, _, err := scanBreak(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: break %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("case store %s: break %s: %w", s.source, id, err)
	}
	return &b, nil
}

// BreakIDs returns the ids of the breaks f selects (paging aside), at
// most max of them, and whether there were more.
func (s *Store) BreakIDs(ctx context.Context, f Filter, max int) ([]string, bool, error) {
	f.Cursor = ""
	where, args, err := s.where(ctx, f)
	if err != nil {
		return nil, false, err
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT break_id FROM case_breaks"+where+fmt.Sprintf(" ORDER BY break_id LIMIT %d", max+1)), args...)
	if err != nil {
		return nil, false, fmt.Errorf("case store %s: break ids: %w", s.source, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		out = append(out, id)
	}
	if len(out) > max {
		return out[:max], true, rows.Err()
	}
	return out, false, rows.Err()
}

// CountBreaksUpTo counts the breaks f selects, stopping at max (so a
// broad filter over many breaks answers fast): the count, and whether
// there are more.
func (s *Store) CountBreaksUpTo(ctx context.Context, f Filter, max int64) (int64, bool, error) {
	f.Cursor = ""
	where, args, err := s.where(ctx, f)
	if err != nil {
		return 0, false, err
	}
	var n int64
	q := fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM case_breaks%s LIMIT %d) t", where, max+1)
	if err := s.db.QueryRowContext(ctx, s.q(q), args...).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("case store %s: count breaks: %w", s.source, err)
	}
	if n > max {
		return max, true, nil
	}
	return n, false, nil
}

// CountBreaks is the number of breaks f selects (paging aside).
func (s *Store) CountBreaks(ctx context.Context, f Filter) (int64, error) {
	f.Cursor = ""
	where, args, err := s.where(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM case_breaks"+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("case store %s: count breaks: %w", s.source, err)
	}
	return n, nil
}

// dateValue scans a DATE column: a time from PostgreSQL, text from SQLite.
type dateValue struct{ d record.Date }

func (v *dateValue) Scan(src any) error {
	switch t := src.(type) {
	case time.Time:
		v.d = record.Date(t.Unix() / 86400)
		return nil
	case string:
		d, err := record.ParseDate(t[:min(len(t), 10)])
		v.d = d
		return err
	case []byte:
		d, err := record.ParseDate(string(t[:min(len(t), 10)]))
		v.d = d
		return err
	}
	return fmt.Errorf("date: unexpected %T", src)
}

// batchTx is a transaction that prepares each statement text once: the
// feed's batches run the same few statements thousands of times, and
// parsing them again each time was most of SQLite's work.
type batchTx struct {
	*sql.Tx
	stmts map[string]*sql.Stmt
}

func newBatchTx(tx *sql.Tx) *batchTx { return &batchTx{Tx: tx, stmts: map[string]*sql.Stmt{}} }

func (t *batchTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

// ExecContext runs query as a prepared statement of the transaction.
func (t *batchTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query as a prepared statement of the transaction.
func (t *batchTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query as a prepared statement of the transaction;
// a failed prepare shows as the row's error.
func (t *batchTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return t.Tx.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// close releases the prepared statements.
func (t *batchTx) close() {
	for _, st := range t.stmts {
		st.Close()
	}
}
