package record

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// RuleSet is a version of the rules that decide (DESIGN.md §10): the
// waterfall's YAML and the accepted counterparty aliases. Versions only
// grow; topic recon.rules carries them, the case store keeps them all.
type RuleSet struct {
	Version     int64     `json:"version"`
	YAML        string    `json:"yaml"`
	Aliases     []Alias   `json:"aliases"`
	Hash        string    `json:"hash"`
	Author      string    `json:"author"`
	Approver    string    `json:"approver"`
	Comment     string    `json:"comment,omitempty"`
	ActivatedAt time.Time `json:"activated_at"`
	ProposalID  string    `json:"proposal_id,omitempty"` // the console's proposal it came from
}

// Alias says that a bank side's name (the stable words of its name or
// text) and a ledger counterparty name are one party, for an account (or
// every account when Account is empty). The names are normalised
// (NormalizeName).
type Alias struct {
	AliasID     string `json:"alias_id"`
	Account     string `json:"account,omitempty"`
	Currency    string `json:"currency,omitempty"`
	BankName    string `json:"bank_name"`
	LedgerName  string `json:"ledger_name"`
	Evidence    int    `json:"evidence"`
	LearnedFrom string `json:"learned_from,omitempty"`
	AcceptedBy  string `json:"accepted_by,omitempty"`
}

// AliasID is the deterministic id of an alias.
func AliasID(account, currency, bankName, ledgerName string) string {
	return "al-" + shortHash(strings.Join([]string{account, currency, bankName, ledgerName}, "\x00"))
}

// RulesHash is the SHA-256 (hex) of a rule set's canonical text: the YAML
// with CRLF line ends and trailing blanks normalised, then each alias on
// a line, sorted. Two versions with the same hash decide alike.
func RulesHash(yaml string, aliases []Alias) string {
	var b strings.Builder
	b.WriteString(CanonicalYAML(yaml))
	lines := make([]string, len(aliases))
	for i, a := range aliases {
		lines[i] = strings.Join([]string{a.Account, a.Currency, a.BankName, a.LedgerName}, "\t")
	}
	slices.Sort(lines)
	b.WriteString("\x00aliases\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// CanonicalYAML is a rules text with "\r\n" line ends made "\n", each
// line's trailing blanks removed and one final newline.
func CanonicalYAML(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}
