// Package decide is the matcher's decision core: given a partition's
// window, the engine, a batch of decoded inputs and how time moves, it
// returns the change to the window and the outputs (matches and breaks, in
// the order they were decided) with the counts the metrics report. It is
// pure: no Kafka, Redis, Prometheus or clock; the wall-clock time is an
// argument. The matcher service is decode → Decide → apply → publish.
//
// What it decides, in order:
//
//   - Each side has its own time (window.Clock): the records' booking
//     dates move their side's, booked statements' closing dates the bank
//     side's; the stream time is the furthest of them and of Move.To.
//   - A record whose id is in the window (or earlier in the batch) is a
//     duplicate break.
//   - A booked entry that confirms an already matched provisional entry
//     (its marker) is matched to it by the supersede rule.
//   - Otherwise a record is matched on arrival against the window's records
//     sharing a reference key (unless windows are held), or put in the
//     window until its close date.
//   - When time moves, the windows due close: a record is due when the
//     watermark (the lower of the two sides' times) has passed its close
//     date, so a side whose input has not come yet holds the other side's
//     windows open; or, past the stream time, once it has waited
//     IdleAdvance (wall clock) for the other side. The pending records of
//     each account and currency with something due are matched as a pool,
//     and what is due and still unmatched becomes a break with its reason
//     and closest candidates. A record younger than MinPending waits; the
//     end of input closes everything.
//   - Broken records and markers past retention leave the window.
package decide

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

// Config is how the matcher decides.
type Config struct {
	// HoldWindows keeps every window open until the end of input (a
	// one-off reconciliation of complete files).
	HoldWindows bool
	// MinPending is the least wall-clock time a record stays in the window
	// before it can become a break.
	MinPending time.Duration
	// RetentionDays keeps a broken record this long (stream time) after it
	// broke, so that a late counterpart still matches and clears the break.
	RetentionDays int
	// IdleAdvance is the longest a record whose close date the other side
	// has not reached waits for that side (wall clock). 0: no side holds
	// the other back; windows close by the stream time alone.
	IdleAdvance time.Duration
}

// Time is a partition's time before a batch.
type Time struct {
	StreamTime record.Date  // the furthest either side (or an idle advancement) has come
	Clock      window.Clock // each side's time
}

// Input is one decoded input record: a transaction (prepared by the
// engine) or a statement's balances.
type Input struct {
	Tx         *engine.Rec
	Statement  *record.Statement
	Resolution *record.Resolution
}

// Move says how a batch moves time besides its records.
type Move struct {
	To    record.Date // stream time becomes at least this (0: no change)
	Final bool        // end of input: the stream time becomes EndOfTime, every window closes now
	Tick  bool        // no input: look at the due windows again
	// Idle: the partition had no input for idle-advance, so neither side
	// holds the watermark back any more: both sides' times become To
	// (DESIGN.md §4).
	Idle bool
	// Wait: a backlog is being read on the partition's input, so a
	// counterpart of any pending record may be among the records not read
	// yet. Time moves, but no window closes in this batch; the first
	// batch or tick without Wait closes what is due.
	Wait bool
}

// EndOfTime is a stream time after every date: the end of input.
const EndOfTime record.Date = 1 << 30

// Output is one decided output: a match, a break or the outcome of a
// person's resolution.
type Output struct {
	Match   *record.Match
	Break   *record.Break
	Outcome *record.Outcome
}

// Counts are what a batch adds to the matcher's counters.
type Counts struct {
	Records map[record.Side]int        // input records by side
	Matches map[string]int             // matches by rule
	Breaks  map[record.BreakReason]int // breaks by reason
	// Resolutions by action and whether they were applied.
	Resolutions map[Resolved]int
}

// Resolved counts resolutions by action and outcome.
type Resolved struct {
	Action  record.Action
	Applied bool
}

// Result is what Decide returns.
type Result struct {
	// Change to the window (StreamTime set; From and To are the caller's).
	Change  *window.Change
	Outputs []Output
	Counts  Counts
	// Latencies: per match, from the latest member's ingestion to now.
	Latencies []time.Duration
}

// Changed reports whether the result writes anything, given the time the
// partition had before.
func (r *Result) Changed(tm Time) bool {
	return !r.Change.Empty() || len(r.Outputs) > 0 || r.Change.StreamTime != tm.StreamTime || r.Change.Clock != tm.Clock
}

// markerDays keeps a matched provisional entry's marker this long.
const markerDays = 10

// batch is the scratch state of one Decide call.
type batch struct {
	w   *window.Part
	eng *engine.Engine
	cfg Config
	now time.Time
	res *Result
	ch  *window.Change

	streamTime record.Date
	clock      window.Clock
	added      []*window.Entry                   // entries put by this batch, still pending
	local      map[string]*window.Entry          // id -> entry of a record arriving in this batch (never stored yet)
	index      map[window.RefKey][]*window.Entry // reference key -> entries put by this batch
	peers      map[twinKey][]*engine.Rec         // this batch's arriving transactions that have reference keys, by what twins share
	removed    map[string]bool                   // ids leaving the window in this batch
	markers    []*window.Entry                   // markers of provisional entries matched by this batch
	heldLocal  []*window.Entry                   // entries arriving in this batch and held at once (members of a proposed match)
	// Copies of stored entries this batch's resolutions restated, by id,
	// break id and hold id (a later resolution of the batch sees them).
	restated, restatedBreak map[string]*window.Entry
	restatedHold            map[string][]*window.Entry
	// lateGroups are records of this batch that share a reference key
	// with a broken record: a group they complete clears its breaks now.
	lateGroups []*window.Entry
	scratch    []*window.Entry // near's result
}

// Decide decides a batch of partition w, whose time is tm, at wall-clock
// time now. It reads w and changes no part of it but the BreakID of
// entries that break (the window commits the Change once it is applied
// durably).
func Decide(w *window.Part, eng *engine.Engine, cfg Config, tm Time, ins []Input, mv Move, now time.Time) *Result {
	streamTime := tm.StreamTime
	ch := window.NewChange()
	res := &Result{Change: ch, Counts: Counts{Records: map[record.Side]int{}, Matches: map[string]int{}, Breaks: map[record.BreakReason]int{},
		Resolutions: map[Resolved]int{}}}
	sc := scratches.Get().(*scratch)
	defer sc.release()
	b := &batch{w: w, eng: eng, cfg: cfg, now: now, res: res, ch: ch, streamTime: streamTime, clock: tm.Clock,
		local: sc.local, index: sc.index, removed: sc.removed, peers: sc.peers}

	// Statements first: a record of the same batch whose window the
	// closing date passed is late.
	for _, in := range ins {
		if st := in.Statement; st != nil && st.ClosingDate != nil && !st.Provisional {
			b.clock.Advance(record.Bank, *st.ClosingDate)
			b.streamTime = max(b.streamTime, *st.ClosingDate)
		}
	}
	// People's resolutions next: they were decided on what the window
	// held before this batch.
	for _, in := range ins {
		if in.Resolution != nil {
			b.resolve(in.Resolution)
		}
	}
	for _, in := range ins {
		if r := in.Tx; r != nil && !r.Provisional && len(r.Keys) > 0 {
			k := twinKeyOf(r)
			b.peers[k] = append(b.peers[k], r)
		}
	}
	for _, in := range ins {
		if in.Tx != nil {
			b.arrive(in.Tx)
		}
	}
	b.decideLateGroups()
	b.streamTime = max(b.streamTime, mv.To)
	if mv.Idle && mv.To > 0 {
		b.clock.Advance(record.Bank, mv.To)
		b.clock.Advance(record.Ledger, mv.To)
	}
	if mv.Final {
		b.streamTime = EndOfTime
	}
	// Windows close only when time moves: the stream time advanced, a tick
	// (records aged past min-pending, idle advancement) or the end of input;
	// and not while a backlog is being read (Wait).
	moved := b.streamTime > streamTime || b.watermark() > watermarkOf(cfg, streamTime, tm.Clock) || mv.Tick
	if mv.Final || moved && !mv.Wait {
		b.closeWindows(mv)
	}
	ch.StreamTime, ch.Clock = b.streamTime, b.clock
	// Records of this batch that left the window again never reach it.
	put := ch.Put[:0]
	for _, e := range ch.Put {
		if !b.removed[e.ID] {
			put = append(put, e)
		}
	}
	ch.Put = append(put, b.heldLocal...)
	return res
}

// arrive decides one arriving record.
func (b *batch) arrive(r *engine.Rec) {
	b.streamTime = max(b.streamTime, r.BookingDate)
	b.clock.Advance(r.Side, r.BookingDate)
	b.res.Counts.Records[r.Side]++
	if b.w.Get(r.ID) != nil || b.local[r.ID] != nil {
		b.duplicateOf(r, nil)
		return
	}
	e := &window.Entry{Rec: r}
	b.local[r.ID] = e
	if m := b.markerFor(r); m != nil {
		// The booked entry of a provisional entry already matched.
		b.leave(m)
		b.apply(engine.SupersedeGroup(r, strings.TrimPrefix(m.ID, "pv:")))
		return
	}
	var near []*window.Entry
	if !b.cfg.HoldWindows {
		near = b.near(r)
	}
	if !b.cfg.HoldWindows && !b.hasTwin(r, near) {
		d := b.eng.Match(r, b.poolFrom(r, near))
		if d.Superseded != nil {
			b.apply(d.Superseded)
		}
		if d.Match != nil {
			b.apply(d.Match)
			for _, dup := range d.Duplicates {
				b.duplicateOf(dup, d.Match)
			}
			return
		}
	}
	e.PendingSince = b.now
	b.added = append(b.added, e)
	if !b.cfg.HoldWindows && b.sharesWithBroken(near) {
		b.lateGroups = append(b.lateGroups, e)
	}
	for _, k := range r.Keys {
		key := window.RefKey{Account: r.Account, Currency: r.Currency, Key: k}
		b.index[key] = append(b.index[key], e)
	}
	b.ch.Put = append(b.ch.Put, e)
	b.ch.CloseAt[r.ID] = b.eng.CloseDate(r)
	if b.eng.LateHorizon(r) <= b.watermark() && !b.cfg.HoldWindows {
		// Both sides' time had passed every window of the rule set before
		// it arrived (kept: it may break in a later batch). The watermark,
		// not the stream time: a side running weeks ahead (a far-dated
		// entry) makes no record of the other side late. The widest
		// window, not the record's own close date: a file sorted by
		// account brings each account's early dates after another
		// account's late ones, and none of them is late.
		e.Late = true
	}
}

// sharesWithBroken reports whether a broken record (open for the rules:
// no person holds it) is among the stored records near an arriving one.
func (b *batch) sharesWithBroken(near []*window.Entry) bool {
	if b.w.Breaks() == 0 {
		return false
	}
	for _, c := range near {
		if c.Broken() && c.Hold == nil && !c.Marker && !b.removed[c.ID] {
			return true
		}
	}
	return false
}

// near returns the stored records (either side, pending, broken or
// markers) sharing one of r's reference keys, each once: looked up once
// per arrival for the twin test, the pool and the late groups. The slice
// is the batch's scratch, valid until the next call.
func (b *batch) near(r *engine.Rec) []*window.Entry {
	out := b.scratch[:0]
	for _, k := range r.Keys {
		b.w.ByRef(r.Account, r.Currency, k, func(c *window.Entry) {
			if !slices.Contains(out, c) { // a few entries: a scan beats a set
				out = append(out, c)
			}
		})
	}
	b.scratch = out
	return out
}

// decideLateGroups: a record that arrived after a member of its group
// broke (an instalment a month after the first, a payout's last item)
// would wait for the next window to close in its account; instead the
// group rules decide now over the records sharing its reference keys
// (and theirs), pending and broken, and a group that takes a broken
// record is matched, clearing its break. Batch runs hold every window,
// so nothing is broken there and nothing changes.
func (b *batch) decideLateGroups() {
	for _, e := range b.lateGroups {
		if b.removed[e.ID] {
			continue
		}
		seen := map[string]bool{e.ID: true}
		pool := []*engine.Rec{e.Rec}
		add := func(c *window.Entry) {
			if !seen[c.ID] && !b.removed[c.ID] && !c.Marker && c.Hold == nil {
				seen[c.ID] = true
				pool = append(pool, c.Rec)
			}
		}
		for _, r := range b.pool(e.Rec) {
			if c := b.entry(r); c != nil {
				add(c)
			}
		}
		for _, r := range pool[1:] {
			for _, x := range b.pool(r) {
				if c := b.entry(x); c != nil {
					add(c)
				}
			}
		}
		for _, g := range b.eng.MatchGroups(pool).Matches {
			if slices.ContainsFunc(g.Bank, b.isBroken) || slices.ContainsFunc(g.Ledger, b.isBroken) {
				b.apply(g)
			}
		}
	}
}

// isBroken reports whether r's entry is a break still in the window.
func (b *batch) isBroken(r *engine.Rec) bool {
	c := b.entry(r)
	return c != nil && c.Broken()
}

// hasTwin reports whether a pending record of r's side, or another record
// of this batch, is r's twin (the same posting twice, under another id).
// Such a record is left to the pool at the close, which tells the
// original from its duplicate whatever order they came in: matched on
// arrival, the first of the two to come would win.
func (b *batch) hasTwin(r *engine.Rec, near []*window.Entry) bool {
	if r.Provisional {
		return false
	}
	for _, c := range near {
		if c.ID != r.ID && !c.Marker && c.Open() && !c.Broken() && !b.removed[c.ID] && engine.Twins(r, c.Rec) {
			return true
		}
	}
	if len(r.Keys) == 0 {
		return false // nothing shares a key with it
	}
	for _, c := range b.peers[twinKeyOf(r)] {
		if c != r && c.ID != r.ID && engine.Twins(r, c) {
			return true
		}
	}
	return false
}

// twinKey is what twins (engine.Twins) have in common, and with it the
// reference key their normalised reference is.
type twinKey struct {
	side              record.Side
	account, currency string
	normRef           string
	date              record.Date
}

func twinKeyOf(r *engine.Rec) twinKey {
	return twinKey{r.Side, r.Account, r.Currency, r.NormRef, r.BookingDate}
}

// scratch holds a batch's maps between Decide calls: emptied, not freed,
// they cost no allocation per batch.
type scratch struct {
	local   map[string]*window.Entry
	index   map[window.RefKey][]*window.Entry
	removed map[string]bool
	peers   map[twinKey][]*engine.Rec
}

var scratches = sync.Pool{New: func() any {
	return &scratch{local: map[string]*window.Entry{}, index: map[window.RefKey][]*window.Entry{},
		removed: map[string]bool{}, peers: map[twinKey][]*engine.Rec{}}
}}

func (sc *scratch) release() {
	clear(sc.local)
	clear(sc.index)
	clear(sc.removed)
	clear(sc.peers)
	scratches.Put(sc)
}

// entry returns the window entry of a record the engine was given.
func (b *batch) entry(r *engine.Rec) *window.Entry {
	if c := b.restated[r.ID]; c != nil && c.Rec == r {
		return c
	}
	if e := b.local[r.ID]; e != nil && e.Rec == r {
		return e
	}
	return b.w.Get(r.ID)
}

// pool is what r is decided against on arrival: the stored records and the
// ones this batch put, sharing one of r's reference keys, still in the window.
func (b *batch) pool(r *engine.Rec) []*engine.Rec { return b.poolFrom(r, b.near(r)) }

// poolFrom is pool given the stored records near r.
func (b *batch) poolFrom(r *engine.Rec, near []*window.Entry) []*engine.Rec {
	var out []*engine.Rec
	take := func(c *window.Entry) {
		if b.removed[c.ID] || c.ID == r.ID || c.Marker {
			return
		}
		for _, o := range out { // pools are small: a scan beats a set
			if o == c.Rec {
				return
			}
		}
		out = append(out, c.Rec)
	}
	for _, c := range near {
		take(c)
	}
	for _, k := range r.Keys {
		for _, c := range b.index[window.RefKey{Account: r.Account, Currency: r.Currency, Key: k}] {
			take(c)
		}
	}
	slices.SortFunc(out, func(x, y *engine.Rec) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// leave takes an entry out of the window: a stored one is removed; one
// put or arriving in this batch simply never gets there.
func (b *batch) leave(e *window.Entry) {
	if b.removed[e.ID] {
		return
	}
	b.removed[e.ID] = true
	if b.local[e.ID] == nil {
		b.ch.Matched = append(b.ch.Matched, e)
	}
}

// markerFor finds the kept marker of a matched provisional entry that the
// booked entry r confirms.
func (b *batch) markerFor(r *engine.Rec) *window.Entry {
	sig := engine.Signature(r)
	if sig == "" || r.Provisional {
		return nil
	}
	for _, m := range append(b.w.Markers(sig), b.markers...) {
		if !b.removed[m.ID] && engine.Supersedes(r, m.Rec) {
			return m
		}
	}
	return nil
}

// apply outputs a match and takes its members out of the window; the
// members of a proposed match stay held, waiting for a person. A
// provisional bank entry leaves a marker behind for its booked entry.
func (b *batch) apply(g *engine.Group) *record.Match {
	var hold *window.Hold
	if g.Status == record.Proposed {
		hold = &window.Hold{Kind: window.HoldProposed, Rule: g.Rule, Confidence: int(g.Confidence)}
	}
	return b.applyHeld(g, hold)
}

// applyHeld is apply with the hold its members keep (nil: they leave).
func (b *batch) applyHeld(g *engine.Group, hold *window.Hold) *record.Match {
	if g.Rule != engine.SupersedeRule {
		for _, r := range g.Bank {
			// (A confirmed proposal left its marker when it was proposed.)
			if r.Provisional && engine.Signature(r) != "" && b.w.Get("pv:"+r.ID) == nil {
				c := *r
				c.ID, c.Provisional = "pv:"+r.ID, true
				m := &window.Entry{Rec: &c, Marker: true}
				b.ch.Put = append(b.ch.Put, m)
				b.markers = append(b.markers, m)
				b.ch.ExpireAt[m.ID] = r.BookingDate + markerDays
			}
		}
	}
	var ids, clears []string
	var latest int64
	decided := record.Date(0)
	members := append(append([]*engine.Rec(nil), g.Bank...), g.Ledger...)
	for _, r := range members {
		ids = append(ids, r.ID)
	}
	matchID := record.MatchID(ids...)
	for _, r := range members {
		e := b.entry(r)
		if e.Broken() {
			clears = append(clears, e.BreakID)
		}
		latest = max(latest, r.IngestedAt.UnixMilli())
		decided = max(decided, r.BookingDate)
		if hold != nil {
			h := *hold
			h.ID = matchID
			b.hold(e, &h)
		} else {
			b.leave(e)
		}
	}
	items := func(rs []*engine.Rec) []record.Item {
		out := make([]record.Item, 0, len(rs))
		for _, r := range rs {
			out = append(out, r.Item)
		}
		return out
	}
	first := g.Bank[0]
	m := &record.Match{MatchID: matchID, Rule: g.Rule, Confidence: g.Confidence, Status: g.Status,
		Account: first.Account, Currency: first.Currency, Bank: items(g.Bank), Ledger: items(g.Ledger), Difference: g.Difference,
		Explanation: g.Explanation, ClearsBreakIDs: clears, DecidedAt: decided.Time()}
	// A person's match (manual, confirmed) says nothing of the matcher's latency.
	if latest > 0 && (hold == nil || hold.Kind != window.HoldMatched) {
		b.res.Latencies = append(b.res.Latencies, b.now.Sub(time.UnixMilli(latest)))
	}
	b.res.Counts.Matches[g.Rule]++
	b.res.Outputs = append(b.res.Outputs, Output{Match: m})
	return m
}

// duplicateOf reports r as a duplicate break: a record whose id is already
// in the window (g nil), or the twin of a matched record, and takes it out.
func (b *batch) duplicateOf(r *engine.Rec, g *engine.Group) {
	cands := []record.Candidate{}
	if g != nil {
		twin := g.Ledger[0]
		if r.Side == record.Bank {
			twin = g.Bank[0]
		}
		cands = append(cands, record.Candidate{ID: twin.ID, Currency: twin.Currency, Amount: twin.Amount,
			BookingDate: twin.BookingDate, Reference: twin.Reference, Score: 10000, Note: "matched twin of this record"})
		b.leave(b.entry(r))
	}
	b.emitBreak(&record.Break{BreakID: record.BreakID(r.Item, record.Duplicate), Side: r.Side, Reason: record.Duplicate,
		Account: r.Account, Currency: r.Currency, Record: r.Item, Candidates: cands, WindowClosedAt: r.BookingDate})
}

func (b *batch) emitBreak(br *record.Break) {
	b.res.Counts.Breaks[br.Reason]++
	b.res.Outputs = append(b.res.Outputs, Output{Break: br})
}

// watermark is the time both sides have reached; without IdleAdvance no
// side holds the other back (the stream time).
func (b *batch) watermark() record.Date { return watermarkOf(b.cfg, b.streamTime, b.clock) }

func watermarkOf(cfg Config, streamTime record.Date, c window.Clock) record.Date {
	if cfg.IdleAdvance <= 0 {
		return streamTime
	}
	return c.Watermark()
}

// closeWindows decides the records whose window closed by the stream time:
// all the pending records of their account and currency are matched as a
// pool (groups, instalments, ties resolved, duplicates), and the due
// records still unmatched become breaks with their reason and closest
// candidates. A record younger than MinPending in the window waits; the end
// of input closes everything. Broken records past retention are forgotten.
func (b *batch) closeWindows(mv Move) {
	horizon := b.streamTime
	if b.cfg.HoldWindows && !mv.Final {
		horizon = 0
	}
	young := func(e *window.Entry) bool {
		return !mv.Final && b.cfg.MinPending > 0 && b.now.Sub(e.PendingSince) < b.cfg.MinPending
	}
	// Held by the other side: the watermark has not passed its close date
	// and it has not yet waited IdleAdvance for the other side's input.
	watermark := b.watermark()
	held := func(e *window.Entry, closeAt record.Date) bool {
		return !mv.Final && closeAt > watermark && b.now.Sub(e.PendingSince) < b.cfg.IdleAdvance
	}
	due := map[string]*window.Entry{}
	for _, e := range b.w.Due(horizon) {
		if !e.Broken() && !b.removed[e.ID] && !young(e) && !held(e, b.w.CloseAt(e)) {
			due[e.ID] = e
		}
	}
	for _, e := range b.added {
		if !b.removed[e.ID] && b.ch.CloseAt[e.ID] <= horizon && !young(e) && !held(e, b.ch.CloseAt[e.ID]) {
			due[e.ID] = e
		}
	}
	// One pool per account and currency with something due.
	type acct struct{ account, currency string }
	var keys []acct
	seenKey := map[acct]bool{}
	for _, e := range due {
		if k := (acct{e.Account, e.Currency}); !seenKey[k] {
			seenKey[k] = true
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y acct) int {
		return cmp.Or(strings.Compare(x.account, y.account), strings.Compare(x.currency, y.currency))
	})
	retention := record.Date(b.cfg.RetentionDays)
	for _, k := range keys {
		byID := map[string]*window.Entry{}
		for _, e := range b.w.Account(k.account, k.currency) {
			if !b.removed[e.ID] {
				byID[e.ID] = e
			}
		}
		for _, e := range b.added {
			if !b.removed[e.ID] && e.Account == k.account && e.Currency == k.currency {
				byID[e.ID] = e
			}
		}
		pool := make([]*engine.Rec, 0, len(byID))
		for _, e := range byID {
			pool = append(pool, e.Rec)
		}
		res := b.eng.MatchPool(pool)
		for _, g := range res.Matches {
			b.apply(g)
		}
		var dups []*engine.Rec
		for d := range res.Duplicates {
			dups = append(dups, d)
		}
		slices.SortFunc(dups, func(x, y *engine.Rec) int { return strings.Compare(x.ID, y.ID) })
		for _, d := range dups {
			if b.entry(d).Broken() || b.removed[d.ID] {
				continue
			}
			twin := res.Duplicates[d]
			b.duplicateOf(d, &engine.Group{Bank: []*engine.Rec{twin}, Ledger: []*engine.Rec{twin}})
		}
		var closing []*window.Entry
		for _, e := range due {
			if e.Account == k.account && e.Currency == k.currency && !b.removed[e.ID] {
				closing = append(closing, e)
			}
		}
		slices.SortFunc(closing, func(x, y *window.Entry) int { return strings.Compare(x.ID, y.ID) })
		for _, e := range closing {
			reason, cands := b.eng.Explain(e.Rec, pool, res)
			if reason == record.Unmatched && e.Late {
				reason = record.Late
			}
			closeAt := b.eng.CloseDate(e.Rec)
			e.BreakID = record.BreakID(e.Item, reason)
			b.emitBreak(&record.Break{BreakID: e.BreakID, Side: e.Side, Reason: reason, Account: e.Account,
				Currency: e.Currency, Record: e.Item, Candidates: cands, WindowClosedAt: closeAt, Note: res.Bounds[e.Rec]})
			// Retention counts from when the record broke in stream time, so
			// a jump of the stream time (idle advancement) does not expire
			// a fresh break before its counterpart can arrive.
			b.ch.ExpireAt[e.ID] = max(closeAt, b.streamTime) + retention
			if b.local[e.ID] == nil {
				b.ch.Broken = append(b.ch.Broken, e) // stored: becomes broken; put ones are stored broken
			}
		}
	}
	for _, e := range b.w.Expired(horizon) {
		if !b.removed[e.ID] {
			b.ch.Expired = append(b.ch.Expired, e)
		}
	}
}
