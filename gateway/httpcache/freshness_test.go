package httpcache

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// t0 is the response time of every exchange in these tests; the request
// went out one second before it.
var (
	t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	x0 = Exchange{RequestTime: t0.Add(-time.Second), ResponseTime: t0}
)

// response parses a response the way the gateway receives one from an
// upstream (fasthttp drops a Date set through its API, not a parsed one).
func response(t testing.TB, status int, lines ...string) *fasthttp.Response {
	t.Helper()
	raw := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n"
	for _, l := range lines {
		raw += l + "\r\n"
	}
	raw += "Content-Length: 2\r\n\r\nok"
	resp := &fasthttp.Response{}
	if err := resp.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	return resp
}

func date(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }

func freshness(t *testing.T, def Defaults, status int, lines ...string) Freshness {
	t.Helper()
	resp := response(t, status, lines...)
	return ComputeFreshness(&resp.Header, ParseDirectives(resp.Header.PeekAll(fasthttp.HeaderCacheControl)), x0, def)
}

func TestComputeFreshness(t *testing.T) {
	def := Defaults{TTL: 30 * time.Second, NegativeTTL: 5 * time.Second, HeuristicMax: time.Hour}
	f := func(name string, got Freshness, lifetime, age time.Duration, explicit bool) {
		t.Helper()
		if got.Lifetime != lifetime || got.InitialAge != age || got.Explicit != explicit {
			t.Fatalf("%s: lifetime %v age %v explicit %v, want %v %v %v", name, got.Lifetime, got.InitialAge, got.Explicit, lifetime, age, explicit)
		}
	}
	// §4.2.1: s-maxage, then max-age, then Expires - Date, then a default.
	f("s-maxage wins", freshness(t, def, 200, "Cache-Control: max-age=3600, s-maxage=10"), 10*time.Second, time.Second, true)
	f("s-maxage on another line", freshness(t, def, 200, "Cache-Control: max-age=3600", "Cache-Control: s-maxage=10"), 10*time.Second, time.Second, true)
	f("max-age", freshness(t, def, 200, "Cache-Control: max-age=60", "Expires: "+date(time.Hour), "Date: "+date(0)), time.Minute, time.Second, true)
	f("max-age=0 beats a future Expires", freshness(t, def, 200, "Cache-Control: max-age=0", "Expires: "+date(time.Hour), "Date: "+date(0)), 0, time.Second, true)
	f("invalid max-age is stale", freshness(t, def, 200, "Cache-Control: max-age=a100"), 0, time.Second, true)
	f("Expires - Date", freshness(t, def, 200, "Expires: "+date(time.Hour), "Date: "+date(-time.Minute)), time.Hour+time.Minute, time.Second, true)
	// §5.3: an invalid Expires ("0") is already expired; two disagreeing lines too.
	f("Expires: 0", freshness(t, def, 200, "Expires: 0", "Date: "+date(0)), 0, time.Second, true)
	f("Expires twice", freshness(t, def, 200, "Expires: "+date(time.Hour), "Expires: "+date(2*time.Hour)), 0, time.Second, true)
	f("Expires with an invalid Date", freshness(t, def, 200, "Expires: "+date(10*time.Second), "Date: foo"), 10*time.Second, time.Second, true)
	// §4.2.2: no explicit freshness: the route's default, by status.
	f("default ttl", freshness(t, def, 200), 30*time.Second, time.Second, false)
	f("negative ttl", freshness(t, def, 404), 5*time.Second, time.Second, false)
	f("no default", freshness(t, Defaults{}, 200), 0, time.Second, false)
	lm := Defaults{TTL: 30 * time.Second, LastModifiedFraction: 0.1, HeuristicMax: time.Hour}
	f("10% of the time since Last-Modified", freshness(t, lm, 200, "Last-Modified: "+date(-100*time.Second), "Date: "+date(0)), 10*time.Second, time.Second, false)
	f("capped", freshness(t, lm, 200, "Last-Modified: "+date(-100*time.Hour), "Date: "+date(0)), time.Hour, time.Second, false)
	f("Last-Modified after Date: ttl", freshness(t, lm, 200, "Last-Modified: "+date(time.Hour), "Date: "+date(0)), 30*time.Second, time.Second, false)
	// §4.2.3, §5.1: Age plus the response delay; the first member of the
	// first line; an invalid Age ignored; beyond 2^31, 2^31.
	f("Age", freshness(t, def, 200, "Cache-Control: max-age=10", "Age: 15"), 10*time.Second, 16*time.Second, true)
	f("Age list", freshness(t, def, 200, "Cache-Control: max-age=10", "Age: 7200, 0"), 10*time.Second, 7201*time.Second, true)
	f("Age lines", freshness(t, def, 200, "Cache-Control: max-age=10", "Age: 0", "Age: 7200"), 10*time.Second, time.Second, true)
	f("Age negative", freshness(t, def, 200, "Cache-Control: max-age=10", "Age: -7200"), 10*time.Second, time.Second, true)
	f("Age float", freshness(t, def, 200, "Cache-Control: max-age=10", "Age: 7200.0"), 10*time.Second, time.Second, true)
	f("Age huge", freshness(t, def, 200, "Cache-Control: max-age=10", "Age: 99999999999999999999"), 10*time.Second, maxDelta, true)
	// RFC 9110 §6.6.1: without a valid Date, the time it arrived.
	if got := freshness(t, def, 200); !got.Synthesized || !got.Date.Equal(t0) {
		t.Fatalf("no Date: %+v", got)
	}
	if got := freshness(t, def, 200, "Date: "+date(-time.Hour)); got.Synthesized || !got.Date.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("a Date: %+v", got)
	}
	if got := freshness(t, def, 200, "Date: "+date(-time.Hour), "Date: "+date(0)); !got.Synthesized {
		t.Fatalf("two Dates that disagree: %+v", got)
	}
	// Age counts from when it was generated.
	got := freshness(t, def, 200, "Cache-Control: max-age=100", "Age: 30")
	if !got.Generated(x0).Equal(t0.Add(-31*time.Second)) || !got.FreshUntil(x0).Equal(t0.Add(69*time.Second)) {
		t.Fatalf("generated %v fresh until %v", got.Generated(x0), got.FreshUntil(x0))
	}
}
