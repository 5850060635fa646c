package engine

import (
	"sort"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// SupersedeRule names the groups that record a booked bank entry taking
// the place of the provisional (intraday) entry it confirms.
const SupersedeRule = "supersedes-provisional"

// Signature identifies a bank entry across its provisional (camt.052
// pending, MT942, BAI2 intraday) and booked (end-of-day) reports: account,
// currency, amount, and the bank's reference when there is one, else the
// normalised reference.
func Signature(r *Rec) string {
	ref := r.BankReference
	if ref == "" {
		ref = r.NormRef
	}
	if ref == "" || r.Side != record.Bank {
		return ""
	}
	return r.Account + "|" + r.Currency + "|" + r.Amount.Trim(0).String() + "|" + ref
}

// Supersedes reports whether booked confirms provisional.
func Supersedes(booked, provisional *Rec) bool {
	if booked.Provisional || !provisional.Provisional || booked.Side != record.Bank || provisional.Side != record.Bank {
		return false
	}
	s := Signature(booked)
	if s == "" || s != Signature(provisional) {
		return false
	}
	d := int(booked.BookingDate - provisional.BookingDate)
	return d >= -1 && d <= 5
}

// SupersedeGroup records booked taking the place of provisional, which is
// already matched (or is being taken out of the window): the booked entry
// is accounted for without matching its counterpart a second time.
func SupersedeGroup(booked *Rec, provisionalID string) *Group {
	return &Group{Bank: []*Rec{booked}, Rule: SupersedeRule, Confidence: 10000, Status: record.Auto,
		Difference: money.New(0, 0), Explanation: "booked entry confirms provisional entry " + provisionalID}
}

// supersede pairs, in a pool, each booked bank entry with a provisional one
// it confirms. The provisional one keeps its place when it is the one with
// a counterpart; here, both pending, the booked entry stays and the
// provisional one is accounted for as superseded.
func supersede(recs []*Rec, used map[*Rec]bool, res *PoolResult) {
	var prov []*Rec
	for _, r := range recs {
		if r.Provisional && r.Side == record.Bank {
			prov = append(prov, r)
		}
	}
	if len(prov) == 0 {
		return
	}
	sort.Slice(prov, func(i, j int) bool { return prov[i].ID < prov[j].ID })
	for _, b := range recs {
		if b.Provisional || b.Side != record.Bank || used[b] {
			continue
		}
		for _, p := range prov {
			if !used[p] && Supersedes(b, p) {
				used[p] = true
				g := SupersedeGroup(p, b.ID)
				g.Explanation = "provisional entry confirmed by booked entry " + b.ID
				res.Matches = append(res.Matches, g)
				break
			}
		}
	}
}
