package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// svgElements parses doc as XML (so it is well-formed) and counts its
// elements by name; it also checks every polyline point lies inside the
// viewBox.
func svgElements(t *testing.T, doc string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	counts := map[string]int{}
	var w, h float64
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		counts[el.Name.Local]++
		for _, a := range el.Attr {
			switch {
			case el.Name.Local == "svg" && a.Name.Local == "width":
				w, _ = strconv.ParseFloat(a.Value, 64)
			case el.Name.Local == "svg" && a.Name.Local == "height":
				h, _ = strconv.ParseFloat(a.Value, 64)
			case el.Name.Local == "polyline" && a.Name.Local == "points":
				for _, p := range strings.Fields(a.Value) {
					xs, ys, _ := strings.Cut(p, ",")
					x, err1 := strconv.ParseFloat(xs, 64)
					y, err2 := strconv.ParseFloat(ys, 64)
					if err1 != nil || err2 != nil || x < 0 || x > w || y < 0 || y > h {
						t.Errorf("point %q outside the %vx%v canvas", p, w, h)
					}
				}
			}
		}
	}
	if counts["svg"] != 1 {
		t.Errorf("%d svg roots", counts["svg"])
	}
	return counts
}

func TestPercentilePlot(t *testing.T) {
	h := newHistogram()
	for i := int64(1); i <= 10_000; i++ {
		if err := h.RecordValue(100 + i%500); err != nil {
			t.Fatal(err)
		}
	}
	recordLatency(h, 30e6) // one 30 s outlier: the max
	pts := percentiles(h)
	doc := PercentilePlot(`a & <b> "c"`, map[string][]Percentile{"one": pts, "two": pts[:3]}, []string{"one", "two"})
	if n := svgElements(t, doc)["polyline"]; n != 2 {
		t.Errorf("%d polylines, want one per series", n)
	}
	for _, want := range []string{"a &amp; &lt;b&gt; &#34;c&#34;", ">90%<", ">99%<", ">99.9%<", ">99.99%<"} {
		if !strings.Contains(doc, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
}

func TestPercentiles(t *testing.T) {
	h := newHistogram()
	for v := int64(1); v <= 1000; v++ {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	pts := percentiles(h)
	last := pts[len(pts)-1]
	if pts[0].Percentile != 0 || last.Percentile != 100 || last.Value != 1000 {
		t.Errorf("first %+v last %+v: want 0%% … 100%% = max", pts[0], last)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Percentile <= pts[i-1].Percentile || pts[i].Value < pts[i-1].Value {
			t.Fatalf("points %d and %d not increasing: %+v %+v", i-1, i, pts[i-1], pts[i])
		}
	}
	// 1000 values resolve down to a 1-in-1000 tail, no deeper.
	if deepest := pts[len(pts)-2].Percentile; deepest < 99.8 || deepest > 99.95 {
		t.Errorf("deepest percentile %v, want about 99.9", deepest)
	}
	if percentiles(newHistogram()) != nil {
		t.Error("an empty histogram has no percentiles")
	}
}

func TestTimelinePlot(t *testing.T) {
	ticks := []Tick{
		{At: -1, Warmup: true, Rate: 900},
		{At: 0, Warmup: true, Rate: 1000},
		{At: 1, Rate: 1000, P50: 200, P99: 900},
		{At: 2, Rate: 1010, P50: 250, P99: 80_000},
	}
	doc := TimelinePlot("l1-hit", ticks)
	c := svgElements(t, doc)
	if c["polyline"] != 3 {
		t.Errorf("%d polylines, want p50, p99 and rate", c["polyline"])
	}
	if !strings.Contains(doc, "warm-up") || strings.Contains(doc, ">-0<") {
		t.Errorf("timeline: want a warm-up band and no -0 tick\n%s", doc)
	}
	svgElements(t, TimelinePlot("empty", nil))
}

func TestNiceCeil(t *testing.T) {
	f := func(v, want float64) {
		t.Helper()
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
	f(0, 1)
	f(0.7, 1)
	f(1, 1)
	f(1.2, 2)
	f(3, 5)
	f(7, 10)
	f(23_000, 50_000)
}
