package console

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
)

// The dashboard: its figures (page and API) and its charts.

func (s *Service) apiSummary(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	sum, err := s.summary(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// summaryTTL is how long the dashboard's figures are reused: they are
// grouped reads over every break (about 0.4 s at 100,000 breaks on
// SQLite), and several people opening the dashboard at once need them
// only once.
const summaryTTL = 5 * time.Second

// summary is the store's summary, reused for summaryTTL.
func (s *Service) summary(r *http.Request) (*casestore.Summary, error) {
	s.sumMu.Lock()
	defer s.sumMu.Unlock()
	today := s.today()
	if s.sum != nil && s.sumDay == today && time.Since(s.sumAt) < summaryTTL {
		return s.sum, nil
	}
	sum, err := s.store.Summary(r.Context(), today, s.sla)
	if err != nil {
		return nil, err
	}
	s.sum, s.sumAt, s.sumDay = sum, time.Now(), today
	return sum, nil
}

type bucketLink struct {
	Name     string
	N        int64
	Min, Max int
}

func (s *Service) dashboardPage(w http.ResponseWriter, r *http.Request, ss *casestore.Session) {
	sum, err := s.summary(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	var ages []bucketLink
	for _, b := range casestore.AgeBuckets {
		ages = append(ages, bucketLink{b.Name, sum.ByAge[b.Name], b.Min, b.Max})
	}
	var breaches int64
	for _, n := range sum.SLABreach {
		breaches += n
	}
	type acct struct{ Account, Currency string }
	var accounts []struct {
		kv
		acct
	}
	for _, x := range sorted(sum.ByAccount) {
		a, c, _ := strings.Cut(x.K, " ")
		accounts = append(accounts, struct {
			kv
			acct
		}{x, acct{a, c}})
	}
	var amounts []struct{ Currency, Net, Gross string }
	for c, a := range sum.OpenAmount {
		amounts = append(amounts, struct{ Currency, Net, Gross string }{c, a, sum.OpenGross[c]})
	}
	sort.Slice(amounts, func(i, j int) bool { return amounts[i].Currency < amounts[j].Currency })
	pct := func(rate string) string {
		if rate == "" {
			return "–"
		}
		d, err := money.Parse(rate)
		if err != nil {
			return rate
		}
		p, _ := d.Rescale(4)
		return money.New(p.Units(), 2).String() + " %"
	}
	charts, err := s.dashboardCharts(r.Context(), sum)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", view{S: ss, Title: "Dashboard", Nav: "dashboard", Data: map[string]any{
		"Charts": charts,
		"Open":   sum.ByStatus[casestore.StatusOpen], "Proposals": sum.Proposals, "Requests": sum.Requests, "Breaches": breaches,
		"Ages": ages, "Reasons": sorted(sum.ByReason), "Sides": sorted(sum.BySide), "Accounts": accounts, "Amounts": amounts,
		"SLA": sorted(sum.SLABreach), "RateToday": pct(sum.MatchRate["today"].Rate), "Rate30": pct(sum.MatchRate["30d"].Rate),
		"Today": sum.MatchRate["today"], "Month": sum.MatchRate["30d"], "Day": s.today(), "TimeToBreak": sum.TimeToBreak,
	}})
}

// chartDays is how far back the dashboard's charts look.
const chartDays = 30

// dashboardCharts are the dashboard's pictures of the last 30 days: the
// match rate of each day with records, breaks opened, cleared and still
// open per day, and the open breaks by age.
func (s *Service) dashboardCharts(ctx context.Context, sum *casestore.Summary) ([]chart, error) {
	today := s.today()
	days, err := s.store.Daily(ctx, today-chartDays+1, today)
	if err != nil {
		return nil, err
	}
	rate := chart{Title: "Match rate per day", Unit: "%", Max: 100, Digits: 1, Bars: []series{{Name: "match rate", Class: "rate"}}}
	flow := chart{Title: "Breaks per day", Bars: []series{{Name: "opened", Class: "opened"}, {Name: "cleared", Class: "cleared"}},
		Line: &series{Name: "open at the end of the day", Class: "open"}}
	for _, d := range days {
		label := d.Date.Time().Format("Jan 2")
		if d.Matched+d.Broken > 0 {
			rate.X = append(rate.X, label)
			rate.Bars[0].Values = append(rate.Bars[0].Values, d.Rate())
		}
		flow.X = append(flow.X, label)
		flow.Bars[0].Values = append(flow.Bars[0].Values, float64(d.Opened))
		flow.Bars[1].Values = append(flow.Bars[1].Values, float64(d.Cleared))
		flow.Line.Values = append(flow.Line.Values, float64(d.Open))
	}
	age := chart{Title: "Open breaks by age (days)", Bars: []series{{Name: "open breaks", Class: "age"}}}
	for _, b := range casestore.AgeBuckets {
		age.X = append(age.X, b.Name)
		age.Bars[0].Values = append(age.Bars[0].Values, float64(sum.ByAge[b.Name]))
	}
	return []chart{rate, flow, age}, nil
}
