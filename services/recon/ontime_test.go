package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/record"
)

// TestUpBreaksOnTime: a day booked a few business days ago (relative to
// the clock) whose records no rule can pair (no references, names that
// share no word, amounts of their own) reaches the break queue of a
// running recon up as soon as its windows close, after idle-advance and
// a batch, not after the instalment rule's month; while an invoice paid
// in two instalments a month apart is still matched when the second
// comes, and the first instalment's break (it broke on time: a part
// payment) is cleared.
func TestUpBreaksOnTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs recon up")
	}
	today := record.Date(time.Now().UTC().Unix() / 86400)
	eur := calendar.Default().For("EUR")
	// The ledger side waits three business days and a grace day: the
	// latest business day whose window has closed by today, whatever day
	// of the week (or holiday) today is.
	day := today - 1
	for !eur.IsBusinessDay(day) || eur.Add(day, 3)+1 > today {
		day--
	}
	const acct = "DE89370400440532013000"
	var ledger, bank strings.Builder
	ledger.WriteString("id,account,currency,booking_date,amount,reference,counterparty,description\n")
	bank.WriteString("account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n")
	payers := []string{"Aldebaran", "Betelgeuse", "Capella", "Deneb", "Elnath", "Fomalhaut", "Gacrux", "Hadar", "Izar", "Jabbah", "Kochab", "Lesath", "Mirach", "Nunki", "Okul", "Pollux", "Rigel", "Sirius"}
	for i, p := range payers {
		fmt.Fprintf(&ledger, "GL-OT-%02d,%s,EUR,%s,%d.%02d,,%s Trading,customer receipt\n", i, acct, day, 100+i*37, i+11, p)
		fmt.Fprintf(&bank, "%s,EUR,%s,%s,%d.%02d,,BR-OT-%02d,%s Freight,SEPA CREDIT TRANSFER\n", acct, day, day, 2000+i*41, i+23, i, strings.ToUpper(payers[len(payers)-1-i][:3])+"X")
	}
	// An invoice paid in two instalments, the first a month ago.
	inv := today - 30
	fmt.Fprintf(&ledger, "GL-OT-INV,%s,EUR,%s,300.00,INV-2026-09001,Vega Instruments,invoice INV-2026-09001\n", acct, inv)
	fmt.Fprintf(&bank, "%s,EUR,%s,%s,150.00,INV-2026-09001,BR-OT-P1,Vega Instruments,Instalment 1/2 INV-2026-09001\n", acct, inv+1, inv+1)
	second := fmt.Sprintf("account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n"+
		"%s,EUR,%s,%s,150.00,INV-2026-09001,BR-OT-P2,Vega Instruments,Instalment 2/2 INV-2026-09001\n", acct, today, today)

	const idle = 4 * time.Second
	u := startUp(t, "--idle-advance", idle.String(), "--min-pending", "1s")
	u.drop("ledger", "gl.csv", []byte(ledger.String()))
	u.drop("bank", "stmt.csv", []byte(bank.String()))
	dropped := time.Now()
	count := u.count
	// Every unpairable record and the first instalment break; a bound
	// for a busy machine, not a measure.
	waitFor(t, 90*time.Second, "the unpairable records to break", func() bool {
		return count(`SELECT COUNT(*) FROM recon_break_status WHERE status = 'open' AND record_id LIKE 'GL-OT-%' AND record_id <> 'GL-OT-INV'`) == len(payers) &&
			count(`SELECT COUNT(*) FROM recon_break_status WHERE status = 'open' AND side = 'bank' AND reference = ''`) == len(payers)
	})
	t.Logf("%d unpairable records booked %s broke %.1f s after their files (idle-advance %s)", 2*len(payers), day, time.Since(dropped).Seconds(), idle)
	var closed string
	_ = u.warehouse().QueryRow(`SELECT MAX(window_closed_at) FROM recon_breaks WHERE record_id LIKE 'GL-OT-%'`).Scan(&closed)
	if want := (eur.Add(day, 3) + 1).String(); !strings.HasPrefix(closed, want) {
		t.Errorf("the ledger records' windows closed at %s, want %s (three business days and the grace day)", closed, want)
	}
	if n := count(`SELECT COUNT(*) FROM recon_breaks WHERE record_id = 'GL-OT-INV'`); n != 0 {
		t.Errorf("the instalment invoice broke: the instalments' month must still hold it")
	}
	waitFor(t, 60*time.Second, "the first instalment to break", func() bool {
		return count(`SELECT COUNT(*) FROM recon_break_status WHERE status = 'open' AND side = 'bank' AND reference = 'INV-2026-09001'`) == 1
	})
	u.drop("bank", "stmt2.csv", []byte(second))
	waitFor(t, 60*time.Second, "the instalments to match", func() bool {
		return count(`SELECT COUNT(*) FROM recon_matches m JOIN recon_match_items i ON i.match_id = m.match_id WHERE m.rule = 'instalments'`) == 3 &&
			count(`SELECT COUNT(*) FROM recon_break_status WHERE reference = 'INV-2026-09001' AND status = 'open'`) == 0
	})
}
