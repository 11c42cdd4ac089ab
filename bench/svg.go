package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Plots are written as SVG by hand: a line chart needs a few dozen lines of
// markup, and a plotting library (gonum/plot and its font and image
// dependencies) would be the largest dependency of the module for that.
// SVG is text, so plots diff and commit like the reports, and any browser
// shows them.

// chart is one panel: axes, grid, and line series in data coordinates.
type chart struct {
	Title  string
	X, Y   axis
	Series []series
	// Band shades [Band0, Band1) on the x axis (the warm-up), if Band1 > Band0.
	Band0, Band1 float64
	BandLabel    string
}

type axis struct {
	Label    string
	Min, Max float64
	Ticks    []tick
}

type tick struct {
	At    float64
	Label string
}

type series struct {
	Name string
	X, Y []float64
}

// palette is colour-blind safe (Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

// Panel geometry: the plot area inside a panel's box.
const (
	panelW               = 760.0
	panelH               = 300.0
	padLeft, padRight    = 70.0, 40.0
	padTop, padBottom    = 34.0, 46.0
	legendRow            = 16.0
	legendW              = 200.0
	svgFont              = `font-family="sans-serif" font-size="12"`
	maxLegendRowsPerPlot = 8
)

// svgDoc stacks the charts vertically into one SVG document.
func svgDoc(charts ...chart) string {
	var b strings.Builder
	h := panelH * float64(len(charts))
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" %s>`+"\n",
		panelW, h, panelW, h, svgFont)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	for i, c := range charts {
		c.render(&b, float64(i)*panelH)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func (c chart) render(b *strings.Builder, top float64) {
	x0, x1 := padLeft, panelW-padRight
	y0, y1 := top+panelH-padBottom, top+padTop // y grows downwards
	sx := func(v float64) float64 { return x0 + (v-c.X.Min)/(c.X.Max-c.X.Min)*(x1-x0) }
	sy := func(v float64) float64 { return y0 - (v-c.Y.Min)/(c.Y.Max-c.Y.Min)*(y0-y1) }
	clampX := func(v float64) float64 { return math.Max(x0, math.Min(x1, sx(v))) }

	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="14" font-weight="bold">%s</text>`+"\n", x0, top+20, esc(c.Title))
	if c.Band1 > c.Band0 {
		bx0, bx1 := clampX(c.Band0), clampX(c.Band1)
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#eeeeee"/>`+"\n", bx0, y1, bx1-bx0, y0-y1)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#777777">%s</text>`+"\n", bx0+4, y0-6, esc(c.BandLabel))
	}
	for _, t := range c.X.Ticks {
		x := sx(t.At)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", x, y0, x, y1)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+16, esc(t.Label))
	}
	for _, t := range c.Y.Ticks {
		y := sy(t.At)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, esc(t.Label))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333333"/>`+"\n", x0, y1, x1-x0, y0-y1)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, y0+34, esc(c.X.Label))
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0-52, (y0+y1)/2, esc(c.Y.Label))

	for i, s := range c.Series {
		color := palette[i%len(palette)]
		var pts strings.Builder
		for j := range s.X {
			x, y := sx(s.X[j]), sy(s.Y[j])
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x, math.Max(y1, math.Min(y0, y)))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`+"\n", color, strings.TrimSpace(pts.String()))
		if i < maxLegendRowsPerPlot {
			ly, lx := y1+14+float64(i)*legendRow, x1-legendW
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+20, ly-4, color)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+26, ly, esc(s.Name))
		}
	}
}

func esc(s string) string { return html.EscapeString(s) }

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for axis ends.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// linearTicks are five evenly spaced ticks over [0, max].
func linearTicks(maxV float64, format func(float64) string) []tick {
	var out []tick
	for i := 0; i <= 5; i++ {
		v := maxV * float64(i) / 5
		out = append(out, tick{At: v, Label: format(v)})
	}
	return out
}
