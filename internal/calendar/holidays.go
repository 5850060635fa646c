package calendar

import (
	"time"

	"github.com/openrecon/recon/internal/record"
)

// builtins are the settlement-system holidays of the major currencies, by
// year. They follow the published rules (fixed dates, nth weekdays, Easter)
// and their weekend substitutions; one-off closures (a royal funeral, a
// moved May holiday) belong in the settings file.
var builtins = map[string]func(int) []record.Date{
	// TARGET2 closing days.
	"EUR": func(y int) []record.Date {
		e := easter(y)
		return []record.Date{day(y, 1, 1), e - 2, e + 1, day(y, 5, 1), day(y, 12, 25), day(y, 12, 26)}
	},
	// Fedwire: a holiday on a Sunday is observed on the Monday; on a
	// Saturday it is not moved.
	"USD": func(y int) []record.Date {
		sun := func(d record.Date) record.Date {
			if d.Time().Weekday() == time.Sunday {
				return d + 1
			}
			return d
		}
		out := []record.Date{sun(day(y, 1, 1)), nth(y, 1, time.Monday, 3), nth(y, 2, time.Monday, 3), last(y, 5, time.Monday),
			sun(day(y, 7, 4)), nth(y, 9, time.Monday, 1), nth(y, 10, time.Monday, 2), sun(day(y, 11, 11)),
			nth(y, 11, time.Thursday, 4), sun(day(y, 12, 25))}
		if y >= 2022 {
			out = append(out, sun(day(y, 6, 19)))
		}
		return out
	},
	// Bank holidays in England and Wales (CHAPS).
	"GBP": func(y int) []record.Date {
		e := easter(y)
		x1, x2 := boxing(y)
		return []record.Date{monday(day(y, 1, 1)), e - 2, e + 1, nth(y, 5, time.Monday, 1), last(y, 5, time.Monday),
			last(y, 8, time.Monday), x1, x2}
	},
	// SIX SIC.
	"CHF": func(y int) []record.Date {
		e := easter(y)
		return []record.Date{day(y, 1, 1), day(y, 1, 2), e - 2, e + 1, e + 39, e + 50, day(y, 8, 1), day(y, 12, 25), day(y, 12, 26)}
	},
	// Payments Canada (Lynx).
	"CAD": func(y int) []record.Date {
		x1, x2 := boxing(y)
		victoria := day(y, 5, 24)
		for victoria.Time().Weekday() != time.Monday {
			victoria--
		}
		out := []record.Date{monday(day(y, 1, 1)), easter(y) - 2, victoria, monday(day(y, 7, 1)), nth(y, 8, time.Monday, 1),
			nth(y, 9, time.Monday, 1), nth(y, 10, time.Monday, 2), monday(day(y, 11, 11)), x1, x2}
		if y >= 2021 {
			out = append(out, monday(day(y, 9, 30)))
		}
		return out
	},
	// RITS (Reserve Bank of Australia).
	"AUD": func(y int) []record.Date {
		e := easter(y)
		x1, x2 := boxing(y)
		return []record.Date{monday(day(y, 1, 1)), monday(day(y, 1, 26)), e - 2, e + 1, day(y, 4, 25), nth(y, 6, time.Monday, 2), x1, x2}
	},
	// Japanese bank holidays: the national holidays (a Sunday one is
	// replaced by the next working day; a day between two holidays is one)
	// and the bank closing days 1-3 January and 31 December.
	"JPY": func(y int) []record.Date {
		h := []record.Date{day(y, 1, 1), nth(y, 1, time.Monday, 2), day(y, 2, 11), day(y, 3, equinox(y, 208431)),
			day(y, 4, 29), day(y, 5, 3), day(y, 5, 4), day(y, 5, 5), nth(y, 7, time.Monday, 3), day(y, 8, 11),
			nth(y, 9, time.Monday, 3), day(y, 9, equinox(y, 232488)), nth(y, 10, time.Monday, 2), day(y, 11, 3), day(y, 11, 23)}
		if y >= 2020 {
			h = append(h, day(y, 2, 23))
		}
		is := map[record.Date]bool{}
		for _, d := range h {
			is[d] = true
		}
		out := append([]record.Date(nil), h...)
		for _, d := range h {
			if d.Time().Weekday() == time.Sunday {
				s := d + 1
				for is[s] {
					s++
				}
				out = append(out, s)
			}
			if is[d+2] && !is[d+1] && (d+1).Time().Weekday() != time.Sunday {
				out = append(out, d+1)
			}
		}
		return append(out, day(y, 1, 2), day(y, 1, 3), day(y, 12, 31))
	},
}

func day(y, m, d int) record.Date { return record.MakeDate(y, time.Month(m), d) }

// nth is the n-th weekday wd of month m.
func nth(y, m int, wd time.Weekday, n int) record.Date {
	d := day(y, m, 1)
	for d.Time().Weekday() != wd {
		d++
	}
	return d + record.Date(7*(n-1))
}

// last is the last weekday wd of month m.
func last(y, m int, wd time.Weekday) record.Date {
	d := day(y, m+1, 1) - 1 // MakeDate normalises month 13
	for d.Time().Weekday() != wd {
		d--
	}
	return d
}

// monday moves a Saturday or Sunday holiday to the Monday after.
func monday(d record.Date) record.Date {
	switch d.Time().Weekday() {
	case time.Saturday:
		return d + 2
	case time.Sunday:
		return d + 1
	}
	return d
}

// boxing is Christmas and Boxing Day with their substitutes: a weekend one
// moves to the next weekday the other does not take.
func boxing(y int) (record.Date, record.Date) {
	c, b := day(y, 12, 25), day(y, 12, 26)
	switch c.Time().Weekday() {
	case time.Friday: // Boxing Day on Saturday -> Monday 28
		return c, b + 2
	case time.Saturday: // Monday 27 and Tuesday 28
		return c + 2, b + 2
	case time.Sunday: // Boxing Day Monday 26, Christmas Tuesday 27
		return c + 2, b
	}
	return c, b
}

// easter is Easter Sunday (Gregorian; the anonymous algorithm).
func easter(y int) record.Date {
	a, b, c := y%19, y/100, y%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	dd := (h+l-7*m+114)%31 + 1
	return day(y, month, dd)
}

// equinox is the day of the month of the March (base 208431: 20.8431 days)
// or September (232488) equinox in Japan, by the usual formula for
// 1980-2099 (day = base + 0.242194 (y-1980) - (y-1980)/4), in integer
// arithmetic (millionths of a day).
func equinox(y int, base int64) int {
	n := int64(y - 1980)
	v := base*100 + 242194*n - (n/4)*1_000_000
	return int(v / 1_000_000)
}
