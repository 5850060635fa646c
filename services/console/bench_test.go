package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// BenchmarkConsole100k measures the server time of the queue page, the
// dashboard and GET /api/v1/breaks with filters, on an SQLite case store
// of 100,000 open breaks (20 accounts, two currencies, both sides, every
// reason, ages up to 60 days). It reports p50 and p99 per request shape:
//
//	go test ./services/console -run '^$' -bench Console100k -benchtime 200x
func BenchmarkConsole100k(b *testing.B) {
	ctx := context.Background()
	st, err := casestore.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "cases.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	reasons := []record.BreakReason{record.Unmatched, record.AmountMismatch, record.Duplicate, record.Ambiguous, record.Late}
	today := record.MakeDate(2026, 5, 1)
	for i := 0; i < 100000; i += 5000 {
		var bs []*record.Break
		for j := i; j < i+5000; j++ {
			side, cur := record.Bank, "EUR"
			if j%2 == 1 {
				side = record.Ledger
			}
			if j%5 == 0 {
				cur = "USD"
			}
			it := record.Item{ID: fmt.Sprintf("r-%06d", j), Side: side, Currency: cur, Amount: money.New(int64((j*7919)%2000000-1000000), 2),
				BookingDate: today - record.Date(j%60), Reference: fmt.Sprintf("REF-%d", j), Counterparty: fmt.Sprintf("Counterparty %d Ltd", j%700),
				Description: "payment", SourceFile: "bank.csv", SourcePosition: int64(j)}
			r := reasons[j%len(reasons)]
			bs = append(bs, &record.Break{BreakID: record.BreakID(it, r), Side: side, Reason: r, Account: fmt.Sprintf("ACCT-%02d", j%20),
				Currency: cur, Record: it, Candidates: []record.Candidate{}, WindowClosedAt: it.BookingDate + 32})
		}
		if err := st.Apply(ctx, "c", &casestore.Batch{Breaks: bs}); err != nil {
			b.Fatal(err)
		}
	}
	cfg := Defaults()
	cfg.Today = func() time.Time { return today.Time() }
	s := &Service{cfg: cfg, log: quietLog(), store: st}
	s.sla, _ = cfg.breakSLA()
	if err := s.registerMetrics(prometheus.NewRegistry()); err != nil {
		b.Fatal(err)
	}
	s.auth = &auth{store: st, log: s.log}
	if err := st.CreateSession(ctx, hashID("bench"), casestore.Session{User: "preparer", Name: "P", Roles: []string{RolePreparer},
		CSRF: "x", Expires: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	h := s.routes()
	shapes := []struct{ name, url string }{
		{"page queue (open, oldest first)", "/breaks"},
		{"page queue, one account by amount", "/breaks?account=ACCT-07&currency=EUR&sort=-amount"},
		{"page queue, text that matches one", "/breaks?q=ref-4242"},
		{"page queue, text that matches all", "/breaks?q=payment&sort=-amount"},
		{"page queue, amount range", "/breaks?min_amount=-1000&max_amount=1000&sort=amount"},
		{"page queue, reason and age", "/breaks?reason=amount_mismatch&min_age_days=30"},
		{"page dashboard", "/"},
		{"api breaks, account by amount", "/api/v1/breaks?status=open&account=ACCT-07&currency=EUR&sort=-amount&limit=100"},
		{"api breaks, text", "/api/v1/breaks?q=counterparty%20123%20"},
		{"api breaks, side and age, 200", "/api/v1/breaks?side=ledger&min_age_days=10&limit=200"},
		{"api breaks, 2nd page", "/api/v1/breaks?sort=-amount&cursor=500000~k"},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", sh.url, nil)
				req.AddCookie(&http.Cookie{Name: cookieSession, Value: "bench"})
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, req)
				ds = append(ds, time.Since(start))
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", sh.url, w.Code, w.Body.String())
				}
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			pct := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
