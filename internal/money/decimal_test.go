package money

import (
	"errors"
	"math/big"
	"testing"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in       string
		dec, grp byte
		want     string
		err      error
	}{
		{"0", '.', 0, "0", nil},
		{"-1234.50", '.', 0, "-1234.50", nil},
		{"+7", '.', 0, "7", nil},
		{".5", '.', 0, "0.5", nil},
		{"12.", '.', 0, "12", nil},
		{" 3.25 ", '.', 0, "3.25", nil},
		{"5-", '.', 0, "-5", nil},
		{"1,234.5", '.', ',', "1234.5", nil},
		{"1,234,567.89", '.', ',', "1234567.89", nil},
		{"1.234,56", ',', '.', "1234.56", nil},
		{"380115,", ',', 0, "380115", nil},
		{"00,12", ',', 0, "0.12", nil},
		{"1.5000000", '.', 0, "1.500000", nil},
		{"1,234.5x", '.', ',', "", ErrSyntax},
		{"1,234.5x", '.', 0, "", ErrSyntax},
		{"12,34.5", '.', ',', "", ErrSyntax},
		{"1234,567", '.', ',', "", ErrSyntax},
		{",123", '.', ',', "", ErrSyntax},
		{"", '.', 0, "", ErrSyntax},
		{"-", '.', 0, "", ErrSyntax},
		{".", '.', 0, "", ErrSyntax},
		{"1.2.3", '.', 0, "", ErrSyntax},
		{"1e5", '.', 0, "", ErrSyntax},
		{"NaN", '.', 0, "", ErrSyntax},
		{"0.0000001", '.', 0, "", ErrScale},
		{"99999999999999999999", '.', 0, "", ErrOverflow},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in, tt.dec, tt.grp)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseFormat(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	a, _ := Parse("100.10")
	b, _ := Parse("-0.105")
	sum, err := a.Add(b)
	if err != nil || sum.String() != "99.995" {
		t.Fatalf("Add = %s, %v", sum, err)
	}
	if New(150, 2).Cmp(New(15, 1)) != 0 || !New(150, 2).Equal(New(15, 1)) {
		t.Error("1.50 != 1.5")
	}
	if New(1, 0).Cmp(New(-1, 6)) != 1 {
		t.Error("1 <= -0.000001")
	}
	if _, err := New(1<<62, 0).Add(New(1<<62, 0)); !errors.Is(err, ErrOverflow) {
		t.Errorf("overflow not reported: %v", err)
	}
	if _, err := New(1<<60, 0).Rescale(6); !errors.Is(err, ErrOverflow) {
		t.Errorf("rescale overflow not reported: %v", err)
	}
	if _, err := New(105, 2).Rescale(1); err == nil {
		t.Error("lossy rescale allowed")
	}
	if got := New(-5, 0).String(); got != "-5" {
		t.Errorf("String = %q", got)
	}
	if got := New(-5, 3).String(); got != "-0.005" {
		t.Errorf("String = %q", got)
	}
	if got := New(-9223372036854775808, 2).String(); got != "-92233720368547758.08" {
		t.Errorf("String(MinInt64) = %q", got)
	}
}

func TestRatRoundTrip(t *testing.T) {
	for _, s := range []string{"0", "-1234.56", "0.000001", "92233720368.547758"} {
		d, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromRat(d.Rat(), 0)
		if err != nil || !back.Equal(d) {
			t.Errorf("%s -> %s, %v", s, back, err)
		}
	}
	if _, err := FromRat(big.NewRat(1, 3), 0); !errors.Is(err, ErrScale) {
		t.Errorf("1/3 accepted: %v", err)
	}
}

func TestFormatCurrency(t *testing.T) {
	tests := []struct{ amt, cur, want string }{
		{"5", "EUR", "5.00"},
		{"18.150", "EUR", "18.15"},
		{"0.125", "EUR", "0.125"},
		{"1200.000000", "JPY", "1200"},
		{"1.5", "KWD", "1.500"},
		{"-3.100000", "USD", "-3.10"},
	}
	for _, tt := range tests {
		d, _ := Parse(tt.amt)
		if got := Format(d, tt.cur); got != tt.want {
			t.Errorf("Format(%s, %s) = %s, want %s", tt.amt, tt.cur, got, tt.want)
		}
	}
	if !KnownCurrency("EUR") || KnownCurrency("EUX") || KnownCurrency("eur") {
		t.Error("KnownCurrency")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1,234.56", "-0.5", "12.", "1.2.3", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseFormat(s, '.', ',')
		if err != nil {
			return
		}
		again, err := Parse(d.String())
		if err != nil || !again.Equal(d) {
			t.Fatalf("%q -> %s does not round-trip: %v", s, d, err)
		}
	})
}
