package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/money"
)

// wholeGroups matches a bank entry against every free ledger item that
// shares one of its reference keys (a card acquirer's or PSP's payout or
// batch id) within the date window, charges and refunds alike, booked fee
// lines included: their total is summed once per key, so a payout of
// thousands of items costs a pass over them, no subset search. The total
// must equal the bank amount, or exceed a credit (fall short of a debit)
// by an unbooked fee within amount.fee_share of the total; a fee above
// amount.propose_above is proposed. Two keys giving two different groups
// of the same size make the entry ambiguous. What this leaves (a payout
// whose items do not all belong to it) is for the subset rules after it.
func (e *Engine) wholeGroups(rule *Rule, banks, ledgers []*Rec, used map[*Rec]bool, res *PoolResult) {
	byKey := indexByKey(ledgers, rule.KeyPrefix)
	type fit struct {
		key   string
		items []*Rec
		total money.Decimal
	}
	for _, b := range banks {
		if used[b] {
			continue
		}
		var fits []fit
		for _, k := range keysOf(b, rule.KeyPrefix) {
			var items []*Rec
			total := money.New(0, 0)
			bad := false
			for _, l := range byKey[k] {
				if used[l] || l.Account != b.Account || l.Currency != b.Currency {
					continue
				}
				if gap := e.dayGap(rule, b, l); gap < -rule.Date.Before || gap > rule.Date.After {
					continue
				}
				var err error
				if total, err = total.Add(l.Amount); err != nil {
					bad = true
					break
				}
				items = append(items, l)
			}
			if bad || len(items) < 2 || total.Sign() != b.Amount.Sign() || !e.amountOK(rule, b.Amount, total) {
				continue
			}
			dup := false
			for _, f := range fits {
				if sameRecs(f.items, items) {
					dup = true
				}
			}
			if !dup {
				fits = append(fits, fit{k, items, total})
			}
		}
		if len(fits) == 0 {
			continue
		}
		sort.SliceStable(fits, func(i, j int) bool { return len(fits[i].items) > len(fits[j].items) })
		if len(fits) > 1 && len(fits[1].items) == len(fits[0].items) {
			res.Ambiguous[b] = append(append([]*Rec(nil), fits[0].items...), fits[1].items...)
			continue
		}
		f := fits[0]
		var charges, refunds int
		maxGap := 0
		for _, l := range f.items {
			if l.Amount.Sign() == b.Amount.Sign() {
				charges++
			} else {
				refunds++
			}
			maxGap = max(maxGap, abs(e.dayGap(rule, b, l)))
		}
		expl := fmt.Sprintf("%d ledger items carry the id %s (%d with the payout's sign, %d against it: refunds, fees) and total %s",
			len(f.items), f.key, charges, refunds, money.Format(f.total, b.Currency))
		conf := rule.Confidence - 50*min(maxGap, 10)
		diff, err := b.Amount.Sub(f.total)
		if err != nil {
			continue
		}
		if diff.IsZero() {
			expl += ", equal to the bank amount"
		} else {
			expl += ", " + describeDiff(rule, diff, f.total, b.Currency) + " not booked in the ledger"
			conf -= 300
		}
		g := e.group(rule, []*Rec{b}, append([]*Rec(nil), f.items...), conf, expl)
		if g == nil {
			continue
		}
		used[b] = true
		for _, l := range f.items {
			used[l] = true
		}
		res.Matches = append(res.Matches, g)
	}
}

func sameRecs(a, b []*Rec) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[*Rec]bool, len(a))
	for _, r := range a {
		in[r] = true
	}
	for _, r := range b {
		if !in[r] {
			return false
		}
	}
	return true
}

// expandGroups matches a bank entry whose remittance names several
// invoices, some of them lost where the bank cut the text short: the
// ledger items sharing a key with it (at least one: the numbers that
// survived) anchor the group, and free items of the same counterparty
// (min_similarity, the name or the bank's text) within the window fill
// it up to the bank amount exactly. Up to max_candidates such items, the
// closest in date, are searched for up to max_group members in all; two
// different fillings make the entry ambiguous, a search cut by the bound
// says so in the break.
//
// With reference none there are no anchors: the counterparty's items in
// the window (at least two) make up the whole amount, a customer or
// supplier who pays several invoices at once and names none.
func (e *Engine) expandGroups(rule *Rule, banks, ledgers []*Rec, used map[*Rec]bool, res *PoolResult) {
	byKey := indexByKey(ledgers, rule.KeyPrefix)
	inWindow := func(b, l *Rec) bool {
		if used[l] || l.Account != b.Account || l.Currency != b.Currency || l.Amount.Sign() != b.Amount.Sign() {
			return false
		}
		gap := e.dayGap(rule, b, l)
		return gap >= -rule.Date.Before && gap <= rule.Date.After
	}
	for _, b := range banks {
		if used[b] {
			continue
		}
		var anchors []*Rec
		isAnchor := map[*Rec]bool{}
		if rule.Reference != "none" {
			for _, k := range keysOf(b, rule.KeyPrefix) {
				for _, l := range byKey[k] {
					if !isAnchor[l] && inWindow(b, l) {
						isAnchor[l] = true
						anchors = append(anchors, l)
					}
				}
			}
			if len(anchors) == 0 || len(anchors) >= rule.MaxGroup {
				continue
			}
		}
		target, err := b.Amount.Abs()
		if err != nil {
			continue
		}
		for _, a := range anchors {
			aa, err := a.Amount.Abs()
			if err == nil {
				target, err = target.Sub(aa)
			}
			if err != nil {
				target = money.New(-1, 0)
				break
			}
		}
		if target.Sign() <= 0 {
			continue // the anchors alone are the amount or more: other rules' business
		}
		var others []*Rec
		for _, l := range ledgers {
			if isAnchor[l] || !inWindow(b, l) {
				continue
			}
			if sim, _ := e.nameSim(b, l, true); sim < rule.Counterparty.MinSimilarity || sim < 0 {
				continue
			}
			others = append(others, l)
		}
		sort.Slice(others, func(i, j int) bool {
			gi, gj := abs(int(others[i].BookingDate-b.BookingDate)), abs(int(others[j].BookingDate-b.BookingDate))
			if gi != gj {
				return gi < gj
			}
			return others[i].ID < others[j].ID
		})
		cut := len(others) > rule.MaxCandidates
		if cut {
			others = others[:rule.MaxCandidates]
		}
		first, second, spent := exactSubset(others, target, rule.MaxGroup-len(anchors))
		if first == nil {
			if (cut || spent) && res.Bounds[b] == "" {
				res.Bounds[b] = fmt.Sprintf("group search bound hit: rule %s searched the %d items of the counterparty closest in date (max_candidates %d) for the invoices the text no longer names",
					rule.Name, len(others), rule.MaxCandidates)
			}
			continue
		}
		if len(anchors) == 0 && len(first) < 2 {
			continue // one item of the amount is a one-to-one matter
		}
		if second != nil {
			res.Ambiguous[b] = append(append(append([]*Rec(nil), anchors...), first...), second...)
			continue
		}
		var named []string
		for _, a := range anchors {
			named = append(named, a.Reference)
		}
		sort.Strings(named)
		members := append(append([]*Rec(nil), anchors...), first...)
		maxGap := 0
		for _, l := range members {
			maxGap = max(maxGap, abs(int(l.BookingDate-b.BookingDate)))
		}
		expl := fmt.Sprintf("the bank text names %s; %d more item(s) of the same counterparty complete the amount exactly (%d ledger items in all)",
			strings.Join(named, ", "), len(first), len(members))
		if len(anchors) == 0 {
			expl = fmt.Sprintf("%d items of the same counterparty add up to the amount exactly, no reference shared", len(members))
		}
		g := e.group(rule, []*Rec{b}, members, rule.Confidence-50*maxGap, expl)
		if g == nil || !g.Difference.IsZero() {
			continue
		}
		used[b] = true
		for _, l := range members {
			used[l] = true
		}
		res.Matches = append(res.Matches, g)
	}
}

// exactSubset finds subsets of cands (1 to maxSize members, smallest
// first; amounts taken absolute, all of one sign) summing to target
// exactly: the first, a second of any size if there is one (then the
// filling is ambiguous), and whether the node budget ran out.
func exactSubset(cands []*Rec, target money.Decimal, maxSize int) (first, second []*Rec, spent bool) {
	abss := make([]money.Decimal, len(cands))
	for i, c := range cands {
		a, err := c.Amount.Abs()
		if err != nil {
			return nil, nil, false
		}
		abss[i] = a
	}
	nodes := 0
	for size := 1; size <= maxSize && size <= len(cands); size++ {
		var pick []*Rec
		var walk func(start int, sum money.Decimal) bool
		walk = func(start int, sum money.Decimal) bool {
			if nodes++; nodes > subsetBudget {
				return true
			}
			if len(pick) == size {
				if sum.Equal(target) {
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
				next, err := sum.Add(abss[i])
				if err != nil || next.Cmp(target) > 0 {
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
		if walk(0, money.New(0, 0)) {
			break // a second filling, or the budget spent
		}
	}
	return first, second, nodes > subsetBudget
}
