package casestore

import (
	"encoding/json"
	"fmt"

	"github.com/openrecon/recon/internal/record"
)

// A match's members are stored in case_matches.bank and .ledger as a JSON
// array of arrays, one per item, in this order:
//
//	[id, amount, booking_date, reference, counterparty, description, source_file, source_position]
//
// without the keys of the object form that earlier versions wrote (about
// a third of a match's row); parseItems reads both.
type storedItem MatchItem

func (it storedItem) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{it.ID, it.Amount, it.BookingDate, it.Reference, it.Counterparty, it.Description, it.SourceFile, it.SourcePosition})
}

// storeItems is the stored form of a match's items of one side.
func storeItems(its []record.Item) ([]byte, error) {
	out := make([]storedItem, 0, len(its))
	for _, it := range itemsJSON(its) {
		out = append(out, storedItem(it))
	}
	return json.Marshal(out)
}

// parseItems reads a stored side of a match: the array form, or the
// object form of earlier versions.
func parseItems(raw []byte) ([]MatchItem, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, err
	}
	out := make([]MatchItem, 0, len(elems))
	for i, e := range elems {
		var it MatchItem
		if len(e) > 0 && e[0] == '{' {
			if err := json.Unmarshal(e, &it); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
		} else {
			fields := []any{&it.ID, &it.Amount, &it.BookingDate, &it.Reference, &it.Counterparty, &it.Description, &it.SourceFile, &it.SourcePosition}
			var vals []json.RawMessage
			if err := json.Unmarshal(e, &vals); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			if len(vals) != len(fields) {
				return nil, fmt.Errorf("item %d: %d fields, want %d", i, len(vals), len(fields))
			}
			for j, v := range vals {
				if err := json.Unmarshal(v, fields[j]); err != nil {
					return nil, fmt.Errorf("item %d field %d: %w", i, j, err)
				}
			}
		}
		out = append(out, it)
	}
	return out, nil
}
