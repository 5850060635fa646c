// Package warehouse writes matches and breaks to the reporting database:
// Amazon Redshift (through pgx), PostgreSQL, or an SQLite file for the
// all-in-one mode. Every write is idempotent on match_id / break_id, and the
// consumed Kafka offsets are stored in the same database transaction, so a
// loader that restarts resumes exactly where its last commit ended.
//
// Tables (shaped for BI tools):
//
//	recon_matches        one row per match (rule, confidence, status, difference)
//	recon_match_items    one row per member record of a match
//	recon_breaks         one row per break (the unmatched record and why)
//	recon_break_clears   break_id, match_id for breaks a match (late, manual, confirmed) names
//	recon_resolutions    one row per outcome of a person's resolution (the console)
//	recon_resolution_breaks the breaks each resolution changed, with their new status
//	recon_signoffs       one row per state of a period sign-off after approval (version 1 signed off, 2 reopened)
//	recon_signoff_status view: every sign-off in its latest state
//	recon_match_status   view: every match with its status now (auto, proposed, confirmed, rejected, unmatched)
//	recon_break_status   view: every break with its status now (open, proposed, matched, written_off, accepted)
//	recon_loader_offsets consumer, topic, partition -> next offset
package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/openrecon/recon/internal/record"
)

// Dialect is the SQL flavour of the database.
type Dialect string

// Supported dialects.
const (
	Postgres Dialect = "postgres"
	Redshift Dialect = "redshift"
	SQLite   Dialect = "sqlite"
)

// Offset is a consumed position to store with a batch.
type Offset struct {
	Topic     string
	Partition int32
	Next      int64
}

// Batch is what one database transaction writes.
type Batch struct {
	Matches  []*record.Match
	Breaks   []*record.Break
	Outcomes []Outcome
	SignOffs []*record.SignOff
	Offsets  []Offset
}

// Outcome is a resolution's outcome with its offset in the outcomes topic
// (the outcomes of one account and currency share a partition, so the
// offset orders them).
type Outcome struct {
	*record.Outcome
	Seq int64
}

// Rows counts the rows a batch carries, by table (for metrics).
func (b *Batch) Rows() map[string]int {
	out := map[string]int{}
	for _, t := range tables(b) {
		out[t.name] = len(t.rows)
	}
	return out
}

// Written counts the rows st stored of a batch it wrote, by table: Rows
// without the tables that are views over the console's case store (recon
// up), whose rows the console's feed stores.
func Written(st Store, b *Batch) map[string]int {
	out := b.Rows()
	if s, ok := st.(*sqliteStore); ok {
		for name := range s.views {
			delete(out, name)
		}
	}
	return out
}

// Store is a warehouse connection.
type Store interface {
	// Migrate creates or upgrades the tables.
	Migrate(ctx context.Context) error
	// Write stores a batch and its offsets in one transaction.
	Write(ctx context.Context, consumer string, b *Batch) error
	// Offsets returns the stored next offsets of consumer.
	Offsets(ctx context.Context, consumer string) (map[string]map[int32]int64, error)
	// Counts returns row counts of the main tables (tests, operations).
	Counts(ctx context.Context) (map[string]int64, error)
	// Export reads the matches that stand and the breaks (open ones, or
	// all) as recon reconcile writes them (export.go).
	Export(ctx context.Context, allBreaks bool) (*Export, error)
	Close()
}

// ConcurrentWrites reports whether st takes several writing transactions
// at once on disjoint rows: PostgreSQL does; SQLite has one writer, and
// Redshift's serializable transactions would conflict on the tables.
func ConcurrentWrites(st Store) bool {
	c, ok := st.(interface{ concurrentWrites() bool })
	return ok && c.concurrentWrites()
}

// Open connects to url: postgres://… or postgresql://… (PostgreSQL),
// redshift://… (Amazon Redshift, spoken to with the PostgreSQL protocol),
// sqlite:PATH or file:PATH (SQLite).
func Open(ctx context.Context, url string) (Store, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPG(ctx, url, Postgres)
	case strings.HasPrefix(url, "redshift://"):
		return openPG(ctx, "postgres://"+strings.TrimPrefix(url, "redshift://"), Redshift)
	case strings.HasPrefix(url, "sqlite:"), strings.HasPrefix(url, "file:"):
		return openSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "file:"))
	}
	return nil, fmt.Errorf("warehouse url %q: want postgres://, redshift:// or sqlite:PATH", redact(url))
}

func redact(url string) string {
	if i := strings.Index(url, "@"); i >= 0 {
		if j := strings.Index(url, "://"); j >= 0 && j < i {
			return url[:j+3] + "***" + url[i:]
		}
	}
	return url
}

// Columns of each table, in insert order. The staging tables of the
// Redshift path and the SQLite inserts use the same lists.
var (
	matchCols = []string{"match_id", "rule", "confidence", "status", "account", "currency", "difference",
		"explanation", "decided_at", "rule_version"}
	itemCols = []string{"match_id", "side", "record_id", "amount", "booking_date", "reference", "counterparty",
		"description", "source_file", "source_position", "ingested_at", "bank_reference", "item_position"}
	breakCols = []string{"break_id", "side", "reason", "account", "currency", "record_id", "amount",
		"booking_date", "reference", "counterparty", "description", "source_file", "source_position",
		"window_closed_at", "candidates", "bank_reference", "note", "rule_version"}
	clearCols = []string{"break_id", "match_id"}
	resCols   = []string{"resolution_id", "outcome_seq", "action", "account", "currency", "status", "detail", "match_id",
		"match_status", "user_name", "approved_by", "reason_code", "comment", "decided_at"}
	resBreakCols = []string{"resolution_id", "outcome_seq", "break_id", "record_id", "status"}
	signoffCols  = []string{"signoff_id", "version", "status", "account", "currency", "date_from", "date_to", "statement_balance",
		"ledger_balance", "reconciling_items_total", "unexplained_difference", "figures", "requested_by", "requested_at", "comment",
		"approved_by", "approved_at", "decision_comment", "reopened_by", "reopened_at", "reopen_reason"}
)

// table describes one target table for the generic write paths.
type table struct {
	name string
	cols []string
	key  []string // natural key: idempotency
	rows [][]any
}

// tables turns a batch into rows per table. Amounts are decimal strings
// (cast to NUMERIC by the database), dates ISO strings.
func tables(b *Batch) []*table {
	m := &table{name: "recon_matches", cols: matchCols, key: []string{"match_id"}}
	it := &table{name: "recon_match_items", cols: itemCols, key: []string{"match_id", "side", "record_id"}}
	br := &table{name: "recon_breaks", cols: breakCols, key: []string{"break_id"}}
	cl := &table{name: "recon_break_clears", cols: clearCols, key: []string{"break_id", "match_id"}}
	rs := &table{name: "recon_resolutions", cols: resCols, key: []string{"resolution_id", "outcome_seq"}}
	rb := &table{name: "recon_resolution_breaks", cols: resBreakCols, key: []string{"resolution_id", "outcome_seq", "break_id"}}
	so := &table{name: "recon_signoffs", cols: signoffCols, key: []string{"signoff_id", "version"}}
	for _, x := range b.SignOffs {
		var reopened any
		if !x.ReopenedAt.IsZero() {
			reopened = x.ReopenedAt.UTC()
		}
		so.rows = append(so.rows, []any{x.SignoffID, x.Version, x.Status, x.Account, x.Currency, x.From.String(), x.To.String(),
			x.StatementBalance.String(), x.LedgerBalance.String(), x.ItemsTotal.String(), x.Unexplained.String(), x.Figures,
			x.RequestedBy, x.RequestedAt.UTC(), x.Comment, x.ApprovedBy, x.ApprovedAt.UTC(), x.DecisionComment, x.ReopenedBy,
			reopened, x.ReopenReason})
	}
	for _, o := range b.Outcomes {
		status := "refused"
		if o.Applied {
			status = "applied"
		}
		rs.rows = append(rs.rows, []any{o.ResolutionID, o.Seq, string(o.Action), o.Account, o.Currency, status, o.Detail, o.MatchID,
			o.MatchStatus, o.User, o.ApprovedBy, o.ReasonCode, o.Comment, o.DecidedAt.UTC()})
		for _, st := range o.Breaks {
			rb.rows = append(rb.rows, []any{o.ResolutionID, o.Seq, st.BreakID, st.RecordID, st.Status})
		}
	}
	for _, x := range b.Matches {
		m.rows = append(m.rows, []any{x.MatchID, x.Rule, confidence(x.Confidence), string(x.Status), x.Account,
			x.Currency, x.Difference.String(), x.Explanation, x.DecidedAt.UTC(), x.RuleVersion})
		for _, side := range []struct {
			name  string
			items []record.Item
		}{{"bank", x.Bank}, {"ledger", x.Ledger}} {
			for pos, i := range side.items {
				it.rows = append(it.rows, []any{x.MatchID, side.name, i.ID, i.Amount.String(), i.BookingDate.String(),
					i.Reference, i.Counterparty, i.Description, i.SourceFile, i.SourcePosition, i.IngestedAt.UTC(), i.BankReference, pos})
			}
		}
		for _, id := range x.ClearsBreakIDs {
			cl.rows = append(cl.rows, []any{id, x.MatchID})
		}
	}
	for _, x := range b.Breaks {
		cands, _ := json.Marshal(x.Candidates)
		r := x.Record
		br.rows = append(br.rows, []any{x.BreakID, string(x.Side), string(x.Reason), x.Account, x.Currency, r.ID,
			r.Amount.String(), r.BookingDate.String(), r.Reference, r.Counterparty, r.Description, r.SourceFile,
			r.SourcePosition, x.WindowClosedAt.String(), string(cands), r.BankReference, x.Note, x.RuleVersion})
	}
	return []*table{m, it, br, cl, rs, rb, so}
}

func confidence(c record.Confidence) string {
	return fmt.Sprintf("%d.%04d", int(c)/10000, int(c)%10000)
}

// rows is what pgx.Rows and *sql.Rows share.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanOffsets reads (topic, partition_id, next_offset) rows.
func scanOffsets(r rows) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for r.Next() {
		var t string
		var p int32
		var o int64
		if err := r.Scan(&t, &p, &o); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = o
	}
	return out, r.Err()
}

// counts runs COUNT(*) over the main tables through one query function.
func counts(query func(sql string, n *int64) error) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range []string{"recon_matches", "recon_match_items", "recon_breaks", "recon_break_clears", "recon_resolutions", "recon_resolution_breaks", "recon_signoffs"} {
		var n int64
		if err := query("SELECT COUNT(*) FROM "+t, &n); err != nil {
			return nil, fmt.Errorf("warehouse: count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
