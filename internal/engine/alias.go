package engine

import (
	"fmt"
	"strings"

	"github.com/openrecon/recon/internal/record"
)

// AliasName is the normalised form of a counterparty name or text that
// aliases compare: its name tokens (upper case, legal forms dropped),
// space-separated.
func AliasName(s string) string { return strings.Join(nameTokens(s), " ") }

// aliasIndex holds the accepted aliases by their ledger name.
type aliasIndex map[string][]aliasEntry

type aliasEntry struct {
	record.Alias
	bank []string // the bank side's stable words
}

func newAliasIndex(aliases []record.Alias) aliasIndex {
	if len(aliases) == 0 {
		return nil
	}
	ix := aliasIndex{}
	for _, a := range aliases {
		ix[a.LedgerName] = append(ix[a.LedgerName], aliasEntry{Alias: a, bank: strings.Fields(a.BankName)})
	}
	return ix
}

// find returns the alias that makes b's and l's counterparties one
// party: l's name is the alias's ledger name, and every stable word of
// its bank name is in b's name, or in b's text when b has no name.
func (ix aliasIndex) find(b, l *Rec) *record.Alias {
	if ix == nil {
		return nil
	}
	cands := ix[strings.Join(l.nameToks(), " ")]
	if len(cands) == 0 {
		return nil
	}
	words := b.nameToks()
	if len(words) == 0 {
		words = nameTokens(b.Description)
	}
	for i := range cands {
		a := &cands[i]
		if (a.Account != "" && a.Account != b.Account) || (a.Currency != "" && a.Currency != b.Currency) {
			continue
		}
		all := len(a.bank) > 0
		for _, w := range a.bank {
			if !found(w, words) {
				all = false
				break
			}
		}
		if all {
			return &a.Alias
		}
	}
	return nil
}

// nameSim is nameSim with the accepted aliases: a pair an alias names is
// one party (100), and the alias is returned to be named in the
// explanation.
func (e *Engine) nameSim(b, l *Rec, text bool) (int, *record.Alias) {
	sim := nameSim(b, l, text)
	if sim == 100 || e.aliases == nil {
		return sim, nil
	}
	if a := e.aliases.find(b, l); a != nil {
		return 100, a
	}
	return sim, nil
}

// describeAlias is the explanation of a pair an alias made one party.
func describeAlias(a *record.Alias) string {
	s := fmt.Sprintf("counterparty alias %q = %q", a.BankName, a.LedgerName)
	if a.Evidence > 0 {
		s += fmt.Sprintf(" learned from %d manual match(es)", a.Evidence)
		if a.LearnedFrom != "" {
			s += " by " + a.LearnedFrom
		}
	}
	return s
}

// BankWords are the words of a bank side's counterparty that an alias can
// learn: its name's tokens, or where the bank gives no name its free
// text's (booking words dropped); tokens with digits (transaction codes,
// dates, order numbers) are dropped either way, since they change with
// every payment.
func BankWords(counterparty, text string) []string {
	toks := nameTokens(counterparty)
	if len(toks) == 0 {
		return textTokens(text)
	}
	out := toks[:0:0]
	for _, t := range toks {
		if strings.IndexFunc(t, func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
			out = append(out, t)
		}
	}
	return out
}

// Similarity of two token lists (NameTokens), 0-100, -1 when either is
// empty: the share of the shorter's tokens found in the other, as the
// counterparty rules compare names.
func Similarity(a, b []string) int { return similarity(a, b) }
