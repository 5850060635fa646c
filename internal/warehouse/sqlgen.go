package warehouse

import (
	"fmt"
	"strings"
)

// colCast is the SQL type a text parameter is cast to, for columns whose
// values travel as strings (exact decimals, dates).
var colCast = map[string]string{
	"amount": "NUMERIC(38,6)", "difference": "NUMERIC(38,6)", "confidence": "NUMERIC(5,4)",
	"booking_date": "DATE", "window_closed_at": "DATE",
	"statement_balance": "NUMERIC(38,6)", "ledger_balance": "NUMERIC(38,6)", "reconciling_items_total": "NUMERIC(38,6)",
	"unexplained_difference": "NUMERIC(38,6)", "date_from": "DATE", "date_to": "DATE",
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	sql  string
	args []any
}

// maxParams keeps a statement under PostgreSQL's 65535 bind parameters.
const maxParams = 60000

// valuesChunks builds "INSERT INTO <into> (cols) VALUES (…),(…)<suffix>"
// statements of at most maxParams parameters, with $n placeholders and casts.
func valuesChunks(into string, cols []string, rows [][]any, suffix string) []stmt {
	per := max(1, maxParams/len(cols))
	var out []stmt
	for start := 0; start < len(rows); start += per {
		end := min(len(rows), start+per)
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", into, strings.Join(cols, ", "))
		args := make([]any, 0, (end-start)*len(cols))
		for i, row := range rows[start:end] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				if t, ok := colCast[cols[j]]; ok {
					fmt.Fprintf(&b, "CAST($%d AS %s)", len(args), t)
				} else {
					fmt.Fprintf(&b, "$%d", len(args))
				}
			}
			b.WriteByte(')')
		}
		b.WriteString(suffix)
		out = append(out, stmt{b.String(), args})
	}
	return out
}

// postgresStatements writes t with INSERT … ON CONFLICT DO NOTHING: a
// replayed batch changes nothing.
func postgresStatements(t *table) []stmt {
	if len(t.rows) == 0 {
		return nil
	}
	return valuesChunks(t.name, t.cols, t.rows, " ON CONFLICT ("+strings.Join(t.key, ", ")+") DO NOTHING")
}

// redshiftStatements writes t the way Redshift allows (no ON CONFLICT, no
// enforced keys, no binary COPY): rows go to a temporary staging table,
// duplicates within the batch are dropped, rows already in the target with
// the same key are deleted, and the staged rows are inserted.
func redshiftStatements(t *table) []stmt {
	if len(t.rows) == 0 {
		return nil
	}
	stage := "stage_" + t.name
	out := []stmt{{sql: fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s)", stage, t.name)}}
	out = append(out, valuesChunks(stage, t.cols, t.rows, "")...)
	for _, q := range mergeStatements(t, stage) {
		out = append(out, stmt{sql: q})
	}
	return out
}

// offsetStatements stores the consumed offsets: delete and insert, which
// every dialect supports inside the batch's transaction.
func offsetStatements(consumer string, offs []Offset) []stmt {
	var out []stmt
	for _, o := range offs {
		out = append(out,
			stmt{"DELETE FROM recon_loader_offsets WHERE consumer = $1 AND topic = $2 AND partition_id = $3", []any{consumer, o.Topic, o.Partition}},
			stmt{"INSERT INTO recon_loader_offsets (consumer, topic, partition_id, next_offset) VALUES ($1, $2, $3, $4)", []any{consumer, o.Topic, o.Partition, o.Next}},
		)
	}
	return out
}
