package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/services/console"
)

// demoDays is how many business days the demo covers, up to today.
const demoDays = 20

// demo is what `recon up --demo` writes: the last 20 business days up to
// today on two accounts, as a bank would send them (one camt.053 file a
// day, with balances) and a ledger extract; a late ledger file that
// follows once the windows closed; and what the demo's people do once
// the files are in (console.DemoSeed).
type demo struct {
	files map[string][]byte // path under the inbox -> content
	late  map[string][]byte
	seed  console.DemoSeed
}

// demoAccounts are the demo's accounts: the generator's first two (EUR
// and USD).
var demoAccounts = func() (out [2]struct{ account, currency string }) {
	for i := range out {
		out[i].account, out[i].currency = gen.NoisyAccount(i)
	}
	return out
}()

// businessDays returns the n business days of cal up to today (today
// itself when it is one), oldest first.
func businessDays(cal *calendar.Calendar, today record.Date, n int) []record.Date {
	d := today
	for !cal.IsBusinessDay(d) {
		d--
	}
	days := []record.Date{d}
	for len(days) < n {
		d = cal.Add(d, -1)
		days = append(days, d)
	}
	for i, j := 0, len(days)-1; i < j; i, j = i+1, j-1 {
		days[i], days[j] = days[j], days[i]
	}
	return days
}

// makeDemo builds the demo for the day now falls on. The generated part
// is a realistic stream (date shifts, reformatted and missing
// references, fees, payout batches, instalments, duplicates, same-amount
// traps, items without a counterpart); by hand come the cases every page
// needs:
//
//   - pairs without a reference whose names half agree (proposed, for a
//     person to confirm), a payout paid as one bank entry against two
//     ledger items (a manual match), a bank fee to write off, a payment
//     against an invoice of another amount (mismatch), one card payment
//     and two invoices of its amount (ambiguous), postings entered twice
//     this morning (duplicates, inside their SLA), and a late ledger file of postings
//     booked before the statements began (late);
//   - on the EUR account the bank's statement of four business days ago
//     never arrived: a gap in the statement numbers, its entries missing,
//     an unexplained difference from that day on;
//   - on the USD account a charge of 25.00 the bank took without listing
//     it, six business days ago: an unexplained difference from then on;
//   - the first eight days of the EUR account signed off, the first five
//     of the USD account waiting for an approver's sign-off.
//
// Breaks booked in the last days are inside their SLA, older ones past it.
func makeDemo(now time.Time) (*demo, error) {
	cals := calendar.Default()
	today := record.Date(now.UTC().Unix() / 86400)
	days := businessDays(cals.For("EUR"), today, demoDays)
	first, last := days[0], days[len(days)-1]
	day := func(k int) record.Date { return days[len(days)-1-k] } // k business days back
	n := gen.Noise{Pairs: 300, Accounts: 2, Days: int(last-first) - 1, Seed: 7, DateShift: 1, Reformat: 250, MissingRef: 150, Fees: 80,
		Batches: 8, Instalments: 5, Duplicates: 4, Traps: 6, BankOnly: 8, LedgerOnly: 8, Start: first}
	gd, err := gen.NoisyDay(n)
	if err != nil {
		return nil, err
	}
	// No entry after today: the bank books what the generator shifted
	// past it on the last business day of its currency.
	for i := range gd.Bank {
		b := &gd.Bank[i]
		if b.Date > last {
			b.Date = last
			for cal := cals.For(b.Currency); !cal.IsBusinessDay(b.Date); {
				b.Date--
			}
		}
	}
	eur, usd := demoAccounts[0].account, demoAccounts[1].account
	bank := func(acct, cur string, k int, cents int64, ref, bankRef, cp, text string) gen.BankTx {
		return gen.BankTx{Account: acct, Currency: cur, Date: day(k), Cents: cents, Ref: ref, BankRef: bankRef, CP: cp, Text: text}
	}
	ledger := func(id, acct, cur string, k int, cents int64, ref, cp, desc string) gen.LedgerTx {
		return gen.LedgerTx{ID: id, Account: acct, Currency: cur, Date: day(k), Cents: cents, Ref: ref, CP: cp, Desc: desc}
	}
	gd.Bank = append(gd.Bank,
		bank(eur, "EUR", 6, -4599, "", "BRX001", "ACME Office Supplies GmbH", "Card payment"),
		bank(eur, "EUR", 5, -7710, "", "BRX002", "Globex Digital Services", "Card payment"),
		bank(usd, "USD", 6, -31040, "", "BRX003", "Initech Software LLC", "Card payment"),
		bank(eur, "EUR", 7, 30000, "PAYOUT-X100", "BRX004", "Stripe Payments Europe", "Payout"),
		bank(eur, "EUR", 7, -450, "", "BRX005", "", "Account maintenance fee"),
		bank(usd, "USD", 12, 50000, "INV-MM-7", "BRX006", "Contoso Ltd", "Customer payment INV-MM-7"),
		bank(eur, "EUR", 6, -9900, "", "BRX007", "Umbrella Corp", "Card payment"),
		bank(eur, "EUR", 4, -2380, "", "BRX008", "", "Card payment 4417 unknown merchant"),
	)
	gd.Ledger = append(gd.Ledger,
		// Half of each name in common: proposed, not matched.
		ledger("GL-DEMO-1", eur, "EUR", 7, -4599, "", "Acme Stationery", "Office supplies"),
		ledger("GL-DEMO-2", eur, "EUR", 6, -7710, "", "Globex Media Services", "Subscription"),
		ledger("GL-DEMO-3", usd, "USD", 7, -31040, "", "Initech Consulting", "Software licence"),
		ledger("GL-DEMO-4", eur, "EUR", 8, 10000, "ORD-5521", "Stripe", "Order 5521"),
		ledger("GL-DEMO-5", eur, "EUR", 8, 20000, "ORD-5522", "Stripe", "Order 5522"),
		ledger("GL-DEMO-6", usd, "USD", 13, 35000, "INV-MM-7", "Contoso Ltd", "Invoice INV-MM-7"),
		ledger("GL-DEMO-7", eur, "EUR", 7, -9900, "", "Umbrella Corp", "Training March"),
		ledger("GL-DEMO-8", eur, "EUR", 5, -9900, "", "Umbrella Corp", "Training April"),
		// Entered twice this morning: duplicates, inside their SLA.
		ledger("GL-DEMO-9", eur, "EUR", 0, -64000, "RENT-DEC", "Fabrikam Properties", "Office rent"),
		ledger("GL-DEMO-9", eur, "EUR", 0, -64000, "RENT-DEC", "Fabrikam Properties", "Office rent"),
		ledger("GL-DEMO-10", usd, "USD", 0, -124000, "PO-88123", "Tailspin Toys", "Inventory purchase"),
		ledger("GL-DEMO-10", usd, "USD", 0, -124000, "PO-88123", "Tailspin Toys", "Inventory purchase"),
	)
	gen.SortStatementOrder(gd.Bank)
	stmts := gen.Statements(gd.Bank)
	byDay := map[record.Date][]*gen.Statement{}
	lost, charge := day(4), day(6)
	for _, st := range stmts {
		if st.Account == usd && st.Date >= charge {
			// The unlisted charge: in every balance from its day on.
			if st.Date > charge {
				st.Opening -= 2500
			}
			st.Closing -= 2500
		}
		if st.Account == eur && st.Date == lost {
			continue // never arrived
		}
		byDay[st.Date] = append(byDay[st.Date], st)
	}
	d := &demo{files: map[string][]byte{}, late: map[string][]byte{}}
	for dt, sts := range byDay {
		var b bytes.Buffer
		if err := gen.WriteStatements(&b, "camt053", sts); err != nil {
			return nil, err
		}
		d.files[filepath.Join("bank", dt.String()+"-camt053.xml")] = b.Bytes()
	}
	var gl bytes.Buffer
	if err := gen.WriteLedger(&gl, gd.Ledger); err != nil {
		return nil, err
	}
	d.files[filepath.Join("ledger", first.String()+"-"+last.String()+"-gl.csv")] = gl.Bytes()
	// Booked before the statements began, posted only now: past every
	// window when they come, so they are late breaks.
	lateCSV := "id,account,currency,booking_date,amount,reference,counterparty,description\n" +
		fmt.Sprintf("GL-LATE-1,%s,EUR,%s,1250.00,INV-LATE-1,Northwind Traders,Posted a month late\n", eur, first-30) +
		fmt.Sprintf("GL-LATE-2,%s,USD,%s,-89.00,INV-LATE-2,Contoso Ltd,Posted a month late\n", usd, first-25)
	d.late[filepath.Join("ledger", last.String()+"-late-gl.csv")] = []byte(lateCSV)
	d.seed = console.DemoSeed{
		Signed:   console.DemoDays{Account: eur, Currency: "EUR", From: first, To: days[7]},
		Waiting:  console.DemoDays{Account: usd, Currency: "USD", From: first, To: days[4]},
		WriteOff: "Account maintenance fee",
	}
	return d, nil
}

// writeFiles writes files (paths under the inbox) into the inbox.
func writeFiles(inbox string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(inbox, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
