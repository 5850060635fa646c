package decide

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/window"
)

var eng = engine.New(withRates())

// withRates is the built-in rules with a day's USD/EUR rate (fx-rate).
func withRates() engine.Config {
	c := engine.DefaultConfig()
	c.Rates = &engine.Rates{}
	c.Rates.Add(day0+3, "USD", "EUR", money.New(92137, 5))
	return c
}

func orig(cur string, cents int64) txOpt {
	return func(r *engine.Rec) { r.OrigCurrency, r.OrigAmount = cur, money.New(cents, 2) }
}

// day0 is the booking date of the tables' records; the default rules
// close a window 32 days after it (instalments' 31 days + 1 grace).
var day0, _ = record.ParseDate("2026-03-02")

const closed = 40 // a stream time (days after day0) past every window

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type txOpt func(*engine.Rec)

func text(desc string) txOpt { return func(r *engine.Rec) { r.Description = desc } }
func cp(name string) txOpt   { return func(r *engine.Rec) { r.Counterparty = name } }
func provisional(bankRef string) txOpt {
	return func(r *engine.Rec) { r.Provisional, r.BankReference = true, bankRef }
}
func bankRef(ref string) txOpt { return func(r *engine.Rec) { r.BankReference = ref } }

// tx is a transaction of account A in EUR, booked day days after day0.
func tx(side record.Side, id, ref string, cents int64, day int, opts ...txOpt) Input {
	r := &engine.Rec{Item: record.Item{ID: id, Side: side, Currency: "EUR", Amount: money.New(cents, 2),
		BookingDate: day0 + record.Date(day), Reference: ref, IngestedAt: t0}, Account: "A"}
	for _, o := range opts {
		o(r)
	}
	eng.Prepare(r)
	return Input{Tx: r}
}

func bank(id, ref string, cents int64, day int, opts ...txOpt) Input {
	return tx(record.Bank, id, ref, cents, day, opts...)
}
func ledger(id, ref string, cents int64, day int, opts ...txOpt) Input {
	return tx(record.Ledger, id, ref, cents, day, opts...)
}

// statement is a statement of account A closing on day days after day0.
func statement(day int, prov bool) Input {
	d := day0 + record.Date(day)
	return Input{Statement: &record.Statement{Account: "A", Currency: "EUR", ClosingDate: &d, Provisional: prov}}
}

// step is one batch: its inputs, how it moves time, and when (wall clock,
// after t0) it is decided.
type step struct {
	ins []Input
	mv  Move
	at  time.Duration
}

// idle is the matcher's move after idle-advance without input: both sides
// advance to day days after day0.
func idle(day int) Move { return Move{To: day0 + record.Date(day), Tick: true, Idle: true} }

func to(day int) Move { return Move{To: day0 + record.Date(day)} }

var final = Move{Final: true}

type tcase struct {
	name  string
	cfg   Config
	steps []step
	// want: every output in order, "match RULE STATUS IDS [clears IDS]" or
	// "break REASON ID"; window: the entries left, "ID pending|broken|marker".
	want, window []string
}

var defaults = Config{RetentionDays: 62}

// sides: each side holds the other's windows open for up to 10 s.
var sides = Config{RetentionDays: 62, IdleAdvance: 10 * time.Second}

var cases = []tcase{
	// The third pass's rules.
	{name: "a PSP payout: charges, a refund, the fee not booked (2 %)", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "", 20580, 4, text("STRIPE PAYOUT po_1QxT7aBc9DeF")), ledger("l1", "po_1QxT7aBc9DeF", 10000, 0),
			ledger("l2", "po_1QxT7aBc9DeF", 12000, 1), ledger("l3", "po_1QxT7aBc9DeF", -1000, 2)}}, {mv: to(closed)}},
		want: []string{"match payout auto b1+l1+l2+l3"}},
	{name: "a cheque clearing ten business days after the ledger wrote it", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "Cheque 4512", -125000, 0)}}, {ins: []Input{bank("b1", "CHQ 004512", -125000, 14)}}},
		want:  []string{"match cheque auto b1+l1"}},
	{name: "a converted receipt at the rates file's rate: exact", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "INV-2026-00077", 100000, 0, orig("USD", 108500))}}, {ins: []Input{bank("b1", "INV-2026-00077", 99969, 3)}}},
		want:  []string{"match fx-rate auto b1+l1"}},
	{name: "a converted receipt without a rate: an FX variance, proposed", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "INV-2026-00078", 100000, 0), bank("b1", "INV-2026-00078", 101500, 1)}}, {mv: to(closed)}},
		want:  []string{"match fx-variance proposed b1+l1"}, window: []string{"b1 proposed", "l1 proposed"}},
	{name: "a remittance cut short: the invoices named and the counterparty's others", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "", 60000, 2, text("INV-2026-00011 INV-2026-0"), cp("CONTOSO LTD")),
			ledger("l1", "INV-2026-00011", 10000, 0, cp("Contoso Ltd")), ledger("l2", "INV-2026-00012", 20000, 0, cp("Contoso Ltd")),
			ledger("l3", "INV-2026-00013", 30000, 1, cp("Contoso Ltd"))}}, {mv: to(closed)}},
		want: []string{"match remittance-cut-short proposed b1+l1+l2+l3"}, window: []string{"b1 proposed", "l1 proposed", "l2 proposed", "l3 proposed"}},
	{name: "an instalment breaks on time; the last one a month later completes the group and clears it", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "INV-2026-0005", 30000, 0), bank("b1", "INV 2026 0005", 15000, 1)}}, {mv: to(12)},
			{ins: []Input{bank("b2", "inv-2026-5", 15000, 30)}}},
		want: []string{"break amount_mismatch b1", "match instalments auto b1+b2+l1 clears b1"}},
	{name: "no reference: breaks after the no-reference rules' days, not the instalments' month", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "", 4599, 0, cp("Contoso")), bank("b1", "", 777, 0, cp("Fabrikam"))}}, {mv: to(4)}, {mv: to(5)}},
		want:  []string{"break unmatched b1", "break unmatched l1"}, window: []string{"b1 broken", "l1 broken"}},
	{name: "a backlog being read: the windows wait while time moves, and a counterpart read later matches", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), ledger("l9", "INV-9", 900, closed)}, mv: Move{Wait: true}},
			{ins: []Input{ledger("l1", "INV-1", 100, 0)}, mv: Move{Wait: true}}, {ins: []Input{bank("b2", "INV-2", 200, closed)}}},
		want: []string{"match exact auto b1+l1"}, window: []string{"b2 pending", "l9 pending"}},
	{name: "a backlog being read: a tick without the wait closes what waited", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), ledger("l1", "INV-2", 999, closed)}, mv: Move{Wait: true}},
			{mv: Move{Tick: true}}},
		want: []string{"break unmatched b1"}, window: []string{"b1 broken", "l1 pending"}},
	{name: "the same reference and amount weeks apart are proposed, not two breaks", cfg: Config{HoldWindows: true, RetentionDays: 62},
		steps: []step{{ins: []Input{bank("b1", "INV-2026-0099", 12500, 0), ledger("l1", "INV-2026-0099", 12500, 45)}}, {mv: final}},
		want:  []string{"match reference-far-date proposed b1+l1"}, window: []string{"b1 proposed", "l1 proposed"}},
	{name: "continuously, the first breaks on time and the proposal clears it", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-2026-0099", 12500, 0)}}, {mv: to(closed)},
			{ins: []Input{ledger("l1", "INV-2026-0099", 12500, 45)}}, {mv: to(45 + closed)}},
		want: []string{"break unmatched b1", "match reference-far-date proposed b1+l1 clears b1"}, window: []string{"b1 proposed", "l1 proposed"}},
	{name: "beyond every window: the dates are what differ", cfg: Config{HoldWindows: true, RetentionDays: 62},
		steps: []step{{ins: []Input{bank("b1", "INV-2026-0099", 12500, 0), ledger("l1", "INV-2026-0099", 12500, 61)}}, {mv: final}},
		want:  []string{"break date_out_of_window b1", "break date_out_of_window l1"}, window: []string{"b1 broken", "l1 broken"}},
	{name: "a side whose input has not come holds the other side's windows open", cfg: sides,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(closed), at: time.Second},
			{ins: []Input{ledger("l1", "INV-1", 100, 0)}, at: 2 * time.Second}},
		want: []string{"match exact auto b1+l1"}},
	{name: "idle advancement moves both sides: a record arriving after it is late", cfg: sides,
		steps: []step{{ins: []Input{ledger("l1", "INV-1", 100, 0)}}, {mv: idle(closed), at: 11 * time.Second},
			{ins: []Input{ledger("l9", "INV-9", 900, 0)}, at: 12 * time.Second}, {mv: idle(closed), at: 23 * time.Second}},
		want: []string{"break unmatched l1", "break late l9"}, window: []string{"l1 broken", "l9 broken"}},
	{name: "without the hold the same input breaks first and the counterpart clears it", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(closed), at: time.Second},
			{ins: []Input{ledger("l1", "INV-1", 100, 0)}, at: 2 * time.Second}},
		want: []string{"break unmatched b1", "match exact auto b1+l1 clears b1"}},
	{name: "a quiet side holds no longer than idle-advance", cfg: sides,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(closed), at: time.Second},
			{mv: Move{Tick: true}, at: 5 * time.Second}, {mv: Move{Tick: true}, at: 11 * time.Second}},
		want: []string{"break unmatched b1"}, window: []string{"b1 broken"}},
	{name: "a statement's closing date advances the bank side", cfg: sides,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {ins: []Input{ledger("l9", "OTHER-9", 900, closed)}, at: time.Second},
			{ins: []Input{statement(closed, false)}, at: 2 * time.Second}},
		want: []string{"break unmatched b1"}, window: []string{"b1 broken", "l9 pending"}},
	{name: "exact reference on arrival", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1/ab", 10000, 1)}}, {ins: []Input{ledger("l1", "inv 1 AB", 10000, 0)}}},
		want:  []string{"match exact auto b1+l1"}},
	{name: "reference in the remittance text", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "INV-2026-00123", -5000, 0), bank("b1", "", -5000, 0, text("Payment inv 2026 00123 thank you"))}}},
		want:  []string{"match reference-in-text auto b1+l1"}},
	{name: "fee deducted by the bank", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "SO-88412", 985000, 0)}}, {ins: []Input{bank("b1", "SO-88412", 984950, 1)}}},
		want:  []string{"match fee-deducted auto b1+l1"}},
	{name: "one bank entry pays a batch of ledger items (1:N) when the window closes", cfg: defaults,
		steps: []step{
			{ins: []Input{bank("b1", "", 30000, 2, text("CARD PAYOUT PO-7781")), ledger("l1", "PO-7781", 10000, 0), ledger("l2", "PO-7781", 12000, 0),
				ledger("l3", "PO-7781", 8000, 1), ledger("l4", "PO-7781", 99900, 1)}},
			{mv: to(closed)}},
		want: []string{"match batch auto b1+l1+l2+l3", "break amount_mismatch l4"}, window: []string{"l4 broken"}},
	{name: "instalments pay one ledger item (N:1)", cfg: defaults,
		steps: []step{
			{ins: []Input{ledger("l1", "INV-2026-0005", 30000, 0), bank("b1", "INV 2026 0005", 15000, 4), bank("b2", "inv-2026-5", 15000, 30)}},
			{mv: to(closed + 30)}},
		want: []string{"match instalments auto b1+b2+l1"}},
	// Without a reference key the arrival finds no candidates (the window
	// is indexed by reference): these rules decide at the close.
	{name: "no reference: amount, date and the same counterparty (legal form aside) match at the close", cfg: defaults,
		steps: []step{
			{ins: []Input{bank("b1", "", -4599, 0, text("card"), cp("ACME Office Supplies GmbH")), ledger("l1", "", -4599, 1, cp("Acme Office Supplies"))}},
			{mv: to(closed)}},
		want: []string{"match amount-date-counterparty auto b1+l1"}},
	{name: "no reference: the name only in the bank's free text, cut short, three business days over a weekend", cfg: defaults,
		// day0 is Monday 2 March: Thursday 5 to Tuesday 10 is three business days.
		steps: []step{
			{ins: []Input{ledger("l1", "JE-1", 120050, 3, cp("Wide World Importers Ltd")), bank("b1", "", 120050, 8, text("WIDE WORLD IMPORT SEPA CREDIT TRANSFER"))}},
			{mv: to(closed)}},
		want: []string{"match amount-date-counterparty auto b1+l1"}},
	{name: "no reference: half the name is proposed at the close", cfg: defaults,
		steps: proposal(),
		want:  []string{"match amount-date-counterparty-weak proposed b1+l1"}, window: []string{"b1 proposed", "l1 proposed"}},
	{name: "only the amount, with cents, and the only one of its kind: proposed at the close", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "", 7713, 1, text("CARD TRANSACTION")), ledger("l1", "JE-9", 7713, 0)}}, {mv: to(closed)}},
		want:  []string{"match unique-amount proposed b1+l1"}, window: []string{"b1 proposed", "l1 proposed"}},
	{name: "the same amount twice on one side is not unique: two breaks each", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "", 7713, 1, text("CARD TRANSACTION")), bank("b2", "", 7713, 1, text("CARD TRANSACTION")), ledger("l1", "JE-9", 7713, 0)}}, {mv: to(closed)}},
		want:  []string{"break unmatched b1", "break unmatched b2", "break unmatched l1"}, window: []string{"b1 broken", "b2 broken", "l1 broken"}},
	{name: "a round amount alone is not enough", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "", 7700, 1, text("CARD TRANSACTION")), ledger("l1", "JE-9", 7700, 0)}}, {mv: to(closed)}},
		want:  []string{"break unmatched b1", "break unmatched l1"}, window: []string{"b1 broken", "l1 broken"}},
	{name: "N:M: a payroll of three items paid in two parts", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l1", "BATCH-7001", -100000, 0), ledger("l2", "BATCH-7001", -250000, 0), ledger("l3", "BATCH-7001", -50000, 0),
			bank("b1", "", -180000, 1, text("PAYROLL BATCH-7001 PART 1")), bank("b2", "", -220000, 1, text("PAYROLL BATCH-7001 PART 2"))}}, {mv: to(closed)}},
		want: []string{"match batch-many auto b1+b2+l1+l2+l3"}, window: []string{}},
	{name: "N:M beyond the search bound: the breaks say so", cfg: defaults, steps: manyBatch(11),
		window: []string{"b1 broken", "b2 broken", "l00 broken", "l01 broken", "l02 broken", "l03 broken", "l04 broken", "l05 broken",
			"l06 broken", "l07 broken", "l08 broken", "l09 broken", "l10 broken"},
		want: manyBatchBreaks(11, "N:M search bound hit: 2 bank entries and 11 ledger items share the reference BATCH7002; rule batch-many searches up to 10 per side (max_candidates)")},
	{name: "a booked entry confirms a matched provisional one (marker)", cfg: defaults,
		steps: []step{
			{ins: []Input{bank("p1", "INV-3", 500, 0, provisional("ASR-1")), ledger("l1", "INV-3", 500, 0)}},
			{ins: []Input{bank("b1", "INV-3", 500, 1, bankRef("ASR-1"))}}},
		want: []string{"match exact auto l1+p1", "match supersedes-provisional auto b1"}},
	{name: "the marker of a matched provisional entry is kept until its booked entry comes", cfg: defaults,
		steps: []step{{ins: []Input{bank("p1", "INV-3", 500, 0, provisional("ASR-1")), ledger("l1", "INV-3", 500, 0)}}},
		want:  []string{"match exact auto l1+p1"}, window: []string{"pv:p1 marker"}},
	{name: "a booked entry supersedes its pending provisional entry, then matches", cfg: defaults,
		steps: []step{
			{ins: []Input{bank("p1", "INV-3", 500, 0, provisional("ASR-1"))}},
			{ins: []Input{bank("b1", "INV-3", 500, 1, bankRef("ASR-1"))}},
			{ins: []Input{ledger("l1", "INV-3", 500, 1)}}},
		want: []string{"match supersedes-provisional auto p1", "match exact auto b1+l1"}},
	{name: "the same id again is a duplicate (in the window, and twice in one batch)", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {ins: []Input{bank("b1", "INV-1", 100, 0), ledger("l7", "X", 5, 0), ledger("l7", "X", 5, 0)}}},
		want:  []string{"break duplicate b1", "break duplicate l7"}, window: []string{"b1 pending", "l7 pending"}},
	{name: "the same posting twice: one matches, its twin is a duplicate", cfg: defaults,
		steps: []step{
			{ins: []Input{ledger("l1", "INV-7", 100, 0, text("rent"), cp("X")), ledger("l2", "INV-7", 100, 0, text("rent"), cp("X"))}},
			{ins: []Input{bank("b1", "INV-7", 100, 0)}}},
		want: []string{"match exact auto b1+l1", "break duplicate l2"}},
	{name: "the same posting twice in a closing pool", cfg: defaults,
		steps: []step{
			{ins: []Input{ledger("l1", "INV-7", 100, 0, text("rent"), cp("X")), ledger("l2", "INV-7", 100, 0, text("rent"), cp("X")), bank("b1", "INV-7", 100, 0)}, mv: to(closed)}},
		want: []string{"match exact auto b1+l1", "break duplicate l2"}},
	{name: "two equally good counterparts: ambiguous", cfg: defaults,
		steps: []step{
			{ins: []Input{ledger("l1", "INV-7", 100, 0, text("rent"), cp("X")), ledger("l3", "INV-7", 100, 0, text("rent March"), cp("Y")), bank("b1", "INV-7", 100, 0)}},
			{mv: to(closed)}},
		// Only the record with the tie is ambiguous; each counterpart is
		// unmatched with the tied record as its candidate.
		want: []string{"break ambiguous b1", "break unmatched l1", "break unmatched l3"}, window: []string{"b1 broken", "l1 broken", "l3 broken"}},
	{name: "same reference, different amount: amount mismatch", cfg: defaults,
		steps: []step{{ins: []Input{bank("b9", "INV-9", 10000, 0), ledger("l4", "INV-9", 15000, 0)}}, {mv: to(closed)}},
		want:  []string{"break amount_mismatch b9", "break amount_mismatch l4"}, window: []string{"b9 broken", "l4 broken"}},
	{name: "no counterpart: unmatched when the window closes, not before", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(32)}, {mv: to(33)}},
		want:  []string{"break unmatched b1"}, window: []string{"b1 broken"}},
	{name: "a record whose window closed before it arrived is late", cfg: defaults,
		steps: []step{{ins: []Input{ledger("l9", "OTHER", 100, closed)}}, {ins: []Input{bank("b1", "INV-1", 100, 0)}, mv: Move{Tick: true}}},
		want:  []string{"break late b1"}, window: []string{"b1 broken", "l9 pending"}},
	{name: "a late counterpart matches the break and clears it", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(closed)}, {ins: []Input{ledger("l1", "INV-1", 100, 1)}}},
		want:  []string{"break unmatched b1", "match exact auto b1+l1 clears b1"}},
	{name: "a break past retention is forgotten: its counterpart no longer finds it", cfg: Config{RetentionDays: 5},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(closed)}, {mv: to(closed + 4)}, {mv: to(closed + 5)}, {ins: []Input{ledger("l1", "INV-1", 100, 1)}}},
		want:  []string{"break unmatched b1"}, window: []string{"l1 pending"}},
	{name: "retention counts from when the record broke, not from its close date", cfg: Config{RetentionDays: 5},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(100)}, {mv: to(104)}, {ins: []Input{ledger("l1", "INV-1", 100, 1)}}},
		want:  []string{"break unmatched b1", "match exact auto b1+l1 clears b1"}},
	{name: "a record younger than min-pending waits, then breaks", cfg: Config{RetentionDays: 62, MinPending: time.Minute},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: to(closed), at: 59 * time.Second}, {mv: Move{Tick: true}, at: 60 * time.Second}},
		want:  []string{"break unmatched b1"}, window: []string{"b1 broken"}},
	{name: "min-pending lets the other file of the day match first", cfg: Config{RetentionDays: 62, MinPending: time.Minute},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), bank("b2", "INV-2", 100, closed)}}, {ins: []Input{ledger("l1", "INV-1", 100, 0)}, at: 30 * time.Second}},
		want:  []string{"match exact auto b1+l1"}, window: []string{"b2 pending"}},
	{name: "held windows decide nothing before the end of input", cfg: Config{RetentionDays: 62, HoldWindows: true},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {ins: []Input{ledger("l1", "INV-1", 100, 0)}, mv: to(closed)}},
		want:  nil, window: []string{"b1 pending", "l1 pending"}},
	{name: "held windows are decided as one pool at the end of input", cfg: Config{RetentionDays: 62, HoldWindows: true},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), bank("b2", "INV-2", 100, 0)}}, {ins: []Input{ledger("l1", "INV-1", 100, 0)}, mv: to(closed)}, {mv: final}},
		want:  []string{"match exact auto b1+l1", "break unmatched b2"}, window: []string{"b2 broken"}},
	{name: "the end of input closes every window, also young records", cfg: Config{RetentionDays: 62, MinPending: time.Hour},
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {mv: final}},
		want:  []string{"break unmatched b1"}, window: []string{"b1 broken"}},
	{name: "a booked statement's closing date moves time; a provisional one does not", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0)}}, {ins: []Input{statement(closed, true)}}, {ins: []Input{statement(closed, false)}}},
		want:  []string{"break unmatched b1"}, window: []string{"b1 broken"}},
	{name: "a record and the statement that passed its window in one batch: late", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), statement(closed, false)}}},
		want:  []string{"break late b1"}, window: []string{"b1 broken"}},
	{name: "a record that arrives after its window closed is late when it breaks in a later batch", cfg: Config{RetentionDays: 62, MinPending: time.Hour},
		steps: []step{{mv: to(closed)}, {ins: []Input{ledger("l9", "INV-9", 100, 0)}}, {mv: Move{Tick: true}, at: 2 * time.Hour}},
		want:  []string{"break late l9"}, window: []string{"l9 broken"}},
	{name: "opposite signs never match", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), ledger("l1", "INV-1", -100, 0)}}, {mv: to(closed)}},
		want:  []string{"break amount_mismatch b1", "break amount_mismatch l1"}, window: []string{"b1 broken", "l1 broken"}},

	// People's resolutions (the console's actions).
	{name: "manual match: a bank break with two ledger breaks whose sums agree", cfg: defaults,
		steps: append(threeBreaks(), step{ins: []Input{resolution(record.ActManualMatch, []string{"@b1", "@l1", "@l2"}, nil, "")}}),
		want: []string{"break unmatched b1", "break unmatched l1", "break unmatched l2",
			"match manual confirmed b1+l1+l2 clears b1+l1+l2", "outcome manual_match applied b1:matched l1:matched l2:matched"},
		window: []string{"b1 matched", "l1 matched", "l2 matched"}},
	{name: "manual match of pending records with a difference, before their windows close", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "X-1", 10000, 0), ledger("l1", "Y-2", 9950, 0)}},
			{ins: []Input{resolution(record.ActManualMatch, nil, []string{"b1", "l1"}, "")}}, {mv: to(closed)}},
		want:   []string{"match manual confirmed b1+l1", "outcome manual_match applied"},
		window: []string{"b1 matched", "l1 matched"}},
	{name: "manual match naming a record already matched is refused whole", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), ledger("l1", "INV-1", 100, 0), ledger("l2", "X-9", 100, 0)}},
			{ins: []Input{resolution(record.ActManualMatch, nil, []string{"l2", "b1"}, "")}}},
		want: []string{"match exact auto b1+l1",
			"outcome manual_match refused: record b1 is not open in the matcher (already matched, closed, past its 62-day retention, or unknown)"},
		window: []string{"l2 pending"}},
	{name: "manual match of one side only is refused", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "X-1", 100, 0), bank("b2", "X-2", 100, 0)}},
			{ins: []Input{resolution(record.ActManualMatch, nil, []string{"b1", "b2"}, "")}}},
		want:   []string{"outcome manual_match refused: a manual match needs a bank and a ledger record (got 2 bank, 0 ledger)"},
		window: []string{"b1 pending", "b2 pending"}},
	{name: "confirm a proposed match", cfg: defaults,
		steps: append(proposal(), step{ins: []Input{resolution(record.ActConfirm, nil, nil, "@b1+l1")}}),
		want: []string{"match amount-date-counterparty-weak proposed b1+l1", "match amount-date-counterparty-weak confirmed b1+l1",
			"outcome confirm applied"},
		window: []string{"b1 matched", "l1 matched"}},
	{name: "reject a proposed match: its records become breaks the rules leave to a person", cfg: defaults,
		steps: append(proposal(), step{ins: []Input{resolution(record.ActReject, nil, nil, "@b1+l1")}}, step{mv: to(closed + 20)},
			step{ins: []Input{resolution(record.ActConfirm, nil, nil, "@b1+l1")}}),
		want: []string{"match amount-date-counterparty-weak proposed b1+l1", "break unmatched b1", "break unmatched l1",
			"outcome reject applied b1:open l1:open",
			"outcome confirm refused: match " + record.MatchID("b1", "l1") + " is not waiting for a decision (already rejected or undone)"},
		window: []string{"b1 open", "l1 open"}},
	{name: "reject then match by hand in one batch: the second resolution sees the first", cfg: defaults,
		steps: append(proposal(), step{ins: []Input{resolution(record.ActReject, nil, nil, "@b1+l1"),
			resolution(record.ActManualMatch, []string{record.BreakID(record.Item{ID: "b1"}, record.Unmatched)}, []string{"l1"}, "")}}),
		want: []string{"match amount-date-counterparty-weak proposed b1+l1", "break unmatched b1", "break unmatched l1",
			"outcome reject applied b1:open l1:open", "match manual confirmed b1+l1 clears b1+l1", "outcome manual_match applied b1:matched l1:matched"},
		window: []string{"b1 matched", "l1 matched"}},
	{name: "unmatch a manual match: its records are breaks again, with their own break ids", cfg: defaults,
		steps: append(threeBreaks(), step{ins: []Input{resolution(record.ActManualMatch, []string{"@b1", "@l1", "@l2"}, nil, "")}},
			step{ins: []Input{resolution(record.ActUnmatch, nil, nil, "@b1+l1+l2")}}),
		want: []string{"break unmatched b1", "break unmatched l1", "break unmatched l2",
			"match manual confirmed b1+l1+l2 clears b1+l1+l2", "outcome manual_match applied b1:matched l1:matched l2:matched",
			"outcome unmatch applied b1:open l1:open l2:open"},
		window: []string{"b1 open", "l1 open", "l2 open"}},
	{name: "unmatch of an automatic match is refused", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), ledger("l1", "INV-1", 100, 0)}},
			{ins: []Input{resolution(record.ActUnmatch, nil, nil, "@b1+l1")}}},
		want: []string{"match exact auto b1+l1",
			"outcome unmatch refused: match " + record.MatchID("b1", "l1") + " is not held by the matcher: only a manual or confirmed match can be undone, within 62 days"}},
	{name: "write off, refuse a second write-off, reopen, and a late counterpart clears the break", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-7", 100, 0)}}, {mv: to(closed)},
			{ins: []Input{resolution(record.ActWriteOff, []string{"@b1"}, nil, "")}},
			{ins: []Input{resolution(record.ActWriteOff, []string{"@b1"}, nil, "")}},
			{ins: []Input{ledger("l1", "INV-7", 100, 1)}},
			{ins: []Input{resolution(record.ActReopen, []string{"@b1"}, nil, "")}},
			{mv: to(2*closed + 1)}},
		want: []string{"break unmatched b1", "outcome write_off applied b1:written_off",
			"outcome write_off refused: break " + record.BreakID(record.Item{ID: "b1"}, record.Unmatched) + " is written off (r-write_off@b1)",
			"outcome reopen applied b1:open", "match exact auto b1+l1 clears b1"}},
	{name: "accept a duplicate break, which the window does not hold", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-1", 100, 0), bank("b1", "INV-1", 100, 0)}},
			{ins: []Input{resolution(record.ActAccept, []string{"@duplicate:b1"}, nil, "")}}},
		want:   []string{"break duplicate b1", "outcome accept applied b1:accepted"},
		window: []string{"b1 pending"}},
	{name: "a resolution for another account is refused", cfg: defaults,
		steps: []step{{ins: []Input{bank("b1", "INV-7", 100, 0)}}, {mv: to(closed)},
			{ins: []Input{func() Input {
				in := resolution(record.ActAccept, []string{"@b1"}, nil, "")
				in.Resolution.Account = "B"
				return in
			}()}}},
		want:   []string{"break unmatched b1", "outcome accept refused: break " + record.BreakID(record.Item{ID: "b1"}, record.Unmatched) + " belongs to A EUR, not B EUR"},
		window: []string{"b1 broken"}},
}

// threeBreaks: a bank record and two ledger records without a shared
// reference, as breaks.
func threeBreaks() []step {
	return []step{{ins: []Input{bank("b1", "X-100", 30000, 0), ledger("l1", "Y-1", 10000, 0), ledger("l2", "Z-2", 20000, 0)}},
		{mv: to(closed)}}
}

// proposal: a match the rules propose at the close.
// manyBatch is a batch of n ledger items paid by two bank entries.
func manyBatch(n int) []step {
	var ins []Input
	for i := 0; i < n; i++ {
		ins = append(ins, ledger(fmt.Sprintf("l%02d", i), "BATCH-7002", -10000, 0))
	}
	ins = append(ins, bank("b1", "", -int64(n)*5000, 1, text("PAYROLL BATCH-7002 PART 1")), bank("b2", "", -int64(n)*5000, 1, text("PAYROLL BATCH-7002 PART 2")))
	return []step{{ins: ins}, {mv: to(closed)}}
}

func manyBatchBreaks(n int, note string) []string {
	// The reference is shared and the amounts differ: amount_mismatch.
	out := []string{"break amount_mismatch b1 (" + note + ")", "break amount_mismatch b2 (" + note + ")"}
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("break amount_mismatch l%02d (%s)", i, note))
	}
	return out
}

func proposal() []step {
	return []step{{ins: []Input{bank("b1", "", -4599, 0, text("card"), cp("ACME Office Supplies GmbH")), ledger("l1", "", -4599, 1, cp("Acme Stationery"))}},
		{mv: to(closed)}}
}

func TestDecide(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, win := run(t, tc)
			if !slices.Equal(got, tc.want) {
				t.Errorf("outputs:\n got  %q\n want %q", got, tc.want)
			}
			if !slices.Equal(win, tc.window) {
				t.Errorf("window:\n got  %q\n want %q", win, tc.window)
			}
		})
	}
}

// run decides the steps of tc on an empty window, committing each change as
// the matcher does once it is applied, and returns the outputs and the
// entries left.
func run(t *testing.T, tc tcase) (outputs, left []string) {
	t.Helper()
	w := window.NewPart()
	var tm Time
	byBreak := map[string]string{}  // break id -> record id
	byRecord := map[string]string{} // "reason:record id" and "record id" -> break id
	for i, s := range tc.steps {
		for _, in := range s.ins {
			if r := in.Resolution; r != nil {
				resolvePlaceholders(r, byRecord)
			}
		}
		before := w.Len()
		res := Decide(w, eng, tc.cfg, tm, s.ins, s.mv, t0.Add(s.at))
		if w.Len() != before {
			t.Fatalf("step %d: Decide changed the window (%d -> %d entries) before the commit", i, before, w.Len())
		}
		checkCounts(t, i, s.ins, res)
		if c := res.Change; c.StreamTime < tm.StreamTime || c.Clock.Bank < tm.Clock.Bank || c.Clock.Ledger < tm.Clock.Ledger {
			t.Fatalf("step %d: time went back from %+v to %v %+v", i, tm, c.StreamTime, c.Clock)
		}
		w.Commit(res.Change)
		tm = Time{StreamTime: res.Change.StreamTime, Clock: res.Change.Clock}
		for _, o := range res.Outputs {
			if m := o.Match; m != nil {
				var ids []string
				for _, it := range append(append([]record.Item(nil), m.Bank...), m.Ledger...) {
					ids = append(ids, it.ID)
				}
				slices.Sort(ids)
				line := fmt.Sprintf("match %s %s %s", m.Rule, m.Status, strings.Join(ids, "+"))
				if len(m.ClearsBreakIDs) > 0 {
					var cl []string
					for _, id := range m.ClearsBreakIDs {
						cl = append(cl, byBreak[id])
					}
					line += " clears " + strings.Join(cl, "+")
				}
				if m.MatchID != record.MatchID(ids...) {
					t.Errorf("step %d: match id %s is not the id of its members", i, m.MatchID)
				}
				outputs = append(outputs, line)
				continue
			}
			if oc := o.Outcome; oc != nil {
				if !oc.Applied {
					outputs = append(outputs, fmt.Sprintf("outcome %s refused: %s", oc.Action, oc.Detail))
					continue
				}
				var states []string
				for _, st := range oc.Breaks {
					states = append(states, byBreak[st.BreakID]+":"+st.Status)
				}
				slices.Sort(states)
				outputs = append(outputs, strings.TrimSpace(fmt.Sprintf("outcome %s applied %s", oc.Action, strings.Join(states, " "))))
				continue
			}
			b := o.Break
			byBreak[b.BreakID] = b.Record.ID
			byRecord[b.Record.ID] = b.BreakID
			byRecord[string(b.Reason)+":"+b.Record.ID] = b.BreakID
			line := fmt.Sprintf("break %s %s", b.Reason, b.Record.ID)
			if b.Note != "" {
				line += " (" + b.Note + ")"
			}
			outputs = append(outputs, line)
		}
	}
	for _, side := range []record.Side{record.Bank, record.Ledger} {
		n := 0
		for _, e := range w.Account("A", "EUR") {
			if e.Side == side && !e.Broken() {
				n++
			}
		}
		if p := w.Pending()[side]; p != int64(n) {
			t.Errorf("window counts %d pending %s records, holds %d", p, side, n)
		}
	}
	for _, e := range w.All() {
		state := "pending"
		switch {
		case e.Marker:
			state = "marker"
		case e.Hold != nil:
			state = map[window.HoldKind]string{window.HoldProposed: "proposed", window.HoldMatched: "matched",
				window.HoldWrittenOff: "written_off", window.HoldAccepted: "accepted", window.HoldOpen: "open"}[e.Hold.Kind]
		case e.Broken():
			state = "broken"
		}
		left = append(left, e.ID+" "+state)
	}
	slices.Sort(left)
	return outputs, left
}

// resolvePlaceholders replaces "@ID" and "@REASON:ID" break ids by the
// id of that record's break, and a match id "@ID+ID" by the id of the
// match of those records.
func resolvePlaceholders(r *record.Resolution, byRecord map[string]string) {
	for i, id := range r.BreakIDs {
		if strings.HasPrefix(id, "@") {
			r.BreakIDs[i] = byRecord[id[1:]]
		}
	}
	if strings.HasPrefix(r.MatchID, "@") {
		r.MatchID = record.MatchID(strings.Split(r.MatchID[1:], "+")...)
	}
}

// resolution is a person's decision in the tables: breaks are named "@ID"
// (the break of record ID) or "@REASON:ID", a match "@ID+ID" (its members).
func resolution(action record.Action, breaks []string, records []string, match string) Input {
	return Input{Resolution: &record.Resolution{ResolutionID: "r-" + string(action) + strings.Join(breaks, ",") + strings.Join(records, ",") + match,
		Action: action, Account: "A", Currency: "EUR", BreakIDs: breaks, RecordIDs: records, MatchID: match,
		User: "preparer", DecidedAt: t0}}
}

// checkCounts: the counts say what the outputs and inputs say.
func checkCounts(t *testing.T, step int, ins []Input, res *Result) {
	t.Helper()
	records := map[record.Side]int{}
	for _, in := range ins {
		if in.Tx != nil {
			records[in.Tx.Side]++
		}
	}
	matches, breaks, resolved := map[string]int{}, map[record.BreakReason]int{}, map[Resolved]int{}
	for _, o := range res.Outputs {
		switch {
		case o.Match != nil:
			matches[o.Match.Rule]++
		case o.Break != nil:
			breaks[o.Break.Reason]++
		default:
			resolved[Resolved{o.Outcome.Action, o.Outcome.Applied}]++
		}
	}
	if fmt.Sprint(records) != fmt.Sprint(res.Counts.Records) || fmt.Sprint(matches) != fmt.Sprint(res.Counts.Matches) ||
		fmt.Sprint(breaks) != fmt.Sprint(res.Counts.Breaks) || fmt.Sprint(resolved) != fmt.Sprint(res.Counts.Resolutions) {
		t.Errorf("step %d: counts %+v, outputs say records %v matches %v breaks %v", step, res.Counts, records, matches, breaks)
	}
	if len(res.Latencies) != countMatches(res) { // every table record has an ingestion time; a person's matches have none
		t.Errorf("step %d: %d latencies for %d matches", step, len(res.Latencies), countMatches(res))
	}
}

func countMatches(res *Result) int {
	n := 0
	for _, o := range res.Outputs {
		if o.Match != nil && o.Match.Status != record.Confirmed {
			n++
		}
	}
	return n
}

// The tables cover every rule of the default set, the supersede and
// manual rules, every break reason the record package declares and every
// action a person can resolve with.
func TestTablesCoverEveryRuleAndReason(t *testing.T) {
	want := map[string]bool{"match " + engine.SupersedeRule: false}
	for _, r := range engine.DefaultConfig().Rules {
		want["match "+r.Name] = false
	}
	want["match "+ManualRule] = false
	for _, a := range record.Actions {
		want["outcome "+string(a)] = false
	}
	f, err := parser.ParseFile(token.NewFileSet(), "../record/match.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "BreakReason" {
				for _, v := range vs.Values {
					s, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
					want["break "+s] = false
				}
			}
		}
		return true
	})
	if len(want) < 10 {
		t.Fatalf("found only %v", want)
	}
	for _, tc := range cases {
		for _, o := range tc.want {
			f := strings.Fields(o)
			want[f[0]+" "+f[1]] = true
		}
	}
	for k, covered := range want {
		if !covered {
			t.Errorf("no table case has %q", k)
		}
	}
}

// The decision core imports none of the servers' clients and reads no
// clock.
func TestPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/twmb/franz-go", "github.com/redis/go-redis", "github.com/jackc/pgx", "github.com/prometheus/client_golang"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("decide depends on %s", dep)
			}
		}
	}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" && slices.Contains([]string{"Now", "Since", "Until", "Sleep", "After", "Tick", "NewTimer", "NewTicker", "AfterFunc"}, sel.Sel.Name) {
						t.Errorf("%s: time.%s (the clock is an argument)", fset.Position(sel.Pos()), sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
}
