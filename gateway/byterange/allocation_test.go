//go:build !race

package byterange

import (
	"strings"
	"testing"
)

// A single range, the common request (video seeks, resumed downloads),
// costs no allocation from the Range field to the 206: parsing, If-Range
// by tag or by date, Content-Range and the body slice.
func TestApplySingleRangeAllocatesNothing(t *testing.T) {
	body := []byte(strings.Repeat(alphabet, 40))
	resp := stored(t, "")
	get, rng := []byte("GET"), []byte("bytes=100-199")
	for _, ifRange := range []string{"", `"v1"`, "Wed, 21 Oct 2015 07:28:00 GMT"} {
		ir := []byte(ifRange)
		apply := func() {
			resp.SetStatusCode(200)
			resp.SetBodyRaw(body)
			if out := Apply(resp, get, rng, ir); out != Partial || len(resp.Body()) != 100 {
				t.Fatalf("If-Range %q: %v", ifRange, out)
			}
		}
		apply()
		if n := testing.AllocsPerRun(200, apply); n != 0 {
			t.Fatalf("If-Range %q: a single range allocates %.1f times", ifRange, n)
		}
	}
	// What every cached 200 pays when there is no Range: Accept-Ranges.
	full := func() {
		resp.SetStatusCode(200)
		if Apply(resp, get, nil, nil) != Full {
			t.Fatal("no Range: not Full")
		}
	}
	if n := testing.AllocsPerRun(200, full); n != 0 {
		t.Fatalf("a 200 without Range allocates %.1f times", n)
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	var buf [inlineRanges]Range
	for _, v := range []string{"bytes=0-499", "bytes=-500", "bytes=0-0,-1", "bytes=8-9,0-1,1-2", "bytes=" + strings.Repeat(",", MaxRanges)} {
		value := []byte(v)
		if n := testing.AllocsPerRun(100, func() { Parse(buf[:0], value, 10000) }); n != 0 {
			t.Fatalf("Parse(%q) allocates %.1f times", v, n)
		}
	}
}
