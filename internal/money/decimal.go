// Package money holds exact decimal amounts and ISO 4217 currency facts.
//
// A Decimal is an int64 count of units of 10^-scale. It never goes through a
// float: parsing, adding and formatting are exact, and every operation that
// could overflow reports it instead of wrapping.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// MaxScale is the largest number of decimal places a Decimal carries. It is
// the scale of the Avro decimal type in schemas/ (decimal(38,6)).
const MaxScale = 6

// Decimal is an exact signed amount: units × 10^-scale.
// The zero value is 0.
type Decimal struct {
	units int64
	scale uint8
}

// Errors returned by parsing and arithmetic.
var (
	ErrSyntax   = errors.New("not a decimal number")
	ErrScale    = fmt.Errorf("more than %d decimal places", MaxScale)
	ErrOverflow = errors.New("amount out of range")
)

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// New returns units × 10^-scale. It panics if scale > MaxScale: callers pass
// constants.
func New(units int64, scale int) Decimal {
	if scale < 0 || scale > MaxScale {
		panic(fmt.Sprintf("money.New: scale %d out of range", scale))
	}
	return Decimal{units: units, scale: uint8(scale)}
}

// Units returns the unscaled integer; Scale the number of decimal places.
func (d Decimal) Units() int64 { return d.units }

// Scale returns the number of decimal places d carries.
func (d Decimal) Scale() int { return int(d.scale) }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.units < 0:
		return -1
	case d.units > 0:
		return 1
	}
	return 0
}

// IsZero reports whether d == 0.
func (d Decimal) IsZero() bool { return d.units == 0 }

// Neg returns -d.
func (d Decimal) Neg() (Decimal, error) {
	if d.units == math.MinInt64 {
		return Decimal{}, ErrOverflow
	}
	return Decimal{units: -d.units, scale: d.scale}, nil
}

// Abs returns |d|.
func (d Decimal) Abs() (Decimal, error) {
	if d.units < 0 {
		return d.Neg()
	}
	return d, nil
}

// Rescale returns d with exactly s decimal places. Lowering the scale is only
// allowed when the dropped digits are zero.
func (d Decimal) Rescale(s int) (Decimal, error) {
	if s < 0 || s > MaxScale {
		return Decimal{}, ErrScale
	}
	cur := int(d.scale)
	switch {
	case s == cur:
		return d, nil
	case s > cur:
		u, ok := mul64(d.units, pow10[s-cur])
		if !ok {
			return Decimal{}, ErrOverflow
		}
		return Decimal{units: u, scale: uint8(s)}, nil
	default:
		p := pow10[cur-s]
		if d.units%p != 0 {
			return Decimal{}, fmt.Errorf("%s has more than %d decimal places", d, s)
		}
		return Decimal{units: d.units / p, scale: uint8(s)}, nil
	}
}

// Trim drops trailing zero decimals down to at least min places.
func (d Decimal) Trim(min int) Decimal {
	for int(d.scale) > min && d.units%10 == 0 {
		d.units /= 10
		d.scale--
	}
	return d
}

// Add returns d + e at the larger of the two scales.
func (d Decimal) Add(e Decimal) (Decimal, error) {
	s := max(int(d.scale), int(e.scale))
	a, err := d.Rescale(s)
	if err != nil {
		return Decimal{}, err
	}
	b, err := e.Rescale(s)
	if err != nil {
		return Decimal{}, err
	}
	r := a.units + b.units
	if (r > a.units) != (b.units > 0) {
		return Decimal{}, ErrOverflow
	}
	return Decimal{units: r, scale: uint8(s)}, nil
}

// Sub returns d - e.
func (d Decimal) Sub(e Decimal) (Decimal, error) {
	n, err := e.Neg()
	if err != nil {
		return Decimal{}, err
	}
	return d.Add(n)
}

// Cmp compares d and e by value: -1, 0 or +1. 1.50 and 1.5 are equal.
func (d Decimal) Cmp(e Decimal) int {
	s := max(int(d.scale), int(e.scale))
	a, errA := d.Rescale(s)
	b, errB := e.Rescale(s)
	if errA != nil || errB != nil { // out of int64 range at the common scale
		return d.Rat().Cmp(e.Rat())
	}
	switch {
	case a.units < b.units:
		return -1
	case a.units > b.units:
		return 1
	}
	return 0
}

// Equal reports whether d and e have the same value.
func (d Decimal) Equal(e Decimal) bool { return d.Cmp(e) == 0 }

// String formats d with exactly its scale: "-1234.50".
func (d Decimal) String() string {
	var buf [24]byte
	return string(d.Append(buf[:0]))
}

// Append appends the String form of d to b.
func (d Decimal) Append(b []byte) []byte {
	u := uint64(d.units)
	if d.units < 0 {
		b = append(b, '-')
		u = uint64(-(d.units + 1)) + 1
	}
	var digits [20]byte
	i := len(digits)
	for u > 0 || i > len(digits)-int(d.scale)-1 {
		i--
		digits[i] = byte('0' + u%10)
		u /= 10
	}
	intLen := len(digits) - i - int(d.scale)
	b = append(b, digits[i:i+intLen]...)
	if d.scale > 0 {
		b = append(b, '.')
		b = append(b, digits[i+intLen:]...)
	}
	return b
}

// MarshalText implements encoding.TextMarshaler (JSON writes a string).
func (d Decimal) MarshalText() ([]byte, error) { return d.Append(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Rat returns d as a big.Rat (the Avro decimal codec's native type).
func (d Decimal) Rat() *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(d.units), big.NewInt(pow10[d.scale]))
}

// FromRat converts r to a Decimal with at most MaxScale places, trimming
// trailing zeros down to minScale. It fails when r needs more places or does
// not fit.
func FromRat(r *big.Rat, minScale int) (Decimal, error) {
	num := new(big.Int).Mul(r.Num(), big.NewInt(pow10[MaxScale]))
	q, m := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		return Decimal{}, ErrScale
	}
	if !q.IsInt64() {
		return Decimal{}, ErrOverflow
	}
	return Decimal{units: q.Int64(), scale: MaxScale}.Trim(minScale), nil
}

// Parse reads a plain decimal: optional sign, digits, optional '.' and
// digits ("-1234.50", "+7", ".5", "12."). Nothing else is accepted.
func Parse(s string) (Decimal, error) {
	return ParseFormat(s, '.', 0)
}

// ParseFormat reads a decimal written with the given decimal separator and
// optional grouping separator (0 for none). Grouping must be in threes
// ("1,234,567.89"). A sign may lead or trail ("-5", "5-"); a leading '+'
// is allowed.
func ParseFormat(s string, decSep, groupSep byte) (Decimal, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return Decimal{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	neg := false
	switch {
	case s[0] == '-' || s[0] == '+':
		neg = s[0] == '-'
		s = s[1:]
	case s[len(s)-1] == '-' || s[len(s)-1] == '+':
		neg = s[len(s)-1] == '-'
		s = s[:len(s)-1]
	}
	var units int64
	scale, digits := 0, 0
	seenDec := false
	groupLen, groups := 0, 0 // digits since the last group separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if seenDec {
				if scale == MaxScale {
					if c != '0' {
						return Decimal{}, ErrScale
					}
					continue // trailing zeros past MaxScale carry no value
				}
				scale++
			} else {
				groupLen++
			}
			u, ok := mul64(units, 10)
			if ok {
				u, ok = add64(u, int64(c-'0'))
			}
			if !ok {
				return Decimal{}, ErrOverflow
			}
			units = u
			digits++
		case c == decSep && !seenDec:
			if groups > 0 && groupLen != 3 {
				return Decimal{}, fmt.Errorf("%w: %q has misplaced grouping", ErrSyntax, orig)
			}
			seenDec = true
		case groupSep != 0 && c == groupSep && !seenDec:
			if (groups == 0 && (groupLen == 0 || groupLen > 3)) || (groups > 0 && groupLen != 3) {
				return Decimal{}, fmt.Errorf("%w: %q has misplaced grouping", ErrSyntax, orig)
			}
			groups++
			groupLen = 0
		default:
			return Decimal{}, fmt.Errorf("%w: %q", ErrSyntax, orig)
		}
	}
	if digits == 0 {
		return Decimal{}, fmt.Errorf("%w: %q", ErrSyntax, orig)
	}
	if groups > 0 && !seenDec && groupLen != 3 {
		return Decimal{}, fmt.Errorf("%w: %q has misplaced grouping", ErrSyntax, orig)
	}
	if neg {
		units = -units
	}
	return Decimal{units: units, scale: uint8(scale)}, nil
}

func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return c, true
}

func add64(a, b int64) (int64, bool) {
	c := a + b
	if (c > a) != (b > 0) {
		return 0, false
	}
	return c, true
}
