package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// A chart is a small server-rendered SVG: bars per day (grouped when
// there are several series), optionally a line on the same scale. Every
// bar and point carries its figure as a tooltip (<title>), and the page
// lists the figures beside it, so the numbers read on hover and in print.
type chart struct {
	Title  string
	X      []string // one label per slot (a day)
	Bars   []series
	Line   *series
	Unit   string  // after each figure ("%")
	Max    float64 // the scale's top (0: from the data)
	Digits int     // decimals of the figures
}

// series is one named row of figures; Class styles it (app.css). Texts,
// when set, are the figures as shown (an amount's exact decimal: the
// float only places the bar).
type series struct {
	Name, Class string
	Values      []float64
	Texts       []string
}

// text is the i-th figure as shown.
func (c chart) text(s series, i int) string {
	if i < len(s.Texts) {
		return s.Texts[i]
	}
	return c.fig(s.Values[i])
}

const (
	chartW, chartH             = 480.0, 180.0
	padL, padR, padT, padB     = 58.0, 18.0, 10.0, 20.0
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	maxXLabels, barGapFraction = 6, 0.25
)

// fig formats a figure with the chart's decimals and unit (one more
// decimal for a grid line between whole numbers).
func (c chart) fig(v float64) string {
	d := c.Digits
	if d == 0 && v != math.Trunc(v) {
		d = 1
	}
	return fmt.Sprintf("%.*f%s", d, v, c.Unit)
}

// scale returns the lowest and highest value the axis shows: zero is
// always on it, the top is rounded up to a readable step.
func (c chart) scale() (lo, hi float64) {
	for _, s := range c.Legend() {
		for _, v := range s.Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if c.Max > 0 {
		hi = c.Max
	}
	round := func(v float64) float64 {
		if v == 0 {
			return 0
		}
		step := math.Pow(10, math.Floor(math.Log10(math.Abs(v))))
		for _, m := range []float64{1, 2, 2.5, 5, 10} {
			if math.Abs(v) <= m*step {
				return math.Copysign(m*step, v)
			}
		}
		return v
	}
	if hi, lo = round(hi), round(lo); hi == lo {
		hi = 1
	}
	return lo, hi
}

// Legend is every series, the bars' then the line's.
func (c chart) Legend() []series {
	all := append([]series{}, c.Bars...)
	if c.Line != nil {
		all = append(all, *c.Line)
	}
	return all
}

// SVG renders the chart.
func (c chart) SVG() template.HTML {
	lo, hi := c.scale()
	y := func(v float64) float64 { return padT + plotH*(hi-v)/(hi-lo) }
	n := max(len(c.X), 1)
	slot := plotW / float64(n)
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, chartH, esc(c.Title))
	// Grid: zero, the top, the bottom when below zero, and halfway.
	grid := []float64{0, hi, (lo + hi) / 2}
	if lo < 0 {
		grid = []float64{lo, (lo + hi) / 2, hi}
		if hi > 0 {
			grid = []float64{lo, 0, hi}
		}
	}
	for _, v := range grid {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			padL, chartW-padR, y(v), y(v), padL-4, y(v)+3, esc(c.fig(v)))
	}
	every := max(1, (n+maxXLabels-1)/maxXLabels)
	for i, l := range c.X {
		if (n-1-i)%every == 0 { // the last day always labelled
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, padL+slot*(float64(i)+0.5), chartH-6, esc(l))
		}
	}
	if k := len(c.Bars); k > 0 {
		w := slot * (1 - barGapFraction) / float64(k)
		for j, s := range c.Bars {
			for i, v := range s.Values {
				x := padL + slot*float64(i) + slot*barGapFraction/2 + w*float64(j)
				top, bottom := y(math.Max(v, 0)), y(math.Min(v, 0))
				fmt.Fprintf(&b, `<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`,
					esc(s.Class), x, top, w, math.Max(bottom-top, 0.5), esc(c.X[i]), esc(s.Name), esc(c.text(s, i)))
			}
		}
	}
	if c.Line != nil {
		var pts []string
		for i, v := range c.Line.Values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", padL+slot*(float64(i)+0.5), y(v)))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, esc(c.Line.Class), strings.Join(pts, " "))
		for i, v := range c.Line.Values {
			fmt.Fprintf(&b, `<circle class="point %s" cx="%.1f" cy="%.1f" r="2.5"><title>%s %s: %s</title></circle>`,
				esc(c.Line.Class), padL+slot*(float64(i)+0.5), y(v), esc(c.X[i]), esc(c.Line.Name), esc(c.text(*c.Line, i)))
		}
	}
	if lo == 0 && hi == 1 && !c.anyNonZero() {
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle">every figure is %s</text>`, padL+plotW/2, padT+plotH/2, esc(c.fig(0)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (c chart) anyNonZero() bool {
	for _, s := range c.Legend() {
		for _, v := range s.Values {
			if v != 0 {
				return true
			}
		}
	}
	return false
}

// Rows are the figures as table rows: one per slot, a column per series.
func (c chart) Rows() [][]string {
	all := c.Legend()
	rows := make([][]string, len(c.X))
	for i, x := range c.X {
		rows[i] = []string{x}
		for _, s := range all {
			rows[i] = append(rows[i], c.text(s, i))
		}
	}
	return rows
}

// Names are the series' names, bars first.
func (c chart) Names() []string {
	var out []string
	for _, s := range c.Legend() {
		out = append(out, s.Name)
	}
	return out
}
