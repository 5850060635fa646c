package notifier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/redis/go-redis/v9"
)

func writeRoutes(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoutingMistakes: every mistake of a routes file is reported at
// once, named by its route or channel.
func TestRoutingMistakes(t *testing.T) {
	_, err := LoadRouting(writeRoutes(t, `
channels:
  mail: {type: email, smtp: nohost, username: u}
  hook: {type: webhook, url: "https://x"}
  pager: {type: pagerduty}
routes:
  - name: big
    match: {currencies: [eur], sides: [both], reasons: [late, nope], min_amount: "-5"}
    channels: [mail, slack]
    quiet_hours: {start: "25:00", end: "07:00", time_zone: Mars/Olympus}
  - name: big
    channels: []
`))
	if err == nil {
		t.Fatal("a broken routes file loaded")
	}
	for _, want := range []string{
		`channel "mail": from is required`, `channel "mail": smtp "nohost": want host:port`, `channel "mail": username without password_file`,
		`channel "hook": secret_file is required`, `channel "pager": type "pagerduty"`,
		`route "big": currency "eur"`, `route "big": side "both"`, `route "big": reason "nope"`, `route "big": min_amount "-5"`,
		`route "big": channel "slack" is not defined`, `route "big": quiet_hours: start "25:00"`, `time_zone "Mars/Olympus"`,
		`route "big": the name is used twice`, `route "big": no channels`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `reason "late"`) {
		t.Errorf("a valid reason refused: %v", err)
	}
	if _, err := LoadRouting(writeRoutes(t, "routes: [{name: a, channels: [x]}]\nchanels: {}\n")); err == nil || !strings.Contains(err.Error(), "chanels") {
		t.Errorf("an unknown key was not named: %v", err)
	}
}

// TestRouting: conditions combine, an empty list matches anything, the
// amount ignores the sign, and stop ends the search.
func TestRouting(t *testing.T) {
	r, err := LoadRouting(writeRoutes(t, `
channels:
  log: {type: log}
routes:
  - name: large-eur-bank
    match: {currencies: [EUR], sides: [bank], min_amount: "1000"}
    channels: [log]
    stop: true
  - name: mismatch
    match: {reasons: [amount_mismatch], accounts: [A1]}
    channels: [log]
  - name: rest
    channels: [log]
`))
	if err != nil {
		t.Fatal(err)
	}
	brk := func(acct, cur string, side record.Side, reason record.BreakReason, units int64) *record.Break {
		return &record.Break{Account: acct, Currency: cur, Side: side, Reason: reason, Record: record.Item{Amount: money.New(units, 2)}}
	}
	names := func(b *record.Break) string {
		var out []string
		for _, rt := range r.routesFor(b) {
			out = append(out, rt.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		b    *record.Break
		want string
	}{
		{brk("A1", "EUR", record.Bank, record.AmountMismatch, -150000), "large-eur-bank"},
		{brk("A1", "EUR", record.Bank, record.AmountMismatch, 99999), "mismatch,rest"},
		{brk("A2", "EUR", record.Ledger, record.AmountMismatch, 500000), "rest"},
		{brk("A1", "GBP", record.Bank, record.Unmatched, 500000), "rest"},
	} {
		if got := names(c.b); got != c.want {
			t.Errorf("%+v: routes %q, want %q", c.b, got, c.want)
		}
	}
}

// TestQuietHours: deliveries inside the quiet period wait for its end,
// across midnight and only on the days named.
func TestQuietHours(t *testing.T) {
	q := &QuietHours{Start: "20:00", End: "07:30", TimeZone: "Europe/Berlin", Days: []string{"fri"}}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(d, hm string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", d+" "+hm, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2026-12-04 is a Friday.
	for _, c := range []struct{ now, want time.Time }{
		{at("2026-12-04", "19:59"), at("2026-12-04", "19:59")}, // before
		{at("2026-12-04", "21:00"), at("2026-12-05", "07:30")}, // Friday evening: Saturday morning
		{at("2026-12-05", "06:00"), at("2026-12-05", "07:30")}, // Saturday morning belongs to Friday's period
		{at("2026-12-05", "21:00"), at("2026-12-05", "21:00")}, // Saturday evening: not quiet
		{at("2026-12-04", "06:00"), at("2026-12-04", "06:00")}, // Friday morning belongs to Thursday
	} {
		if got := q.Until(c.now); !got.Equal(c.want) {
			t.Errorf("Until(%s) = %s, want %s", c.now, got, c.want)
		}
	}
	day := &QuietHours{Start: "12:00", End: "13:00", TimeZone: "UTC"}
	if err := day.check(); err != nil {
		t.Fatal(err)
	}
	noon := time.Date(2026, 12, 7, 12, 15, 0, 0, time.UTC)
	if got := day.Until(noon); !got.Equal(time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("lunch quiet hours: %s", got)
	}
}

// TestRetryBackoff doubles from the first wait up to the cap.
func TestRetryBackoff(t *testing.T) {
	r := Retry{Backoff: time.Second, MaxBackoff: 5 * time.Second}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, r.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
}

// TestOutboxClaim: a claimed delivery is not handed to a second sender
// until its claim runs out; a finished one never again, also when its
// break is queued again.
func TestOutboxClaim(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	ctx := context.Background()
	o := newOutbox("t", time.Hour)
	now := time.UnixMilli(1_800_000_000_000)
	var ds []*delivery
	for i := range 5 {
		ds = append(ds, &delivery{ID: deliveryID("r", "c", fmt.Sprint(i)), Route: "r", Channel: "c", BreakID: fmt.Sprint(i), due: now})
	}
	if n, err := o.add(ctx, rdb, ds); err != nil || n != 5 {
		t.Fatalf("added %d, %v", n, err)
	}
	a, err := o.claim(ctx, rdb, now, time.Minute, 100)
	if err != nil || len(a) != 5 {
		t.Fatalf("first claim %d, %v", len(a), err)
	}
	if b, _ := o.claim(ctx, rdb, now.Add(59*time.Second), time.Minute, 100); len(b) != 0 {
		t.Errorf("a second sender got %d claimed deliveries", len(b))
	}
	if err := o.finish(ctx, rdb, now, a[:2]); err != nil {
		t.Fatal(err)
	}
	if b, _ := o.claim(ctx, rdb, now.Add(61*time.Second), time.Minute, 100); len(b) != 3 {
		t.Errorf("after the claim ran out: %d deliveries, want the 3 unfinished", len(b))
	}
	if n, _ := o.add(ctx, rdb, ds); n != 0 {
		t.Errorf("queued again: %d added", n)
	}
}
