// Package schemas embeds the Avro schemas that are the contract of every
// topic, and names the subjects they are registered under.
package schemas

import (
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

//go:embed *.avsc history/*.avsc
var files embed.FS

// Names of the schemas (file names without .avsc).
const (
	Transaction = "transaction"
	Statement   = "statement"
	Match       = "match"
	Break       = "break"
	FileEvent   = "file_event"
	Resolution  = "resolution"
	Outcome     = "resolution_outcome"
	SignOff     = "signoff"
	Escalation  = "escalation"
	RuleSet     = "ruleset"
)

// EmbeddedIDs are the schema ids written in the Confluent header when no
// Schema Registry is configured. They never change: a new schema version
// gets a new id here, and the old id stays readable.
var EmbeddedIDs = map[string]int{
	Transaction: 10, // 1: before counterparty_account … raw_text (history/transaction.1.avsc)
	Statement:   2,
	Match:       14, // 3: before rule_version (history/match.3.avsc)
	Break:       15, // 4: before note (history/break.4.avsc); 11: before rule_version (history/break.11.avsc)
	FileEvent:   12, // 5: before statement_digests (history/file_event.5.avsc)
	Resolution:  6,
	Outcome:     7,
	SignOff:     8,
	Escalation:  13, // 9: before STATEMENT_MISSING (history/escalation.9.avsc)
	RuleSet:     16,
}

// Get returns the schema text of name.
func Get(name string) (string, error) {
	b, err := files.ReadFile(name + ".avsc")
	if err != nil {
		return "", fmt.Errorf("schema %q: %w", name, err)
	}
	return string(b), nil
}

// Names lists every embedded schema.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, strings.TrimSuffix(e.Name(), ".avsc"))
		}
	}
	sort.Strings(out)
	return out
}

// History returns the text of an earlier embedded version by its id
// (history/NAME.ID.avsc): values written before a schema changed keep the
// id they were written with, and readers decode them with that text.
func History(id int) (name, text string, ok bool) {
	ents, _ := files.ReadDir("history")
	for _, e := range ents {
		base := strings.TrimSuffix(e.Name(), ".avsc")
		n, v, found := strings.Cut(base, ".")
		if found && v == strconv.Itoa(id) {
			b, err := files.ReadFile("history/" + e.Name())
			return n, string(b), err == nil
		}
	}
	return "", "", false
}
