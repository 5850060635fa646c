// Package sqlitefile opens SQLite files the way the warehouse and the case
// store both do: write-ahead log, a busy timeout, a WAL truncated after
// checkpoints.
package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// Pragmas every recon SQLite file is opened with: WAL (readers do not
// block the writer), a 10 s busy timeout, synchronous NORMAL (durable at
// each checkpoint, safe with WAL), and a WAL truncated to 16 MiB after a
// checkpoint, so a large batch does not leave a large file behind.
var Pragmas = []string{"journal_mode(WAL)", "busy_timeout(" + busyMillis + ")", "synchronous(NORMAL)", "journal_size_limit(16777216)"}

const busyMillis = "10000"

// DSN is the driver's name for the file at path with Pragmas and extra.
// The path is escaped: in a file: URI, '?' starts the parameters and '#'
// a fragment, so a folder named "day#2" would otherwise open another file.
// Transactions begin IMMEDIATE: one that reads before it writes holds the
// write lock from its start, so a writer on another connection to the
// same file (recon up: the loader and the console's feed share one) makes
// it wait its busy timeout rather than fail when it comes to write.
func DSN(path string, extra ...string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	var b strings.Builder
	b.WriteString("file:" + esc)
	for i, p := range append(append([]string{}, Pragmas...), extra...) {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString("_pragma=" + p)
	}
	b.WriteString("&_txlock=immediate")
	return b.String()
}

// BigBatch is the number of rows after whose transaction a writer calls
// TruncateWAL.
const BigBatch = 1000

// TruncateWAL copies the write-ahead log into the database and truncates
// it to nothing, if no reader holds it (then it leaves it for the next
// time). The log holds every page of the largest transaction until a
// checkpoint resets it, so after a large batch it would stay that size
// (tens of MiB on a catch-up) while the file is idle; the log size limit
// only applies once the next transaction starts it over. A reader is not
// waited for: the writer does not stall behind a long report.
func TruncateWAL(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		return err
	}
	var busy, logPages, done int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
	_, err2 := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+busyMillis)
	return errors.Join(err, err2)
}
