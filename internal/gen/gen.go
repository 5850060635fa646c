// Package gen generates bank and ledger files with known ground truth, for
// tests, benchmarks and demos. The same seed gives the same files.
package gen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/openrecon/recon/internal/record"
)

// Config says what to generate.
type Config struct {
	Pairs        int // bank/ledger pairs that should match
	BankOnly     int // bank entries without a ledger counterpart
	LedgerOnly   int // ledger postings without a bank counterpart
	Accounts     int // distinct accounts (default 50)
	Days         int // spread of booking dates (default 20)
	MaxDateShift int // ledger posting date differs by up to this many days (default 2)
	Seed         uint64
	StartDate    record.Date // default 2026-03-02
	Currencies   []string    // default EUR, USD, GBP
}

// Truth is the expected result: which ledger id each matching bank row
// (by 1-based position) pairs with.
type Truth struct {
	Pairs      map[int64]string // bank position -> ledger id
	BankOnly   []int64          // bank positions
	LedgerOnly []string         // ledger ids
}

// Write writes the canonical bank and ledger CSVs.
func Write(cfg Config, bank, ledger io.Writer) (*Truth, error) {
	if cfg.Accounts <= 0 {
		cfg.Accounts = 50
	}
	if cfg.Days <= 0 {
		cfg.Days = 20
	}
	if cfg.MaxDateShift == 0 {
		cfg.MaxDateShift = 2
	}
	if cfg.StartDate == 0 {
		cfg.StartDate = record.MakeDate(2026, 3, 2)
	}
	if len(cfg.Currencies) == 0 {
		cfg.Currencies = []string{"EUR", "USD", "GBP"}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	bw, lw := bufio.NewWriterSize(bank, 1<<20), bufio.NewWriterSize(ledger, 1<<20)
	bw.WriteString("account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n")
	lw.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description\n")
	type row struct {
		acct, cur, ref, cp string
		date               record.Date
		cents              int64
	}
	mk := func(i int) row {
		a := rng.IntN(cfg.Accounts)
		cents := rng.Int64N(5_000_000) + 1
		if rng.IntN(3) == 0 {
			cents = -cents
		}
		return row{acct: fmt.Sprintf("DE%020d", 89370400+a), cur: cfg.Currencies[a%len(cfg.Currencies)],
			ref: fmt.Sprintf("INV-%d-%07d", 2026, i), cp: fmt.Sprintf("Counterparty %d", rng.IntN(997)),
			date: cfg.StartDate + record.Date(rng.IntN(cfg.Days)), cents: cents}
	}
	amount := func(c int64) string {
		sign := ""
		if c < 0 {
			sign, c = "-", -c
		}
		return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
	}
	truth := &Truth{Pairs: map[int64]string{}}
	kinds := make([]byte, 0, cfg.Pairs+cfg.BankOnly+cfg.LedgerOnly)
	for _, k := range []struct {
		kind byte
		n    int
	}{{'p', cfg.Pairs}, {'b', cfg.BankOnly}, {'l', cfg.LedgerOnly}} {
		for j := 0; j < k.n; j++ {
			kinds = append(kinds, k.kind)
		}
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	var bankPos int64
	lid := 0
	for i, kind := range kinds {
		r := mk(i + 1)
		if kind != 'l' {
			bankPos++
			fmt.Fprintf(bw, "%s,%s,%s,%s,%s,%s,BR%09d,%s,transfer %s\n", r.acct, r.cur, r.date, r.date, amount(r.cents), r.ref, i+1, r.cp, r.ref)
		}
		if kind == 'b' {
			truth.BankOnly = append(truth.BankOnly, bankPos)
			continue
		}
		lid++
		id := fmt.Sprintf("GL-%08d", lid)
		shift := record.Date(rng.IntN(2*cfg.MaxDateShift+1) - cfg.MaxDateShift)
		ref := r.ref
		if rng.IntN(4) == 0 {
			ref = lowerDashless(ref) // the ledger writes references its own way
		}
		fmt.Fprintf(lw, "%s,%s,%s,%s,%s,%s,%s,posting %d\n", id, r.acct, r.cur, r.date+shift, amount(r.cents), ref, r.cp, i+1)
		if kind == 'p' {
			truth.Pairs[bankPos] = id
		} else {
			truth.LedgerOnly = append(truth.LedgerOnly, id)
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return truth, lw.Flush()
}

func lowerDashless(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			c = ' '
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}
