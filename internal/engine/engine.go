// Package engine decides matches. It is pure: no I/O, no clocks. The
// matcher feeds it records and their candidate counterparts; it applies an
// ordered waterfall of rules (reference comparison, amount and fee
// tolerance, date window, counterparty similarity, cardinality 1:1, 1:N and
// N:1 by bounded subset sum) and answers with matches, each with its
// confidence and explanation, duplicates and ambiguities, and for what stays
// unmatched the reason and the closest candidates.
package engine

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Rec is a record in the matching window.
type Rec struct {
	record.Item
	Account     string
	NormRef     string
	Keys        []string // reference keys (Prepare)
	Provisional bool
	// OrigCurrency and OrigAmount: the amount a ledger item was invoiced
	// in, in another currency (original_currency, original_amount), for
	// fx_rates rules; empty when none.
	OrigCurrency string
	OrigAmount   money.Decimal

	// The counterparty name's and the free text's tokens, each computed
	// on first use (the text is searched only when a side has no name).
	names, text         []string
	namesDone, textDone bool
}

func (r *Rec) nameToks() []string {
	if !r.namesDone {
		r.names, r.namesDone = nameTokens(r.Counterparty), true
	}
	return r.names
}

func (r *Rec) textToks() []string {
	if !r.textDone {
		r.text, r.textDone = textTokens(r.Description), true
	}
	return r.text
}

// nameSim compares the counterparty names of b and l (0-100; -1 when
// either has none). With text, a side without a name is searched for the
// other's name in its free text (MT940 :86:, a BAI2 16 record's text,
// unstructured remittance): who paid is often written only there.
func nameSim(b, l *Rec, text bool) int {
	bn, ln := b.nameToks(), l.nameToks()
	if s := similarity(bn, ln); s >= 0 || !text {
		return s
	}
	switch {
	case len(bn) == 0 && len(ln) > 0:
		return containment(ln, b.textToks())
	case len(ln) == 0 && len(bn) > 0:
		return containment(bn, l.textToks())
	}
	return -1
}

// Engine applies a Config.
type Engine struct {
	cfg   Config
	cal   *calendar.Set
	holds []holdWindow // what each rule's window holds open, late_only rules aside
	// groupRules are the group rules with a reference (MatchGroups).
	groupRules []Rule
	span       int // calendar days the widest window can cover

	maxCal, maxBiz int // the widest calendar-day and business-day windows

	aliases aliasIndex // cfg.Aliases by ledger name
}

// holdWindow is how long one rule can still take a record: the days its
// counterpart may be booked after it (a bank entry waits for a ledger
// item up to date.before, a ledger item for a bank entry up to
// date.after), for the records the rule can take at all.
type holdWindow struct {
	rule               *Rule
	bankWait, ledgWait int
	business           bool
}

// New returns an engine for cfg (which Validate prepared).
func New(cfg Config) *Engine {
	if err := cfg.Validate(); err != nil {
		panic(err) // callers load configs through ParseConfig or DefaultConfig
	}
	cal := cfg.Calendars
	if cal == nil {
		cal = calendar.Default()
	}
	cw, bw := cfg.maxWindows()
	// n business days cover at most n calendar days, two per weekend and
	// a few holidays.
	span := max(cw, bw+2*((bw+4)/5)+4)
	e := &Engine{cfg: cfg, cal: cal, span: span, maxCal: cw, maxBiz: bw, aliases: newAliasIndex(cfg.Aliases)}
	for i := range e.cfg.Rules {
		r := &e.cfg.Rules[i]
		if r.LateOnly {
			continue
		}
		e.holds = append(e.holds, holdWindow{rule: r, bankWait: r.Date.Before, ledgWait: r.Date.After, business: r.Date.BusinessDays})
		if r.Cardinality != "1:1" && r.Reference != "none" {
			e.groupRules = append(e.groupRules, *r)
		}
	}
	return e
}

// canTake reports whether rule could ever take r, judged from r alone: a
// rule that needs a reference cannot take a record without one, a
// cheque rule (key_prefix) a record without a cheque number, a
// counterparty rule a record with no name and no text, a unique-amount
// rule a round amount.
func canTake(rule *Rule, r *Rec) bool {
	switch rule.Reference {
	case "exact":
		if strings.TrimSpace(r.Reference) == "" {
			return false
		}
	case "normalized":
		if r.NormRef == "" {
			return false
		}
	case "contains":
		if !hasKey(r, rule.KeyPrefix) {
			return false
		}
	}
	if rule.FXRates && r.Side == record.Ledger && r.OrigCurrency == "" {
		return false
	}
	if rule.Counterparty.MinSimilarity > 0 || rule.Expand == "counterparty" {
		if len(r.nameToks()) == 0 && len(r.textToks()) == 0 {
			return false
		}
	}
	if rule.UniqueAmount && r.Amount.Trim(0).Scale() == 0 {
		return false
	}
	return true
}

// CloseDate is the stream time at which an unmatched r becomes a break:
// its booking date plus the widest window of the rules that could still
// take it, in its direction (business-day windows counted in r's
// currency's calendar), plus the grace days. A record that no rule with
// a wide window can take is not held by that window: a payment without a
// reference breaks after the no-reference rules' few days, not after the
// instalment rule's month.
func (e *Engine) CloseDate(r *Rec) record.Date {
	cw, bw := 0, 0
	for i := range e.holds {
		if cw >= e.maxCal && bw >= e.maxBiz {
			break // nothing can widen it further
		}
		h := &e.holds[i]
		w := h.ledgWait
		if r.Side == record.Bank {
			w = h.bankWait
		}
		if h.business && w <= bw || !h.business && w <= cw || !canTake(h.rule, r) {
			continue
		}
		if h.business {
			bw = w
		} else {
			cw = w
		}
	}
	d := r.BookingDate + record.Date(cw)
	if bw > 0 {
		d = max(d, e.cal.For(r.Currency).Add(r.BookingDate, bw))
	}
	return d + record.Date(e.cfg.GraceDays)
}

// LateHorizon is the stream time after which r arriving is late: its
// booking date plus the widest window of the whole rule set (late_only
// rules aside) and the grace. It does not depend on what could take r,
// so records of one delivery that come out of date order (a file sorted
// by account) are not late, however short their own windows.
func (e *Engine) LateHorizon(r *Rec) record.Date {
	d := r.BookingDate + record.Date(e.maxCal)
	if e.maxBiz > 0 {
		d = max(d, e.cal.For(r.Currency).Add(r.BookingDate, e.maxBiz))
	}
	return d + record.Date(e.cfg.GraceDays)
}

// Group is a match decision.
type Group struct {
	Bank, Ledger []*Rec
	Rule         string
	Confidence   record.Confidence
	Status       record.MatchStatus
	Difference   money.Decimal // bank sum - ledger sum
	Explanation  string
}

// Decision is the engine's answer for an arriving record.
type Decision struct {
	Match *Group
	// Superseded is a pending provisional entry the arriving booked entry
	// confirms: it leaves the window accounted for by this group.
	Superseded *Group
	// Duplicates are pending records of the counterpart's side identical to
	// the one matched: the same posting twice.
	Duplicates []*Rec
	// Ambiguous lists equally good candidates when nothing was matched.
	Ambiguous []*Rec
}

func bankLedger(a, b *Rec) (*Rec, *Rec) {
	if a.Side == record.Bank {
		return a, b
	}
	return b, a
}

// dayGap returns bank date - ledger date in days: calendar days, or under
// a business-day rule the business days from one to the other in the
// currency's calendar (Friday to Monday is 1; over Easter in TARGET2,
// Thursday to Tuesday is 1).
func (e *Engine) dayGap(rule *Rule, b, l *Rec) int {
	if !rule.Date.BusinessDays {
		return int(b.BookingDate - l.BookingDate)
	}
	return e.cal.For(b.Currency).Between(l.BookingDate, b.BookingDate)
}

// pairScore checks bank b against ledger l under rule r. It returns the
// confidence and the explanation, or ok=false.
func (e *Engine) pairScore(r *Rule, b, l *Rec) (conf int, gap int, diff money.Decimal, expl string, ok bool) {
	if b.Account != l.Account || b.Currency != l.Currency || b.Amount.Sign() != l.Amount.Sign() || r.FXRates && l.OrigCurrency == "" {
		return
	}
	var parts []string
	switch r.Reference {
	case "exact":
		if b.Reference == "" || strings.TrimSpace(b.Reference) != strings.TrimSpace(l.Reference) {
			return
		}
		parts = append(parts, "reference equal")
	case "normalized":
		if b.NormRef == "" || b.NormRef != l.NormRef {
			return
		}
		parts = append(parts, "reference equal (normalised)")
	case "contains":
		if !sharesKeyWith(b, l, r.KeyPrefix) {
			return
		}
		if r.KeyPrefix == "CHQ" {
			parts = append(parts, "cheque number equal")
		} else {
			parts = append(parts, "reference found in the other side's text")
		}
	}
	d, err := b.Amount.Sub(l.Amount)
	if err != nil {
		return
	}
	diff = d
	if r.FXRates {
		conv, rate, found := e.cfg.Rates.convert(l.OrigAmount, l.OrigCurrency, b.Currency, b.BookingDate)
		if !found || !conv.Equal(b.Amount) {
			return
		}
		parts = append(parts, fmt.Sprintf("original %s at the rate %s of %s is the bank amount", money.Format(l.OrigAmount, l.OrigCurrency), rate, b.BookingDate))
	} else if !e.amountOK(r, b.Amount, l.Amount) {
		return
	} else if !diff.IsZero() && !r.fee.IsZero() && l.OrigCurrency != "" && l.OrigCurrency != l.Currency {
		return // a converted amount's difference is no bank fee: the FX rules' business
	}
	gap = e.dayGap(r, b, l)
	if gap < -r.Date.Before || gap > r.Date.After {
		return
	}
	conf = r.Confidence
	if diff.IsZero() {
		parts = append(parts, "amount equal")
	} else {
		parts = append(parts, describeDiff(r, diff, l.Amount, b.Currency))
		if !r.FXRates {
			conf -= 300
		}
	}
	if gap != 0 {
		parts = append(parts, fmt.Sprintf("dates %d day(s) apart", abs(gap)))
		conf -= 50 * abs(gap)
	}
	sim, alias := e.nameSim(b, l, r.Counterparty.MinSimilarity > 0)
	if r.Counterparty.MinSimilarity > 0 {
		if sim < r.Counterparty.MinSimilarity {
			return
		}
		if alias != nil {
			parts = append(parts, describeAlias(alias))
		} else if b.Counterparty == "" || l.Counterparty == "" {
			parts = append(parts, fmt.Sprintf("counterparty %d%% found in the other side's text", sim))
		} else {
			parts = append(parts, fmt.Sprintf("counterparty %d%% similar", sim))
		}
	}
	if r.UniqueAmount {
		if b.Amount.Trim(0).Scale() == 0 {
			return // a round amount says too little on its own
		}
		parts = append(parts, "the only record of this amount on either side in the window")
	}
	if sim >= 0 && sim < 100 {
		conf -= (100 - sim) * 5
	}
	if conf < r.MinConfidence {
		return
	}
	return conf, gap, diff, strings.Join(parts, ", "), true
}

// amountOK: within the absolute or percent tolerance, or lower on the bank
// side by at most the fee (the bank deducted a charge).
func (e *Engine) amountOK(r *Rule, bank, ledger money.Decimal) bool {
	d, err := bank.Sub(ledger)
	if err != nil {
		return false
	}
	ad, err := d.Abs()
	if err != nil {
		return false // a difference beyond int64 units fits no tolerance
	}
	if ad.IsZero() || ad.Cmp(r.abs) <= 0 {
		return true
	}
	if !r.pct.IsZero() {
		al, err := ledger.Abs()
		if err != nil {
			return false
		}
		// tolerance = |ledger| * pct / 100, compared without division
		lhs := ad.Rat()
		rhs := al.Rat()
		rhs.Mul(rhs, r.pct.Rat())
		rhs.Quo(rhs, ratHundred)
		if lhs.Cmp(rhs) <= 0 {
			return true
		}
	}
	if !r.fee.IsZero() || !r.feeShare.IsZero() {
		// Money in: the bank credits less; money out: it debits more. Either
		// way ledger - bank is the fee, positive. Without amount.fee only
		// the share caps it.
		short, err := ledger.Sub(bank)
		if err == nil && short.Sign() > 0 && (r.fee.IsZero() || short.Cmp(r.fee) <= 0) {
			if r.feeShare.IsZero() {
				return true
			}
			al, err := ledger.Abs()
			if err != nil {
				return false
			}
			// short <= |ledger| * share / 100
			rhs := al.Rat()
			rhs.Mul(rhs, r.feeShare.Rat())
			rhs.Quo(rhs, ratHundred)
			return short.Rat().Cmp(rhs) <= 0
		}
	}
	return false
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// twins reports whether a and b (same side) are the same posting twice.
// Twins reports whether a and b look like the same posting entered twice:
// the same side, account, currency, amount, date, reference, counterparty
// and text.
func Twins(a, b *Rec) bool { return twins(a, b) }

func twins(a, b *Rec) bool {
	return a.Side == b.Side && a.Account == b.Account && a.Currency == b.Currency && a.Amount.Equal(b.Amount) &&
		a.BookingDate == b.BookingDate && a.NormRef == b.NormRef && a.Counterparty == b.Counterparty && a.Description == b.Description
}

type scored struct {
	c       *Rec
	conf    int
	gap     int
	absDiff money.Decimal // |bank - ledger|
	expl    string
}

func better(x, y scored) bool {
	if x.conf != y.conf {
		return x.conf > y.conf
	}
	if abs(x.gap) != abs(y.gap) {
		return abs(x.gap) < abs(y.gap)
	}
	if c := x.absDiff.Cmp(y.absDiff); c != 0 {
		return c < 0
	}
	return x.c.ID < y.c.ID
}

func equalRank(x, y scored) bool {
	return x.conf == y.conf && abs(x.gap) == abs(y.gap) && x.absDiff.Equal(y.absDiff)
}

// best ranks r's candidates under one 1:1 rule. It returns the winner,
// the twins of the winner among the others, and the tied non-twins.
func (e *Engine) best(rule *Rule, r *Rec, pool []*Rec) (win *scored, dups []*Rec, tied []*Rec) {
	var list []scored
	for _, c := range pool {
		if c.Side == r.Side {
			continue
		}
		b, l := bankLedger(r, c)
		conf, gap, diff, expl, ok := e.pairScore(rule, b, l)
		if !ok {
			continue
		}
		if ad, err := diff.Abs(); err == nil {
			list = append(list, scored{c, conf, gap, ad, expl})
		}
	}
	if len(list) == 0 {
		return nil, nil, nil
	}
	sort.Slice(list, func(i, j int) bool { return better(list[i], list[j]) })
	w := list[0]
	for _, s := range list[1:] {
		if !equalRank(w, s) {
			break
		}
		if twins(w.c, s.c) {
			dups = append(dups, s.c)
		} else {
			tied = append(tied, s.c)
		}
	}
	return &w, dups, tied
}

// group assembles a match of bank records b and ledger records l. It is
// nil when their sums or difference do not fit int64 units (the callers'
// tolerance checks make that unreachable; it is no match if it happens).
func (e *Engine) group(rule *Rule, b, l []*Rec, conf int, expl string) *Group {
	sum := func(rs []*Rec) (money.Decimal, error) {
		t := money.New(0, 0)
		for _, r := range rs {
			var err error
			if t, err = t.Add(r.Amount); err != nil {
				return t, err
			}
		}
		return t, nil
	}
	sb, err := sum(b)
	if err != nil {
		return nil
	}
	sl, err := sum(l)
	if err != nil {
		return nil
	}
	diff, err := sb.Sub(sl)
	if err != nil {
		return nil
	}
	status := record.Auto
	if rule.Action == "propose" || !rule.proposeAbove.IsZero() && overShare(diff, sl, rule.proposeAbove) {
		status = record.Proposed
	}
	sortRecs(b)
	sortRecs(l)
	return &Group{Bank: b, Ledger: l, Rule: rule.Name, Confidence: record.Confidence(max(conf, 0)), Status: status,
		Difference: diff, Explanation: expl}
}

func sortRecs(rs []*Rec) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
}

// Match decides an arriving record r against the pending records of pool
// (either side; the same-side ones serve the group rules). Only 1:1 rules
// decide on arrival; groups are assembled when windows close (MatchPool),
// once every member had time to arrive.
func (e *Engine) Match(r *Rec, pool []*Rec) Decision {
	var superseded *Group
	if !r.Provisional && r.Side == record.Bank {
		var rest []*Rec
		for _, c := range pool {
			if superseded == nil && Supersedes(r, c) {
				g := SupersedeGroup(c, r.ID)
				g.Explanation = "provisional entry confirmed by booked entry " + r.ID
				superseded = g
				continue
			}
			rest = append(rest, c)
		}
		pool = rest
	}
	d := e.match(r, pool)
	d.Superseded = superseded
	return d
}

func (e *Engine) match(r *Rec, pool []*Rec) Decision {
	for i := range e.cfg.Rules {
		rule := &e.cfg.Rules[i]
		if rule.Cardinality != "1:1" || rule.Action != "auto" {
			continue
		}
		win, dups, tied := e.best(rule, r, pool)
		if win == nil {
			continue
		}
		if len(tied) > 0 {
			return Decision{Ambiguous: append([]*Rec{win.c}, tied...)}
		}
		// An amount that only fits with a tolerance, where either record
		// shares its reference with other pending records, may be part of
		// a group (a payroll paid in parts): the close decides.
		if !win.absDiff.IsZero() && hasSiblings(r, win.c, pool) {
			continue
		}
		// r must also be the counterpart's best: another pending record of
		// r's side that fits the counterpart better waits for the close.
		if back, _, backTied := e.best(rule, win.c, append(sameSide(pool, r.Side), r)); back == nil || back.c != r || len(backTied) > 0 {
			continue
		}
		b, l := bankLedger(r, win.c)
		g := e.group(rule, []*Rec{b}, []*Rec{l}, win.conf, win.expl)
		if g == nil {
			continue
		}
		return Decision{Match: g, Duplicates: dups}
	}
	return Decision{}
}

// hasSiblings reports whether another pending record shares a reference
// key with r or with its candidate c.
func hasSiblings(r, c *Rec, pool []*Rec) bool {
	for _, x := range pool {
		if x != c && x != r && (sharesKey(x, r) || sharesKey(x, c)) {
			return true
		}
	}
	return false
}

func sameSide(pool []*Rec, side record.Side) []*Rec {
	var out []*Rec
	for _, c := range pool {
		if c.Side == side {
			out = append(out, c)
		}
	}
	return out
}

var ratHundred = big.NewRat(100, 1)
