package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// PoolResult is what MatchPool decides over a set of pending records.
type PoolResult struct {
	Matches []*Group
	// Duplicates maps a record to the twin it duplicates (the twin matched).
	Duplicates map[*Rec]*Rec
	// Ambiguous maps a record to its equally good candidates.
	Ambiguous map[*Rec][]*Rec
	// Bounds says, for a record a group search gave up on (more candidates
	// than the rule's bound, or the search budget spent), what was not
	// searched; it goes into the record's break.
	Bounds map[*Rec]string
}

// MatchPool decides over all the pending records of one account and
// currency at once: each rule of the waterfall in turn, over what earlier
// rules left. The result depends only on the set of records, not on their
// order (records are visited sorted by date and id).
func (e *Engine) MatchPool(recs []*Rec) PoolResult {
	res := PoolResult{Duplicates: map[*Rec]*Rec{}, Ambiguous: map[*Rec][]*Rec{}, Bounds: map[*Rec]string{}}
	sorted := append([]*Rec(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].BookingDate != sorted[j].BookingDate {
			return sorted[i].BookingDate < sorted[j].BookingDate
		}
		return sorted[i].ID < sorted[j].ID
	})
	used := map[*Rec]bool{}
	free := func(side record.Side) []*Rec {
		var out []*Rec
		for _, r := range sorted {
			if r.Side == side && !used[r] {
				out = append(out, r)
			}
		}
		return out
	}
	supersede(sorted, used, &res)
	for i := range e.cfg.Rules {
		rule := &e.cfg.Rules[i]
		switch rule.Cardinality {
		case "1:1":
			e.pairs(rule, free(record.Bank), free(record.Ledger), used, &res)
		case "1:N":
			switch {
			case rule.WholeGroup:
				e.wholeGroups(rule, free(record.Bank), free(record.Ledger), used, &res)
			case rule.Expand == "counterparty":
				e.expandGroups(rule, free(record.Bank), free(record.Ledger), used, &res)
			default:
				e.groups(rule, free(record.Bank), free(record.Ledger), used, &res)
			}
		case "N:1":
			e.groups(rule, free(record.Ledger), free(record.Bank), used, &res)
		case "N:M":
			e.manyToMany(rule, free(record.Bank), free(record.Ledger), used, &res)
		}
	}
	for r := range res.Ambiguous {
		if used[r] {
			delete(res.Ambiguous, r)
		}
	}
	for r := range res.Bounds {
		if used[r] {
			delete(res.Bounds, r)
		}
	}
	return res
}

// MatchGroups is MatchPool with only the group rules (1:N, N:1, N:M) of
// the waterfall, in order: the matcher asks it, over the records sharing
// reference keys, when a group's last member arrives after another
// member broke.
func (e *Engine) MatchGroups(recs []*Rec) PoolResult {
	if len(e.groupRules) == 0 {
		return PoolResult{}
	}
	sub := *e
	sub.cfg.Rules = e.groupRules
	return sub.MatchPool(recs)
}

// pairs matches 1:1 under one rule: every valid pair is scored, and pairs
// are taken best first; a record whose two best candidates tie (and are not
// twins) is ambiguous and left alone.
type pair struct {
	b, l *Rec
	s    scored
}

func (e *Engine) pairs(rule *Rule, banks, ledgers []*Rec, used map[*Rec]bool, res *PoolResult) {
	byKey := indexByKey(ledgers, rule.KeyPrefix)
	var all []pair
	for _, b := range banks {
		cands := ledgers
		if rule.Reference != "none" {
			seen := map[*Rec]bool{}
			cands = nil
			for _, k := range keysOf(b, rule.KeyPrefix) {
				for _, l := range byKey[k] {
					if !seen[l] {
						seen[l] = true
						cands = append(cands, l)
					}
				}
			}
		}
		for _, l := range cands {
			if conf, gap, diff, expl, ok := e.pairScore(rule, b, l); ok {
				all = append(all, pair{b, l, scored{l, conf, gap, diff, expl}})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if better(all[i].s, all[j].s) != better(all[j].s, all[i].s) {
			return better(all[i].s, all[j].s)
		}
		return all[i].b.ID < all[j].b.ID
	})
	// The best score of each record, to spot ties.
	bestOf := map[*Rec][]pair{}
	for _, p := range all {
		bestOf[p.b] = append(bestOf[p.b], p)
		bestOf[p.l] = append(bestOf[p.l], p)
	}
	for _, p := range all {
		if used[p.b] || used[p.l] {
			continue
		}
		if rule.UniqueAmount && (len(bestOf[p.b]) != 1 || len(bestOf[p.l]) != 1) {
			continue // another record of the amount in the window: not unique
		}
		// Ties among p.b's remaining candidates, and among p.l's.
		if tied, dups := ties(p, bestOf[p.b], used, true); len(tied) > 0 {
			res.Ambiguous[p.b] = append([]*Rec{p.l}, tied...)
			continue
		} else {
			for _, d := range dups {
				res.Duplicates[d] = p.l
				used[d] = true
			}
		}
		if tied, dups := ties(p, bestOf[p.l], used, false); len(tied) > 0 {
			res.Ambiguous[p.l] = append([]*Rec{p.b}, tied...)
			continue
		} else {
			for _, d := range dups {
				res.Duplicates[d] = p.b
				used[d] = true
			}
		}
		g := e.group(rule, []*Rec{p.b}, []*Rec{p.l}, p.s.conf, p.s.expl)
		if g == nil {
			continue
		}
		used[p.b], used[p.l] = true, true
		res.Matches = append(res.Matches, g)
	}
}

// ties returns the other free counterparts that rank equal to p's — of
// p's bank record (bankSide) or of its ledger record — split into
// non-twins (ambiguity) and twins of p's counterpart (duplicates).
func ties(p pair, list []pair, used map[*Rec]bool, bankSide bool) (tied, dups []*Rec) {
	win := p.l
	if !bankSide {
		win = p.b
	}
	for _, q := range list {
		other := q.l
		if !bankSide {
			other = q.b
		}
		if other == win || used[other] || !equalRank(p.s, q.s) {
			continue
		}
		if twins(win, other) {
			dups = append(dups, other)
		} else {
			tied = append(tied, other)
		}
	}
	return tied, dups
}

// groups matches one record against several of the other side (1:N with
// ones = bank, N:1 with ones = ledger) by a bounded subset sum over the
// candidates that share a reference key and fall in the date window. A
// second fitting subset makes the record ambiguous.
func (e *Engine) groups(rule *Rule, ones, manys []*Rec, used map[*Rec]bool, res *PoolResult) {
	byKey := indexByKey(manys, rule.KeyPrefix)
	for _, one := range ones {
		if used[one] {
			continue
		}
		var cands []*Rec
		seen := map[*Rec]bool{}
		consider := manys
		if rule.Reference != "none" {
			consider = nil
			for _, k := range keysOf(one, rule.KeyPrefix) {
				consider = append(consider, byKey[k]...)
			}
		}
		for _, m := range consider {
			if seen[m] || used[m] || m.Account != one.Account || m.Currency != one.Currency || m.Amount.Sign() != one.Amount.Sign() {
				continue
			}
			seen[m] = true
			b, l := bankLedger(one, m)
			gap := e.dayGap(rule, b, l)
			if gap < -rule.Date.Before || gap > rule.Date.After {
				continue
			}
			cands = append(cands, m)
		}
		if len(cands) < 2 {
			continue
		}
		sort.Slice(cands, func(i, j int) bool {
			gi, gj := abs(int(cands[i].BookingDate-one.BookingDate)), abs(int(cands[j].BookingDate-one.BookingDate))
			if gi != gj {
				return gi < gj
			}
			return cands[i].ID < cands[j].ID
		})
		cut := len(cands) > rule.MaxCandidates
		if cut {
			cands = cands[:rule.MaxCandidates]
		}
		found, second, spent := e.subset(rule, one, cands)
		if found == nil {
			switch {
			case cut && res.Bounds[one] == "":
				res.Bounds[one] = fmt.Sprintf("group search bound hit: %d candidates share a reference with this record; rule %s tried the %d closest in date (max_candidates)",
					len(seen), rule.Name, rule.MaxCandidates)
			case spent && res.Bounds[one] == "":
				res.Bounds[one] = fmt.Sprintf("group search bound hit: rule %s stopped after %d subsets of %d candidates", rule.Name, subsetBudget, len(cands))
			}
			continue
		}
		if second != nil {
			res.Ambiguous[one] = append(append([]*Rec(nil), found...), second...)
			continue
		}
		maxGap := 0
		for _, m := range found {
			maxGap = max(maxGap, abs(int(m.BookingDate-one.BookingDate)))
		}
		conf := rule.Confidence - 50*maxGap
		banks, ledgers := []*Rec{one}, found
		expl := fmt.Sprintf("%d ledger items share a reference with the bank entry and add up to it", len(found))
		if one.Side == record.Ledger {
			banks, ledgers = found, []*Rec{one}
			expl = fmt.Sprintf("%d bank entries share a reference with the ledger item and add up to it", len(found))
		}
		g := e.group(rule, banks, ledgers, conf, expl)
		if g == nil {
			continue
		}
		for _, m := range found {
			used[m] = true
		}
		used[one] = true
		if !g.Difference.IsZero() {
			g.Explanation += ", difference " + money.Format(g.Difference, one.Currency)
		}
		res.Matches = append(res.Matches, g)
	}
}

// subsetBudget bounds the subset search per record.
const subsetBudget = 200_000

// subset finds subsets of cands (2 to MaxGroup members, smallest first)
// whose sum fits one under the rule's amount tolerance. It returns the first
// and, if there is one, a second fitting subset of the same size; spent
// says the search budget ran out first.
func (e *Engine) subset(rule *Rule, one *Rec, cands []*Rec) (first, second []*Rec, spent bool) {
	nodes := 0
	target, err := one.Amount.Abs()
	if err != nil {
		return nil, nil, false
	}
	fits := func(sum money.Decimal) bool {
		s := sum
		if one.Amount.Sign() < 0 {
			var err error
			if s, err = sum.Neg(); err != nil {
				return false
			}
		}
		if one.Side == record.Bank {
			return e.amountOK(rule, one.Amount, s)
		}
		return e.amountOK(rule, s, one.Amount)
	}
	limit, err := target.Add(rule.abs)
	if err == nil {
		limit, err = limit.Add(rule.fee)
	}
	if err != nil {
		return nil, nil, false // no sum of int64 units can reach it
	}
	for size := 2; size <= rule.MaxGroup && size <= len(cands); size++ {
		var pick []*Rec
		var walk func(start int, sum money.Decimal) bool
		walk = func(start int, sum money.Decimal) bool {
			if nodes++; nodes > subsetBudget {
				return true
			}
			if len(pick) == size {
				if fits(sum) {
					if first == nil {
						first = append([]*Rec(nil), pick...)
					} else {
						second = append([]*Rec(nil), pick...)
						return true
					}
				}
				return false
			}
			for i := start; i <= len(cands)-(size-len(pick)); i++ {
				a, err := cands[i].Amount.Abs()
				if err != nil {
					continue
				}
				next, err := sum.Add(a)
				if err != nil || next.Cmp(limit) > 0 {
					continue
				}
				pick = append(pick, cands[i])
				stop := walk(i+1, next)
				pick = pick[:len(pick)-1]
				if stop {
					return true
				}
			}
			return false
		}
		walk(0, money.New(0, 0))
		if first != nil || nodes > subsetBudget {
			return first, second, nodes > subsetBudget
		}
	}
	return nil, nil, false
}

// Explain says why r, pending when its window closed, is a break, and
// lists up to three of the closest candidates in pool.
func (e *Engine) Explain(r *Rec, pool []*Rec, res PoolResult) (record.BreakReason, []record.Candidate) {
	reason := record.Unmatched
	if twin, ok := res.Duplicates[r]; ok {
		return record.Duplicate, []record.Candidate{candidate(twin, 10000, "matched twin of this record")}
	}
	if amb, ok := res.Ambiguous[r]; ok {
		var cs []record.Candidate
		for _, c := range amb {
			cs = append(cs, candidate(c, 9000, "equally good candidate"))
		}
		return record.Ambiguous, cs
	}
	type cand struct {
		c     *Rec
		score int
		note  string
	}
	var list []cand
	for _, c := range pool {
		if c.Side == r.Side || c.Account != r.Account || c.Currency != r.Currency {
			continue
		}
		gap := abs(int(c.BookingDate - r.BookingDate))
		if gap > 2*e.span {
			continue
		}
		switch {
		case sharesKey(r, c) && r.Amount.Equal(c.Amount) && !e.dateFitsAny(r, c):
			// The same reference and amount: only the dates keep them apart.
			list = append(list, cand{c, 9000 - 10*gap, fmt.Sprintf("reference and amount match; booked %d days apart, outside every rule's window", gap)})
			reason = record.DateOutOfWindow
		case sharesKey(r, c) && !r.Amount.Equal(c.Amount):
			expl := "reference matches, amount differs"
			if d, err := r.Amount.Sub(c.Amount); err == nil {
				expl += " by " + money.Format(d, r.Currency)
			}
			list = append(list, cand{c, 8000 - 50*gap, expl})
			if reason != record.DateOutOfWindow {
				reason = record.AmountMismatch
			}
		case r.Amount.Equal(c.Amount):
			list = append(list, cand{c, 6000 - 50*gap, "same amount, reference differs"})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].score != list[j].score {
			return list[i].score > list[j].score
		}
		return list[i].c.ID < list[j].c.ID
	})
	cs := []record.Candidate{}
	for _, x := range list[:min(3, len(list))] {
		cs = append(cs, candidate(x.c, x.score, x.note))
	}
	return reason, cs
}

// dateFitsAny reports whether the booking dates of r and c fit the date
// window of any one-to-one rule.
func (e *Engine) dateFitsAny(r, c *Rec) bool {
	b, l := bankLedger(r, c)
	for i := range e.cfg.Rules {
		rule := &e.cfg.Rules[i]
		if rule.Cardinality != "1:1" || rule.LateOnly {
			continue
		}
		if gap := e.dayGap(rule, b, l); gap >= -rule.Date.Before && gap <= rule.Date.After {
			return true
		}
	}
	return false
}

func candidate(c *Rec, score int, note string) record.Candidate {
	return record.Candidate{ID: c.ID, Currency: c.Currency, Amount: c.Amount, BookingDate: c.BookingDate,
		Reference: c.Reference, Score: score, Note: strings.TrimSpace(note)}
}
