package mt940

import (
	"errors"
	"fmt"
	"strings"

	"github.com/openrecon/recon/internal/record"
)

// parseEntry reads a :61: statement line:
//
//	YYMMDD [MMDD] (C|D|RC|RD|EC|ED) [funds code] amount [type code]
//	customer reference [//bank reference] [\n supplementary details]
//
// It tolerates what banks write: spaces instead of the entry date, no
// transaction type code, "NONREF" right after the amount, spaces before
// "//", and an amount wrapped onto the next line.
func parseEntry(lines []string) (*record.Transaction, error) {
	s := strings.TrimRight(lines[0], " ")
	more := lines[1:]
	if len(s) < 6 || !digits(s[:6]) {
		return nil, fmt.Errorf("value date %q: want YYMMDD", first(s, 6))
	}
	valueDate, err := parseYYMMDD(s[:6])
	if err != nil {
		return nil, err
	}
	i := 6
	var entryMMDD string
	switch {
	case len(s) >= 11 && digits(s[6:10]) && strings.ContainsRune("CDRE", rune(s[10])):
		entryMMDD, i = s[6:10], 10
	case len(s) >= 10 && strings.TrimSpace(s[6:10]) == "":
		i = 10
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if i >= len(s) {
		return nil, errors.New("no debit/credit mark after the date")
	}
	var mark string
	for _, m := range []string{"RC", "RD", "EC", "ED", "C", "D"} {
		if strings.HasPrefix(s[i:], m) {
			mark = m
			break
		}
	}
	if mark == "" {
		return nil, fmt.Errorf("debit/credit mark %q: want C, D, RC, RD, EC or ED", first(s[i:], 2))
	}
	i += len(mark)
	rest := s[i:]
	if r := strings.TrimSpace(rest); (r == "" || len(r) == 1 && r[0] >= 'A' && r[0] <= 'Z') && len(more) > 0 {
		rest, more = r+strings.TrimSpace(more[0]), more[1:] // the amount wrapped onto the next line
	}
	var funds string
	if len(rest) >= 2 && rest[0] >= 'A' && rest[0] <= 'Z' && (rest[1] >= '0' && rest[1] <= '9' || rest[1] == ',') {
		funds, rest = rest[:1], rest[1:]
	}
	j := 0
	for j < len(rest) && (rest[j] >= '0' && rest[j] <= '9' || rest[j] == ',' || rest[j] == '.') {
		j++
	}
	if j == 0 {
		return nil, fmt.Errorf("amount missing after %q", mark)
	}
	amt, err := parseAmount(rest[:j])
	if err != nil {
		return nil, fmt.Errorf("amount %q: %v", rest[:j], err)
	}
	if mark == "D" || mark == "RC" || mark == "ED" {
		if amt, err = amt.Neg(); err != nil {
			return nil, err
		}
	}
	rest = rest[j:]
	var typeCode string
	if !strings.HasPrefix(rest, "NONREF") && len(rest) >= 4 && strings.ContainsRune("NFS", rune(rest[0])) && alnum(rest[1:4]) {
		typeCode, rest = rest[:4], rest[4:]
	}
	custRef, bankRef := rest, ""
	if k := strings.Index(rest, "//"); k >= 0 {
		custRef, bankRef = rest[:k], rest[k+2:]
	}
	custRef, bankRef = strings.TrimSpace(custRef), strings.TrimSpace(bankRef)

	t := &record.Transaction{Side: record.Bank, Amount: amt, TypeCode: typeCode, BankReference: bankRef}
	vd := valueDate
	t.ValueDate = &vd
	t.BookingDate = valueDate
	if entryMMDD != "" {
		bd, err := entryDate(valueDate, entryMMDD)
		if err != nil {
			return nil, err
		}
		t.BookingDate = bd
	}
	if custRef != "NONREF" {
		t.Reference = custRef
	}
	t.Extra = map[string]string{"mark": mark}
	if funds != "" {
		t.Extra["funds_code"] = funds
	}
	if custRef != "" {
		t.Extra["customer_reference"] = custRef
	}
	if sup := strings.TrimSpace(strings.Join(more, " ")); sup != "" {
		t.Extra["supplementary"] = sup
	}
	return t, nil
}

// entryDate places MMDD in the year of the value date, or the year before
// or after when the two straddle a year end.
func entryDate(value record.Date, mmdd string) (record.Date, error) {
	vt := value.Time()
	y, vm := vt.Year(), int(vt.Month())
	m := atoi(mmdd[:2])
	switch {
	case m == 12 && vm == 1:
		y--
	case m == 1 && vm == 12:
		y++
	}
	return makeDate(y, m, atoi(mmdd[2:]))
}

// applyInfo puts what :86: says into the transaction.
func applyInfo(t *record.Transaction, in info) {
	if in.reference != "" {
		t.Reference = in.reference
	}
	t.Counterparty = in.counterparty
	t.Description = in.description
	if t.Extra == nil {
		t.Extra = map[string]string{}
	}
	for k, v := range in.extra {
		if v != "" {
			t.Extra[k] = v
		}
	}
	t.RawText = in.raw
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func first(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
