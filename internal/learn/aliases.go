// Package learn draws suggestions from what people matched by hand or
// confirmed (DESIGN.md §10): counterparty aliases, where a bank's name or
// text for a party never resembles the ledger's name.
package learn

import (
	"slices"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
)

// KindAlias is the kind of an alias suggestion.
const KindAlias = "alias"

// Suggestion is one thing learned (GET /api/v1/suggestions).
type Suggestion struct {
	SuggestionID string       `json:"suggestion_id"`
	Kind         string       `json:"kind"`
	Account      string       `json:"account"`
	Currency     string       `json:"currency"`
	Names        *Names       `json:"names,omitempty"` // alias
	Rule         *RuleSketch  `json:"rule,omitempty"`  // rule
	Evidence     []string     `json:"evidence"`        // match ids
	Count        int          `json:"count"`
	Users        []string     `json:"users"`
	DiffSummary  any          `json:"diff_summary,omitempty"`
	Alias        record.Alias `json:"-"` // an alias suggestion, as accepted
}

// Names are an alias suggestion's two names.
type Names struct {
	Bank   string `json:"bank"`   // the stable words of the bank side's name or text
	Ledger string `json:"ledger"` // the ledger's counterparty name, normalised
}

// agree is the similarity from which a bank name and a ledger name need
// no alias: the default counterparty rule matches them already.
const agree = 80

// Aliases are the alias suggestions of the evidence: per account and
// ledger counterparty name, the matches whose bank side's words do not
// resemble that name; from minEvidence of them on, the words every one of
// them shares (the part that changes with each payment left out) and the
// ledger name are suggested as one party. Aliases already in known are
// not suggested again.
func Aliases(evidence []casestore.Evidence, minEvidence int, known []record.Alias) []Suggestion {
	type seen struct {
		words []string
		match string
		user  string
	}
	groups := map[[3]string][]seen{}
	var order [][3]string
	for _, e := range evidence {
		ledger := ""
		for _, l := range e.Ledger {
			n := engine.AliasName(l.Counterparty)
			if n == "" || (ledger != "" && n != ledger) {
				ledger = "-" // no name, or several: nothing to learn
				break
			}
			ledger = n
		}
		if ledger == "" || ledger == "-" {
			continue
		}
		lw := strings.Fields(ledger)
		for _, b := range e.Bank {
			words := engine.BankWords(b.Counterparty, b.Description)
			if len(words) == 0 || engine.Similarity(words, lw) >= agree {
				continue
			}
			k := [3]string{e.Account, e.Currency, ledger}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], seen{words, e.MatchID, e.User})
			break // one bank item per match is the evidence
		}
	}
	isKnown := map[string]bool{}
	for _, a := range known {
		isKnown[record.AliasID(a.Account, a.Currency, a.BankName, a.LedgerName)] = true
	}
	var out []Suggestion
	for _, k := range order {
		g := groups[k]
		if len(g) < max(minEvidence, 1) {
			continue
		}
		stable := slices.Clone(g[0].words)
		for _, s := range g[1:] {
			stable = slices.DeleteFunc(stable, func(w string) bool { return !slices.Contains(s.words, w) })
		}
		if len(stable) == 0 {
			continue
		}
		bank := strings.Join(stable, " ")
		id := record.AliasID(k[0], k[1], bank, k[2])
		if isKnown[id] {
			continue
		}
		s := Suggestion{SuggestionID: id, Kind: KindAlias, Account: k[0], Currency: k[1], Names: &Names{Bank: bank, Ledger: k[2]},
			Count: len(g)}
		for _, x := range g {
			s.Evidence = append(s.Evidence, x.match)
			if !slices.Contains(s.Users, x.user) {
				s.Users = append(s.Users, x.user)
			}
		}
		s.Alias = record.Alias{AliasID: id, Account: k[0], Currency: k[1], BankName: bank, LedgerName: k[2], Evidence: s.Count,
			LearnedFrom: strings.Join(s.Users, ", ")}
		out = append(out, s)
	}
	return out
}
