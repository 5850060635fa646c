package learn

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// KindRule is the kind of a rule suggestion.
const KindRule = "rule"

// Shapes of a rule suggestion.
const (
	ShapeDateLag   = "date_lag"           // the same reference and amount, booked further apart than any rule's window
	ShapeFee       = "fee"                // the same reference, the bank lower by the same charge each time
	ShapeReference = "reference"          // the ledger's reference written by the bank with another prefix
	ShapeGroup     = "counterparty_group" // one bank entry paying several items of one counterparty, no reference shared
)

// RuleSketch is a rule suggestion: the change and the whole text it
// gives (the active rules with the change applied).
type RuleSketch struct {
	Shape   string `json:"shape"`
	Summary string `json:"summary"`
	Change  string `json:"change"` // the rule or extractor added, as YAML
	YAML    string `json:"yaml"`
	From    string `json:"from"` // the evidence's booking dates: the period to replay
	To      string `json:"to"`
}

// pair is a one-to-one match made by hand that the active rules would not
// make.
type pair struct {
	e    casestore.Evidence
	b, l *engine.Rec
	lag  int           // bank booking date minus ledger booking date, in days
	diff money.Decimal // bank minus ledger
}

// Rules are the rule suggestions of the evidence: recurring shapes among
// the one-to-one matches people made by hand that the active rule set
// (activeYAML with base's calendars and rates) would not make, each seen
// at least minEvidence times. A change that does not validate is left out
// and returned among the errors (joined), the others still returned.
func Rules(evidence []casestore.Evidence, minEvidence int, activeYAML string, base engine.Config) ([]Suggestion, error) {
	cfg, err := engine.ParseConfig([]byte(activeYAML), "active rules")
	if err != nil {
		return nil, err
	}
	cfg.Calendars, cfg.Rates, cfg.Aliases = base.Calendars, base.Rates, base.Aliases
	eng := engine.New(cfg)
	var pairs []pair
	var grps []group
	for _, e := range evidence {
		if e.Action == string(record.ActManualMatch) && len(e.Bank) == 1 && len(e.Ledger) >= 2 {
			if g, ok := groupOf(eng, e); ok {
				grps = append(grps, g)
			}
			continue
		}
		if e.Action != string(record.ActManualMatch) || len(e.Bank) != 1 || len(e.Ledger) != 1 {
			continue
		}
		b, errB := rec(eng, e, e.Bank[0], record.Bank)
		l, errL := rec(eng, e, e.Ledger[0], record.Ledger)
		if errB != nil || errL != nil {
			continue
		}
		if res := eng.MatchPool([]*engine.Rec{b, l}); len(res.Matches) > 0 {
			continue // a rule covers it now (at the latest when the window closes)
		}
		diff, err := b.Amount.Sub(l.Amount)
		if err != nil {
			continue
		}
		pairs = append(pairs, pair{e: e, b: b, l: l, lag: int(b.BookingDate - l.BookingDate), diff: diff})
	}
	var out []Suggestion
	var skipped []error
	hasContains := slices.ContainsFunc(cfg.Rules, func(r engine.Rule) bool { return r.Reference == "contains" && r.Cardinality == "1:1" })
	refs := func(ps []pair, need int) []change { return references(ps, need, hasContains) }
	groups := func(_ []pair, need int) []change { return counterpartyGroups(grps, need) }
	for _, f := range []func([]pair, int) []change{dateLags, fees, refs, groups} {
		for _, c := range f(pairs, max(minEvidence, 1)) {
			s, err := c.suggestion(activeYAML)
			if err != nil {
				// A change the rules cannot say (a limit of the rule set):
				// the others still count.
				skipped = append(skipped, err)
				continue
			}
			out = append(out, s)
		}
	}
	return out, errors.Join(skipped...)
}

// rec is a match member as the engine sees it.
func rec(eng *engine.Engine, e casestore.Evidence, it casestore.MatchItem, side record.Side) (*engine.Rec, error) {
	amt, err := money.Parse(it.Amount)
	if err != nil {
		return nil, err
	}
	d, err := record.ParseDate(it.BookingDate)
	if err != nil {
		return nil, err
	}
	r := &engine.Rec{Item: record.Item{ID: it.ID, Side: side, Currency: e.Currency, Amount: amt, BookingDate: d, Reference: it.Reference,
		Counterparty: it.Counterparty, Description: it.Description}, Account: e.Account}
	eng.Prepare(r)
	return r, nil
}

// sharesRef: the ledger's reference is among the bank record's keys.
func sharesRef(p pair) bool {
	return p.l.NormRef != "" && slices.Contains(p.b.Keys, p.l.NormRef)
}

// change is a shape found: what to add and the pairs that show it.
type change struct {
	shape, summary string
	rule           map[string]any // a rule to add, or
	extractor      map[string]any // an extractor to add
	pairs          []pair
}

// dateLags: the same reference and amount, the bank booking a similar
// number of days after (or before) the ledger, further than the rules
// allow: a rule with a window that just covers what people matched,
// proposed for a person.
func dateLags(pairs []pair, need int) []change {
	var ps []pair
	for _, p := range pairs {
		if p.diff.IsZero() && sharesRef(p) && p.lag != 0 && max(p.lag, -p.lag) < engine.MaxWindowDays { // with a day's margin, still a window a rule may have
			ps = append(ps, p)
		}
	}
	if len(ps) < need {
		return nil
	}
	lo, hi := 0, 0
	for _, p := range ps {
		lo, hi = min(lo, p.lag), max(hi, p.lag)
	}
	name := fmt.Sprintf("reference-lag-%dd", max(-lo, hi))
	return []change{{shape: ShapeDateLag, pairs: ps,
		summary: fmt.Sprintf("%d matches made by hand share their reference and amount but were booked %d to %d days apart (bank minus ledger): no rule's window reaches that far", len(ps), lo, hi),
		rule: map[string]any{"name": name, "reference": "contains", "date": map[string]any{"before": -lo + 1, "after": hi + 1},
			"confidence": 9000, "min_confidence": 5000, "action": "propose"}}}
}

// fees: the same reference, the bank lower by the same amount each time,
// more than the fee rules allow: a rule allowing that charge, the
// difference named a fee, proposed for a person.
func fees(pairs []pair, need int) []change {
	by := map[string][]pair{}
	for _, p := range pairs {
		if p.diff.Sign() < 0 && sharesRef(p) {
			k := p.b.Currency + " " + p.diff.String()
			by[k] = append(by[k], p)
		}
	}
	var out []change
	for _, k := range sortedKeys(by) {
		ps := by[k]
		if len(ps) < need {
			continue
		}
		fee, err := ps[0].diff.Abs()
		if err != nil {
			continue
		}
		// The fee as a share of the amount, in whole percent rounded up
		// (exact: rationals, never floats).
		share := 0
		for _, p := range ps {
			a, err := p.l.Amount.Abs()
			if err != nil || a.IsZero() {
				continue
			}
			r := new(big.Rat).Quo(new(big.Rat).Mul(fee.Rat(), big.NewRat(100, 1)), a.Rat())
			pct := new(big.Int).Quo(r.Num(), r.Denom())
			if new(big.Rat).SetInt(pct).Cmp(r) < 0 {
				pct.Add(pct, big.NewInt(1))
			}
			share = max(share, int(pct.Int64()))
		}
		cur := ps[0].b.Currency
		out = append(out, change{shape: ShapeFee, pairs: ps,
			summary: fmt.Sprintf("%d matches made by hand share their reference, the bank lower by %s each time: more than the fee rules allow", len(ps), money.Format(fee, cur)),
			rule: map[string]any{"name": "fee-" + strings.ReplaceAll(fee.String(), ".", "-") + "-" + strings.ToLower(cur), "reference": "contains",
				"amount": map[string]any{"fee": fee.String(), "fee_share": strconv.Itoa(share)}, "variance": "fee",
				"date": map[string]any{"before": 5, "after": 5, "business_days": true}, "confidence": 9000, "min_confidence": 7000, "action": "propose"}})
	}
	return out
}

var (
	ledgerRef = regexp.MustCompile(`^([A-Za-z]{2,8})[\s\-_/#.:]*(\d{3,12})$`)
	word      = regexp.MustCompile(`[A-Za-z]+|\d+`)
)

// references: the ledger's reference is letters and a number, and the
// bank writes the number after another word each time ("ORD-48213"
// against "Auftrag 48213"): an extractor reading both as one key (and,
// when no rule compares keys, a rule that does).
func references(pairs []pair, need int, hasContains bool) []change {
	type seen struct {
		p      pair
		digits string
	}
	by := map[[2]string][]seen{}
	for _, p := range pairs {
		if !p.diff.IsZero() || sharesRef(p) {
			continue
		}
		m := ledgerRef.FindStringSubmatch(strings.TrimSpace(p.l.Reference))
		if m == nil {
			continue
		}
		prefix, digits := strings.ToUpper(m[1]), strings.TrimLeft(m[2], "0")
		for _, text := range []string{p.b.Reference, p.b.Description} {
			toks := word.FindAllString(text, -1)
			for i := 1; i < len(toks); i++ {
				if strings.TrimLeft(toks[i], "0") == digits && toks[i-1] != "" && !strings.EqualFold(toks[i-1], prefix) &&
					strings.IndexFunc(toks[i-1], func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
					k := [2]string{prefix, strings.ToUpper(toks[i-1])}
					by[k] = append(by[k], seen{p, m[2]})
					i = len(toks)
				}
			}
		}
	}
	var out []change
	keys := make([][2]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		ss := by[k]
		if len(ss) < need {
			continue
		}
		lo, hi := 99, 0
		var ps []pair
		for _, s := range ss {
			lo, hi = min(lo, len(s.digits)), max(hi, len(s.digits))
			ps = append(ps, s.p)
		}
		out = append(out, change{shape: ShapeReference, pairs: ps,
			summary: fmt.Sprintf("%d matches made by hand: the ledger's reference %s… is written by the bank as %s followed by the same number", len(ps), k[0], k[1]),
			extractor: map[string]any{"name": strings.ToLower(k[0] + "-" + k[1]),
				"pattern":  fmt.Sprintf(`(?i)\b(?:%s|%s)[\s\-_/#.:]*(\d{%d,%d})\b`, regexp.QuoteMeta(k[0]), regexp.QuoteMeta(k[1]), max(lo-1, 1), hi+1),
				"template": k[0] + "$1"}})
		if !hasContains {
			out[len(out)-1].rule = map[string]any{"name": "reference-key", "reference": "contains",
				"date": map[string]any{"before": 5, "after": 5, "business_days": true}, "confidence": 9500, "min_confidence": 9000}
		}
	}
	return out
}

// group is a one-to-many match made by hand: one bank entry, several
// ledger items of one counterparty, the exact total, no reference shared,
// that the active rules do not make.
type group struct {
	e      casestore.Evidence
	b      *engine.Rec
	ls     []*engine.Rec
	sim    int // the bank side's name or text against the ledger name
	before int // the most days the bank booked before a ledger item
	after  int // the most days after
}

func groupOf(eng *engine.Engine, e casestore.Evidence) (group, bool) {
	b, err := rec(eng, e, e.Bank[0], record.Bank)
	if err != nil {
		return group{}, false
	}
	g := group{e: e, b: b}
	name := ""
	total := money.New(0, 0)
	for _, it := range e.Ledger {
		l, err := rec(eng, e, it, record.Ledger)
		if err != nil {
			return group{}, false
		}
		n := engine.AliasName(l.Counterparty)
		if n == "" || (name != "" && n != name) || l.Amount.Sign() != b.Amount.Sign() || (l.NormRef != "" && slices.Contains(b.Keys, l.NormRef)) {
			return group{}, false
		}
		name = n
		a, _ := l.Amount.Abs()
		if total, err = total.Add(a); err != nil {
			return group{}, false
		}
		gap := int(b.BookingDate - l.BookingDate)
		g.before, g.after = max(g.before, -gap), max(g.after, gap)
		g.ls = append(g.ls, l)
	}
	if ba, err := b.Amount.Abs(); err != nil || !ba.Equal(total) {
		return group{}, false
	}
	g.sim = engine.Similarity(engine.BankWords(b.Counterparty, b.Description), strings.Fields(name))
	if g.sim < 50 {
		return group{}, false // the names differ: an alias's business first
	}
	if res := eng.MatchPool(append([]*engine.Rec{b}, g.ls...)); len(res.Matches) > 0 {
		return group{}, false // a rule covers it now
	}
	return g, true
}

// counterpartyGroups: one bank entry paying several items of one
// counterparty at once, naming none of them: a 1:N rule that makes the
// amount up from the counterparty's items in the window, proposed.
func counterpartyGroups(gs []group, need int) []change {
	if len(gs) < need {
		return nil
	}
	sim, before, after, size := 100, 0, 0, 2
	var ps []pair
	for _, g := range gs {
		sim, before, after, size = min(sim, g.sim), max(before, g.before), max(after, g.after), max(size, len(g.ls))
		ps = append(ps, pair{e: g.e, b: g.b, l: g.ls[0]})
	}
	sim = sim / 10 * 10
	return []change{{shape: ShapeGroup, pairs: ps,
		summary: fmt.Sprintf("%d bank entries made by hand from 2 to %d ledger items of one counterparty each, the exact total, no reference shared", len(gs), size),
		rule: map[string]any{"name": "counterparty-group", "reference": "none", "cardinality": "1:N", "expand": "counterparty",
			"counterparty": map[string]any{"min_similarity": sim}, "date": map[string]any{"before": min(before+1, engine.MaxWindowDays), "after": min(after+1, engine.MaxWindowDays)},
			"max_candidates": 12, "max_group": min(size+1, 10), "confidence": 8500, "min_confidence": 6000, "action": "propose"}}}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// suggestion applies c to the active text.
func (c change) suggestion(activeYAML string) (Suggestion, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(activeYAML), &root); err != nil || len(root.Content) == 0 {
		return Suggestion{}, fmt.Errorf("active rules: %v", err)
	}
	top := root.Content[0]
	var changes []string
	for _, a := range []struct {
		key string
		add map[string]any
	}{{"extractors", c.extractor}, {"rules", c.rule}} {
		if a.add == nil {
			continue
		}
		addText, err := yaml.Marshal([]any{a.add})
		if err != nil {
			return Suggestion{}, err
		}
		changes = append(changes, a.key+":\n"+indent(string(addText)))
		var item yaml.Node
		if err := yaml.Unmarshal(addText, &item); err != nil {
			return Suggestion{}, err
		}
		var seq *yaml.Node
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == a.key {
				seq = top.Content[i+1]
			}
		}
		if seq == nil {
			top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: a.key}, &yaml.Node{Kind: yaml.SequenceNode})
			seq = top.Content[len(top.Content)-1]
		}
		seq.Content = append(seq.Content, item.Content[0].Content...)
	}
	addText := strings.Join(changes, "")
	text, err := yaml.Marshal(&root)
	if err != nil {
		return Suggestion{}, err
	}
	if problems := engine.Check(text); len(problems) > 0 {
		return Suggestion{}, fmt.Errorf("a %s suggestion does not validate: %v", c.shape, problems)
	}
	from, to := c.pairs[0].l.BookingDate, c.pairs[0].l.BookingDate
	s := Suggestion{Kind: KindRule, Count: len(c.pairs)}
	for _, p := range c.pairs {
		for _, d := range []record.Date{p.b.BookingDate, p.l.BookingDate} {
			from, to = min(from, d), max(to, d)
		}
		s.Evidence = append(s.Evidence, p.e.MatchID)
		if !slices.Contains(s.Users, p.e.User) {
			s.Users = append(s.Users, p.e.User)
		}
		if s.Account == "" || s.Account == p.e.Account {
			s.Account, s.Currency = p.e.Account, p.e.Currency
		} else {
			s.Account, s.Currency = "", "" // several accounts
		}
	}
	s.Rule = &RuleSketch{Shape: c.shape, Summary: c.summary, Change: strings.TrimRight(addText, "\n"), YAML: string(text),
		From: from.String(), To: to.String()}
	s.SuggestionID = "rs-" + record.RulesHash(addText, nil)[:24]
	return s, nil
}

// indent is a YAML list indented under its key.
func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}
