package window

import (
	"maps"
	"slices"
	"sync"
)

// Strings is a partition's table of the strings many of its records share
// (accounts, currencies, source files): a stored record names each by its
// index, so a pending record does not carry its account and file name.
// Redis keeps the table beside the records (redisstate); an entry the
// owner adds is unsaved until the batch that first uses it is written.
//
// The zero table is not usable; a nil *Strings holds nothing. It is safe
// for concurrent use.
type Strings struct {
	mu      sync.Mutex
	ids     map[string]uint64
	strs    map[uint64]string
	next    uint64
	unsaved map[uint64]bool
}

// NewStrings returns an empty table.
func NewStrings() *Strings {
	return &Strings{ids: map[string]uint64{}, strs: map[uint64]string{}, unsaved: map[uint64]bool{}}
}

// Set records that index i stands for s (as read back from storage).
func (t *Strings) Set(i uint64, s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.strs[i]; ok {
		delete(t.ids, old)
	}
	t.strs[i], t.ids[s] = s, i
	t.next = max(t.next, i+1)
}

// index returns s's index, adding s (unsaved) when the table lacks it.
func (t *Strings) index(s string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.ids[s]; ok {
		return i
	}
	i := t.next
	t.next++
	t.strs[i], t.ids[s], t.unsaved[i] = s, i, true
	return i
}

func (t *Strings) get(i uint64) (string, bool) {
	if t == nil {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.strs[i]
	return s, ok
}

// Len is the number of strings held.
func (t *Strings) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.strs)
}

// Unsaved returns the entries added since they were last saved, by index.
func (t *Strings) Unsaved() (idx []uint64, strs []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx = slices.Sorted(maps.Keys(t.unsaved))
	for _, i := range idx {
		strs = append(strs, t.strs[i])
	}
	return idx, strs
}

// Saved marks entries as written to storage.
func (t *Strings) Saved(idx []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range idx {
		delete(t.unsaved, i)
	}
}

// Unused drops every string used reports false for and returns the
// indexes dropped, for storage to forget them too (no stored record names
// them any more).
func (t *Strings) Unused(used func(string) bool) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []uint64
	for i, s := range t.strs {
		if !used(s) && !t.unsaved[i] {
			gone = append(gone, i)
			delete(t.strs, i)
			delete(t.ids, s)
		}
	}
	slices.Sort(gone)
	return gone
}
