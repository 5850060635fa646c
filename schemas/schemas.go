// Package schemas embeds the Avro schemas that are the contract of every
// topic, and names the subjects they are registered under.
package schemas

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.avsc
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
)

// EmbeddedIDs are the schema ids written in the Confluent header when no
// Schema Registry is configured. They never change: a new schema version
// gets a new id here, and the old id stays readable.
var EmbeddedIDs = map[string]int{
	Transaction: 1,
	Statement:   2,
	Match:       3,
	Break:       4,
	FileEvent:   5,
	Resolution:  6,
	Outcome:     7,
	SignOff:     8,
	Escalation:  9,
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
		out = append(out, strings.TrimSuffix(e.Name(), ".avsc"))
	}
	sort.Strings(out)
	return out
}
