package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/record"
)

// demoStart is the first booking date of the demo day: far enough back
// that every window has closed by today (so breaks show at once), near
// enough that the ages look like a working backlog.
// demoStart is the Monday six to seven weeks back: the demo's day is a
// working week whatever the day it runs on (the rules count business days).
func demoStart(now time.Time) record.Date {
	d := record.Date(now.UTC().Unix()/86400) - 45
	for d.Time().Weekday() != time.Monday {
		d--
	}
	return d
}

// writeDemo writes the demo day into the inbox: a generated realistic day
// on two accounts (EUR and USD: date shifts, reformatted and missing
// references, fees, payout batches, instalments, duplicates, same-amount
// traps, items without a counterpart) and the hand-made cases every page
// needs (pairs without a reference that the rules only propose, a payout
// paid as one bank entry against two ledger items without a shared
// reference for the manual match, a bank fee to write off). It returns the
// late file, which the caller drops in after the first files were read:
// its records arrive after their windows closed.
func writeDemo(inbox string, now time.Time) (late func() error, err error) {
	start := demoStart(now)
	n := gen.Noise{Pairs: 150, Accounts: 2, Days: 6, Seed: 7, DateShift: 2, Reformat: 250, MissingRef: 150, Fees: 80,
		Batches: 4, Instalments: 3, Duplicates: 3, Traps: 4, BankOnly: 5, LedgerOnly: 5, BankFormat: "csv",
		BankFileName: "statement.csv", Start: start}
	var bank, ledger bytes.Buffer
	if err := gen.WriteNoisy(n, &bank, &ledger, io.Discard); err != nil {
		return nil, err
	}
	eur, usd := fmt.Sprintf("DE%020d", 44000000), fmt.Sprintf("DE%020d", 44000001)
	d := func(k int) string { return (start + record.Date(k)).String() }
	// Hand-made cases, appended to the generated files (same columns).
	fmt.Fprintf(&bank, "%s,EUR,%s,%s,-45.99,,BRX001,ACME Office Supplies GmbH,Card payment\n", eur, d(1), d(1))
	fmt.Fprintf(&bank, "%s,EUR,%s,%s,-77.10,,BRX002,Globex Digital Services,Card payment\n", eur, d(2), d(2))
	fmt.Fprintf(&bank, "%s,USD,%s,%s,-310.40,,BRX003,Initech Software LLC,Card payment\n", usd, d(1), d(1))
	fmt.Fprintf(&bank, "%s,EUR,%s,%s,300.00,PAYOUT-X100,BRX004,Stripe Payments Europe,Payout\n", eur, d(3), d(3))
	fmt.Fprintf(&bank, "%s,EUR,%s,%s,-4.50,,BRX005,,Account maintenance fee\n", eur, d(3), d(3))
	fmt.Fprintf(&bank, "%s,USD,%s,%s,500.00,INV-MM-7,BRX006,Contoso Ltd,Customer payment INV-MM-7\n", usd, d(2), d(2))
	fmt.Fprintf(&bank, "%s,EUR,%s,%s,-99.00,,BRX007,Umbrella Corp,Card payment\n", eur, d(2), d(2))
	// Half of each name in common: proposed, not matched.
	fmt.Fprintf(&ledger, "GL-DEMO-1,%s,EUR,%s,-45.99,,Acme Stationery,Office supplies\n", eur, d(0))
	fmt.Fprintf(&ledger, "GL-DEMO-2,%s,EUR,%s,-77.10,,Globex Media Services,Subscription\n", eur, d(1))
	fmt.Fprintf(&ledger, "GL-DEMO-3,%s,USD,%s,-310.40,,Initech Consulting,Software licence\n", usd, d(0))
	fmt.Fprintf(&ledger, "GL-DEMO-4,%s,EUR,%s,100.00,ORD-5521,Stripe,Order 5521\n", eur, d(2))
	fmt.Fprintf(&ledger, "GL-DEMO-5,%s,EUR,%s,200.00,ORD-5522,Stripe,Order 5522\n", eur, d(2))
	fmt.Fprintf(&ledger, "GL-DEMO-6,%s,USD,%s,350.00,INV-MM-7,Contoso Ltd,Invoice INV-MM-7\n", usd, d(1))
	fmt.Fprintf(&ledger, "GL-DEMO-7,%s,EUR,%s,-99.00,,Umbrella Corp,Training March\n", eur, d(1))
	fmt.Fprintf(&ledger, "GL-DEMO-8,%s,EUR,%s,-99.00,,Umbrella Corp,Training April\n", eur, d(3))
	fmt.Fprintf(&ledger, "GL-DEMO-9,%s,EUR,%s,-640.00,RENT-APR,Fabrikam Properties,Office rent\n", eur, d(1))
	fmt.Fprintf(&ledger, "GL-DEMO-9,%s,EUR,%s,-640.00,RENT-APR,Fabrikam Properties,Office rent\n", eur, d(1))
	day := start.String()
	for _, f := range []struct {
		path string
		b    []byte
	}{{filepath.Join(inbox, "bank", day+"-statement.csv"), bank.Bytes()}, {filepath.Join(inbox, "ledger", day+"-gl.csv"), ledger.Bytes()}} {
		if err := os.WriteFile(f.path, f.b, 0o644); err != nil {
			return nil, err
		}
	}
	lateCSV := "id,account,currency,booking_date,amount,reference,counterparty,description\n" +
		fmt.Sprintf("GL-LATE-1,%s,EUR,%s,1250.00,INV-LATE-1,Northwind Traders,Posted a month late\n", eur, d(0)) +
		fmt.Sprintf("GL-LATE-2,%s,USD,%s,-89.00,INV-LATE-2,Contoso Ltd,Posted a month late\n", usd, d(1))
	return func() error {
		return os.WriteFile(filepath.Join(inbox, "ledger", day+"-late-gl.csv"), []byte(lateCSV), 0o644)
	}, nil
}
