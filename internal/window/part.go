package window

import (
	"sort"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/record"
)

// Part is the window of one partition held in the owning instance's
// memory: loaded from Redis when the partition is claimed, read without
// a round trip while batches are decided, and changed only by Commit after
// the same change was applied to Redis. Only the owner (checked by epoch
// on every Apply) writes a partition, so the copy stays exact; an instance
// that fails to apply drops its copy and loads the partition again.
type Part struct {
	recs    map[string]*slot
	byRef   map[RefKey]*refs
	byAcct  map[acctKey]map[string]*Entry // account and currency -> id -> entry (pending and broken)
	bySig   map[string]map[string]*Entry  // marker signature -> id -> marker
	byHold  map[string]map[string]*Entry  // hold id (match or resolution) -> id -> held entry
	byBreak map[string]*Entry             // break id -> entry (broken or held)
	due     map[record.Date]map[string]*Entry
	exp     map[record.Date]map[string]*Entry
	pending map[record.Side]int64
}

// slot is an entry and the date it is kept until (close date while
// pending, retention end once broken or for a marker).
type slot struct {
	e       *Entry
	until   record.Date
	pending bool   // as put (a batch sets BreakID on the entry before its commit)
	breakID string // as put
}

// NewPart returns an empty window.
func NewPart() *Part {
	return &Part{recs: map[string]*slot{}, byRef: map[RefKey]*refs{},
		byAcct: map[acctKey]map[string]*Entry{}, bySig: map[string]map[string]*Entry{},
		byHold: map[string]map[string]*Entry{}, byBreak: map[string]*Entry{},
		due: map[record.Date]map[string]*Entry{}, exp: map[record.Date]map[string]*Entry{},
		pending: map[record.Side]int64{}}
}

// acctKey names an account in one currency (a key that costs no
// allocation to build).
type acctKey struct{ account, currency string }

// RefKey names the records of one account and currency sharing a
// reference key.
type RefKey struct{ Account, Currency, Key string }

// refs are the records under one reference key: most keys hold one or
// two (a list), a few (a year, a common token) thousands (a set).
type refs struct {
	list []*Entry
	set  map[string]*Entry
}

const refListMax = 16

func (x *refs) add(r *Entry) {
	if x.set != nil {
		x.set[r.ID] = r
		return
	}
	for i, c := range x.list {
		if c.ID == r.ID {
			x.list[i] = r
			return
		}
	}
	if len(x.list) < refListMax {
		x.list = append(x.list, r)
		return
	}
	x.set = make(map[string]*Entry, 2*refListMax)
	for _, c := range x.list {
		x.set[c.ID] = c
	}
	x.set[r.ID] = r
	x.list = nil
}

// del removes id and reports whether x is empty.
func (x *refs) del(id string) bool {
	if x.set != nil {
		delete(x.set, id)
		return len(x.set) == 0
	}
	for i, c := range x.list {
		if c.ID == id {
			last := len(x.list) - 1
			x.list[i] = x.list[last]
			x.list[last] = nil
			x.list = x.list[:last]
			break
		}
	}
	return len(x.list) == 0
}

// add lists r under k in m (an index of record sets).
func add[K comparable](m map[K]map[string]*Entry, k K, r *Entry) {
	s := m[k]
	if s == nil {
		s = map[string]*Entry{}
		m[k] = s
	}
	s[r.ID] = r
}

// del unlists id from k in m, dropping k once empty.
func del[K comparable](m map[K]map[string]*Entry, k K, id string) {
	if s := m[k]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// Insert adds r, kept until `until` (loading a partition); the reference
// keys must be set.
func (w *Part) Insert(r *Entry, until record.Date) { w.put(r, until) }

func (w *Part) put(r *Entry, until record.Date) {
	if _, ok := w.recs[r.ID]; ok {
		w.remove(r.ID)
	}
	w.recs[r.ID] = &slot{e: r, until: until, pending: !r.Marker && !r.Broken() && r.Hold == nil, breakID: r.BreakID}
	if r.BreakID != "" {
		w.byBreak[r.BreakID] = r
	}
	if r.Marker {
		add(w.bySig, engine.Signature(r.Rec), r)
		add(w.exp, until, r)
		return
	}
	if r.Hold != nil {
		add(w.byHold, r.Hold.ID, r)
		add(w.exp, until, r)
		return
	}
	ak := acctKey{r.Account, r.Currency}
	add(w.byAcct, ak, r)
	for _, k := range r.Keys {
		rk := RefKey{r.Account, r.Currency, k}
		x := w.byRef[rk]
		if x == nil {
			x = &refs{}
			w.byRef[rk] = x
		}
		x.add(r)
	}
	if r.Broken() {
		add(w.exp, until, r)
	} else {
		add(w.due, until, r)
		w.pending[r.Side]++
	}
}

func (w *Part) remove(id string) {
	e := w.recs[id]
	if e == nil {
		return
	}
	r := e.e
	delete(w.recs, id)
	if e.breakID != "" && w.byBreak[e.breakID] == r {
		delete(w.byBreak, e.breakID)
	}
	if r.Marker {
		del(w.bySig, engine.Signature(r.Rec), id)
		del(w.exp, e.until, id)
		return
	}
	if r.Hold != nil {
		del(w.byHold, r.Hold.ID, id)
		del(w.exp, e.until, id)
		return
	}
	ak := acctKey{r.Account, r.Currency}
	del(w.byAcct, ak, id)
	for _, k := range r.Keys {
		rk := RefKey{r.Account, r.Currency, k}
		if x := w.byRef[rk]; x != nil && x.del(id) {
			delete(w.byRef, rk)
		}
	}
	if e.pending {
		del(w.due, e.until, id)
		w.pending[r.Side]--
	} else {
		del(w.exp, e.until, id)
	}
}

// Get returns the entry with this id (pending, broken or marker), or nil.
func (w *Part) Get(id string) *Entry {
	if e := w.recs[id]; e != nil {
		return e.e
	}
	return nil
}

// ByBreak returns the entry reported as break id (broken or held), or nil.
func (w *Part) ByBreak(id string) *Entry { return w.byBreak[id] }

// Breaks is how many entries are broken (or held after breaking).
func (w *Part) Breaks() int { return len(w.byBreak) }

// Held returns the entries held under a match or resolution id, by id.
func (w *Part) Held(id string) []*Entry {
	s := w.byHold[id]
	out := make([]*Entry, 0, len(s))
	for _, r := range s {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// All returns every entry (pending, broken, held and markers), by id.
func (w *Part) All() []*Entry {
	out := make([]*Entry, 0, len(w.recs))
	for _, s := range w.recs {
		out = append(out, s.e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len is the number of records held (pending, broken and markers).
func (w *Part) Len() int { return len(w.recs) }

// Pending is the number of pending records per side.
func (w *Part) Pending() map[record.Side]int64 {
	return map[record.Side]int64{record.Bank: w.pending[record.Bank], record.Ledger: w.pending[record.Ledger]}
}

// ByRef calls f for every record (either side, pending or broken) of the
// account and currency listed under reference key k.
func (w *Part) ByRef(account, currency, k string, f func(*Entry)) {
	x := w.byRef[RefKey{account, currency, k}]
	if x == nil {
		return
	}
	for _, r := range x.list {
		f(r)
	}
	for _, r := range x.set {
		f(r)
	}
}

// Account returns the records (pending and broken, both sides) of an
// account and currency.
func (w *Part) Account(account, currency string) []*Entry {
	s := w.byAcct[acctKey{account, currency}]
	out := make([]*Entry, 0, len(s))
	for _, r := range s {
		out = append(out, r)
	}
	return out
}

// Markers returns the markers with this signature.
func (w *Part) Markers(signature string) []*Entry {
	s := w.bySig[signature]
	out := make([]*Entry, 0, len(s))
	for _, r := range s {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// upTo lists the records of m dated at or before t, by id.
func upTo(m map[record.Date]map[string]*Entry, t record.Date) []*Entry {
	var out []*Entry
	for d, s := range m {
		if d <= t {
			for _, r := range s {
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Due returns the pending records whose window closes at or before t.
func (w *Part) Due(t record.Date) []*Entry { return upTo(w.due, t) }

// CloseAt is the date a stored pending entry's window closes (0 for an
// entry the window does not hold).
func (w *Part) CloseAt(e *Entry) record.Date {
	if s := w.recs[e.ID]; s != nil {
		return s.until
	}
	return 0
}

// Expired returns the broken records and markers whose retention ended at t.
func (w *Part) Expired(t record.Date) []*Entry { return upTo(w.exp, t) }

// Commit makes the change of an applied batch: the entries it put, the
// ones that left, and the ones that broke.
func (w *Part) Commit(b *Change) {
	for _, r := range b.Matched {
		w.remove(r.ID)
	}
	for _, r := range b.Expired {
		w.remove(r.ID)
	}
	for _, r := range b.Put {
		w.put(r, b.Until(r))
	}
	for _, r := range b.Broken {
		w.remove(r.ID)
		w.put(r, b.ExpireAt[r.ID])
	}
	for _, r := range b.Restated {
		w.remove(r.ID)
		w.put(r, b.ExpireAt[r.ID])
	}
}
