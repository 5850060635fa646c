package casestore

import (
	"encoding/json"
	"fmt"
)

// Before normalise-records (recs.go), a match's members were stored in
// case_matches.bank and .ledger as JSON: an array of arrays, one per item,
//
//	[id, amount, booking_date, reference, counterparty, description, source_file, source_position]
//
// or, earlier, an array of objects; the migration reads both.

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
