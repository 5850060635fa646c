package record

import (
	"encoding/json"

	"github.com/openrecon/recon/internal/money"
)

// MarshalJSON writes the `recon parse` form of DESIGN.md §6: "type":
// "transaction", the amount as a decimal string with the currency's minor
// unit digits.
func (t *Transaction) MarshalJSON() ([]byte, error) {
	type plain Transaction
	return json.Marshal(struct {
		Type   string `json:"type"`
		Amount string `json:"amount"`
		*plain
	}{"transaction", money.Format(t.Amount, t.Currency), (*plain)(t)})
}

// MarshalJSON writes the `recon parse` form of a statement: "type":
// "statement", balances as decimal strings, omitted when the file has none.
func (s *Statement) MarshalJSON() ([]byte, error) {
	type plain Statement
	opt := func(d *money.Decimal) *string {
		if d == nil {
			return nil
		}
		v := money.Format(*d, s.Currency)
		return &v
	}
	return json.Marshal(struct {
		Type           string  `json:"type"`
		OpeningBalance *string `json:"opening_balance,omitempty"`
		ClosingBalance *string `json:"closing_balance,omitempty"`
		EntriesTotal   string  `json:"entries_total"`
		*plain
	}{"statement", opt(s.OpeningBalance), opt(s.ClosingBalance), money.Format(s.EntriesTotal, s.Currency), (*plain)(s)})
}
