package console

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A chart draws one bar per figure (a negative one below the zero line),
// carries each figure's text (an amount's exact decimal) as its tooltip
// and in its rows, and escapes what it is given.
func TestChartSVG(t *testing.T) {
	c := chart{Title: "a <b>", X: []string{"Nov 1", "Nov 2", "Nov 3"}, Digits: 2,
		Bars: []series{{Name: "unexplained", Class: "u", Values: []float64{0, -25, 12.5}, Texts: []string{"0.00", "-25.00", "12.50"}}},
		Line: &series{Name: "open", Class: "o", Values: []float64{1, 2, 3}}}
	svg := string(c.SVG())
	bars := regexp.MustCompile(`<rect class="bar u" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"><title>([^<]*)</title>`).FindAllStringSubmatch(svg, -1)
	if len(bars) != 3 {
		t.Fatalf("%d bars in %s", len(bars), svg)
	}
	if bars[1][3] != "Nov 2 unexplained: -25.00" || bars[2][3] != "Nov 3 unexplained: 12.50" {
		t.Errorf("tooltips %q %q", bars[1][3], bars[2][3])
	}
	// The negative bar starts at the zero line, where the positive one ends.
	y := func(i int) float64 { v, _ := strconv.ParseFloat(bars[i][1], 64); return v }
	if y(1) != y(0) || y(2) >= y(1) {
		t.Errorf("bar tops: zero %s, negative %s, positive %s", bars[0][1], bars[1][1], bars[2][1])
	}
	if strings.Contains(svg, "<b>") || !strings.Contains(svg, "a &lt;b&gt;") {
		t.Errorf("title not escaped: %s", svg)
	}
	if n := strings.Count(svg, "<circle"); n != 3 {
		t.Errorf("%d line points", n)
	}
	if rows := c.Rows(); len(rows) != 3 || strings.Join(rows[1], "|") != "Nov 2|-25.00|2.00" {
		t.Errorf("rows %q", rows)
	}
}
