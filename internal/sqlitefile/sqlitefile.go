// Package sqlitefile opens SQLite files the way the warehouse and the case
// store both do: write-ahead log, a busy timeout, a WAL truncated after
// checkpoints.
package sqlitefile

import (
	"strings"
)

// Pragmas every recon SQLite file is opened with: WAL (readers do not
// block the writer), a 10 s busy timeout, synchronous NORMAL (durable at
// each checkpoint, safe with WAL), and a WAL truncated to 16 MiB after a
// checkpoint, so a large batch does not leave a large file behind.
var Pragmas = []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "journal_size_limit(16777216)"}

// DSN is the driver's name for the file at path with Pragmas and extra.
// The path is escaped: in a file: URI, '?' starts the parameters and '#'
// a fragment, so a folder named "day#2" would otherwise open another file.
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
	return b.String()
}
