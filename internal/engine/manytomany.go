package engine

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/openrecon/recon/internal/money"
)

// MaxManyToMany bounds the N:M search: a rule looks at most at this many
// records per side sharing one reference key, and tries every subset of
// each side (2^n), so 12 means 4,096 sums per side. More records than the
// rule's max_candidates are not searched, and their breaks say so.
const MaxManyToMany = 12

// manyToMany matches several bank entries against several ledger items
// (at least two each) that share a reference key (a batch id) and whose
// totals agree exactly, within the rule's date window pair by pair. Of the
// splits that agree it takes the one with the most records; two different
// splits of that size make it ambiguous, and nothing is matched.
func (e *Engine) manyToMany(rule *Rule, banks, ledgers []*Rec, used map[*Rec]bool, res *PoolResult) {
	type side struct{ b, l []*Rec }
	byKey := map[string]*side{}
	part := func(r *Rec, k string) string {
		return r.Account + "\x00" + r.Currency + "\x00" + fmt.Sprint(r.Amount.Sign()) + "\x00" + k
	}
	for _, b := range banks {
		for _, k := range b.Keys {
			p := part(b, k)
			if byKey[p] == nil {
				byKey[p] = &side{}
			}
			byKey[p].b = append(byKey[p].b, b)
		}
	}
	for _, l := range ledgers {
		for _, k := range l.Keys {
			if s := byKey[part(l, k)]; s != nil {
				s.l = append(s.l, l)
			}
		}
	}
	var keys []string
	for k, s := range byKey {
		if len(s.b) >= 2 && len(s.l) >= 2 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := byKey[k]
		bs := unused(s.b, used)
		ls := unused(s.l, used)
		if len(bs) < 2 || len(ls) < 2 {
			continue
		}
		ref := k[strings.LastIndexByte(k, 0)+1:]
		if len(bs) > rule.MaxCandidates || len(ls) > rule.MaxCandidates {
			note := fmt.Sprintf("N:M search bound hit: %d bank entries and %d ledger items share the reference %s; rule %s searches up to %d per side (max_candidates)",
				len(bs), len(ls), ref, rule.Name, rule.MaxCandidates)
			for _, r := range append(append([]*Rec(nil), bs...), ls...) {
				if res.Bounds[r] == "" {
					res.Bounds[r] = note
				}
			}
			continue
		}
		gb, gl, ok := e.split(rule, bs, ls)
		if !ok {
			continue
		}
		maxGap := 0
		for _, b := range gb {
			for _, l := range gl {
				maxGap = max(maxGap, abs(e.dayGap(rule, b, l)))
			}
		}
		g := e.group(rule, gb, gl, rule.Confidence-50*maxGap,
			fmt.Sprintf("%d bank entries and %d ledger items share the reference %s and their totals agree", len(gb), len(gl), ref))
		if g == nil {
			continue
		}
		for _, r := range append(append([]*Rec(nil), gb...), gl...) {
			used[r] = true
		}
		res.Matches = append(res.Matches, g)
	}
}

func unused(rs []*Rec, used map[*Rec]bool) []*Rec {
	var out []*Rec
	for _, r := range rs {
		if !used[r] && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sortRecs(out)
	return out
}

// split finds the largest subsets of bs and ls (two or more each) with
// equal totals whose every pair fits the rule's date window; ok is false
// when there is none or two different ones of that size.
func (e *Engine) split(rule *Rule, bs, ls []*Rec) (gb, gl []*Rec, ok bool) {
	sums := func(rs []*Rec) map[string][]uint32 {
		out := map[string][]uint32{}
		for m := uint32(3); m < 1<<len(rs); m++ {
			if bits.OnesCount32(m) < 2 {
				continue
			}
			t := money.New(0, 0)
			var err error
			for i, r := range rs {
				if m&(1<<i) != 0 {
					if t, err = t.Add(r.Amount); err != nil {
						break
					}
				}
			}
			if err == nil {
				k := t.Trim(0).String()
				out[k] = append(out[k], m)
			}
		}
		return out
	}
	pick := func(rs []*Rec, m uint32) []*Rec {
		var out []*Rec
		for i, r := range rs {
			if m&(1<<i) != 0 {
				out = append(out, r)
			}
		}
		return out
	}
	lsums := sums(ls)
	best, ties := -1, 0
	var bm, lm uint32
	for k, bmasks := range sums(bs) {
		for _, x := range bmasks {
			for _, y := range lsums[k] {
				n := bits.OnesCount32(x) + bits.OnesCount32(y)
				if n < best || !e.fitsWindow(rule, pick(bs, x), pick(ls, y)) {
					continue
				}
				if n > best {
					best, ties, bm, lm = n, 0, x, y
				} else {
					ties++
				}
			}
		}
	}
	if best < 0 || ties > 0 {
		return nil, nil, false
	}
	return pick(bs, bm), pick(ls, lm), true
}

func (e *Engine) fitsWindow(rule *Rule, bs, ls []*Rec) bool {
	for _, b := range bs {
		for _, l := range ls {
			if g := e.dayGap(rule, b, l); g < -rule.Date.Before || g > rule.Date.After {
				return false
			}
		}
	}
	return true
}
