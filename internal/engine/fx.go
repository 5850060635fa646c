package engine

import (
	"bufio"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Rates are exchange rates by day: the fx-rates file, CSV lines of
//
//	date,pair,rate          2026-03-24,USD/EUR,0.9213
//
// (a header line is allowed; # starts a comment). 1 USD = 0.9213 EUR on
// that day. A conversion takes the rate of the day or, when the day has
// none (a weekend, a holiday), of the latest day before it, up to
// staleDays back.
type Rates struct {
	byPair map[string][]dayRate // "USD/EUR" -> by date
}

type dayRate struct {
	day  record.Date
	rate money.Decimal
}

const staleDays = 7

// LoadRates reads an fx-rates file; every bad line is reported with its
// number and field.
func LoadRates(path string) (*Rates, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &Rates{byPair: map[string][]dayRate{}}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if line == 1 && strings.EqualFold(strings.TrimSpace(fields[0]), "date") {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("fx rates %s line %d: want date,pair,rate (3 fields), got %d", path, line, len(fields))
		}
		day, err := record.ParseDate(strings.TrimSpace(fields[0]))
		if err != nil {
			return nil, fmt.Errorf("fx rates %s line %d field date: %v", path, line, err)
		}
		pair := strings.ToUpper(strings.TrimSpace(fields[1]))
		from, to, ok := strings.Cut(pair, "/")
		if !ok || !money.ValidCode(from) || !money.ValidCode(to) || from == to {
			return nil, fmt.Errorf("fx rates %s line %d field pair: %q: want two ISO 4217 codes, FROM/TO (USD/EUR)", path, line, fields[1])
		}
		rate, err := money.Parse(strings.TrimSpace(fields[2]))
		if err != nil || rate.Sign() <= 0 {
			return nil, fmt.Errorf("fx rates %s line %d field rate: %q: want a positive decimal", path, line, fields[2])
		}
		r.Add(day, from, to, rate)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("fx rates %s: %w", path, err)
	}
	return r, nil
}

// Add sets the rate from -> to on day (1 from = rate to).
func (r *Rates) Add(day record.Date, from, to string, rate money.Decimal) {
	if r.byPair == nil {
		r.byPair = map[string][]dayRate{}
	}
	k := from + "/" + to
	list := r.byPair[k]
	i := sort.Search(len(list), func(i int) bool { return list[i].day >= day })
	if i < len(list) && list[i].day == day {
		list[i].rate = rate
		return
	}
	list = append(list, dayRate{})
	copy(list[i+1:], list[i:])
	list[i] = dayRate{day, rate}
	r.byPair[k] = list
}

// rate is the rate from -> to for day (or the latest before it).
func (r *Rates) rate(from, to string, day record.Date) (money.Decimal, bool) {
	if r == nil {
		return money.Decimal{}, false
	}
	list := r.byPair[from+"/"+to]
	i := sort.Search(len(list), func(i int) bool { return list[i].day > day }) - 1
	if i < 0 || day-list[i].day > staleDays {
		return money.Decimal{}, false
	}
	return list[i].rate, true
}

// convert is amount in from at the rate of day, in to's minor units,
// rounded half away from zero (as banks round a conversion).
func (r *Rates) convert(amount money.Decimal, from, to string, day record.Date) (money.Decimal, money.Decimal, bool) {
	if from == "" || from == to {
		return money.Decimal{}, money.Decimal{}, false
	}
	rate, ok := r.rate(from, to, day)
	if !ok {
		return money.Decimal{}, money.Decimal{}, false
	}
	x := new(big.Rat).Mul(amount.Rat(), rate.Rat())
	d, err := roundRat(x, money.MinorUnits(to))
	return d, rate, err == nil
}

// roundRat rounds x to scale digits, half away from zero.
func roundRat(x *big.Rat, scale int) (money.Decimal, error) {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	n := new(big.Int).Mul(x.Num(), p)
	q, m := new(big.Int).QuoRem(n, x.Denom(), new(big.Int))
	// |m|*2 >= denom: round away from zero
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(x.Denom()) >= 0 {
		if x.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return money.Decimal{}, fmt.Errorf("conversion beyond int64 units")
	}
	return money.New(q.Int64(), scale), nil
}

// describeDiff names a bank - ledger difference as the rule sees it: an
// FX variance with its share of the amount, a fee, or a plain difference.
func describeDiff(r *Rule, diff, ledger money.Decimal, currency string) string {
	share := ""
	if al, err := ledger.Abs(); err == nil && !al.IsZero() {
		if ad, err := diff.Abs(); err == nil {
			q := new(big.Rat).Quo(ad.Rat(), al.Rat())
			q.Mul(q, big.NewRat(100, 1))
			share = " (" + q.FloatString(2) + " %)"
		}
	}
	switch {
	case r.FXRates || r.Variance == "fx":
		return "FX variance " + money.Format(diff, currency) + share
	case r.Variance == "fee":
		return "fee variance " + money.Format(diff, currency) + share
	}
	return fmt.Sprintf("amount differs by %s", money.Format(diff, currency))
}

// overShare reports whether |diff| is more than pct % of |ledger|.
func overShare(diff, ledger, pct money.Decimal) bool {
	if diff.IsZero() {
		return false
	}
	d := new(big.Rat).Abs(diff.Rat())
	lim := new(big.Rat).Abs(ledger.Rat())
	lim.Mul(lim, pct.Rat())
	lim.Quo(lim, big.NewRat(100, 1))
	return d.Cmp(lim) > 0
}

// SetOriginal sets the amount a record was invoiced in, in another
// currency (a ledger's original_currency and original_amount columns);
// empty values leave it unset. A value that is no currency or no
// decimal is an error naming the field.
func (r *Rec) SetOriginal(currency, amount string) error {
	currency, amount = strings.TrimSpace(currency), strings.TrimSpace(amount)
	if currency == "" && amount == "" {
		return nil
	}
	if !money.ValidCode(currency) {
		return fmt.Errorf("original_currency %q: want an ISO 4217 alphabetic code in upper case", currency)
	}
	d, err := money.Parse(amount)
	if err != nil {
		return fmt.Errorf("original_amount %q: want a decimal", amount)
	}
	if d.Sign() != 0 && r.Amount.Sign() != 0 && d.Sign() != r.Amount.Sign() {
		return fmt.Errorf("original_amount %s: its sign differs from the amount's %s", amount, r.Amount)
	}
	r.OrigCurrency, r.OrigAmount = currency, d
	return nil
}
