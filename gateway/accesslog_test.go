package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// lines are the complete lines written so far (syncBuffer is in
// admin_auth_test.go).
func (s *syncBuffer) lines() []string {
	return strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n")
}

// accessHarness is a gateway whose access log, in format, and whose
// logger (for the text format) write to out; it has a cached route
// /c/{id} open to anyone.
func accessHarness(t *testing.T, format string, query bool, out *syncBuffer) *harness {
	t.Helper()
	o := startOrigin(t)
	cfg := testConfig(o.ln.Addr().String())
	cfg.Log = LogConfig{Access: true, AccessFormat: format, AccessQuery: query}
	cfg.Routes = append(cfg.Routes, RouteConfig{Name: "cached", Path: "/c/{id}", Upstream: "origin",
		Auth: RouteAuth{Mode: "none"}, Cache: RouteCache{Enabled: true, TTL: ttl(time.Minute)}})
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAccessWriter(out)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return &harness{t: t, srv: srv, origin: o, base: "http://" + srv.Addr(), admin: "http://" + srv.AdminAddr(),
		client: &http.Client{Timeout: 5 * time.Second}}
}

// accessEntry is one request as a log line says it, whatever the format.
type accessEntry struct {
	Time                   time.Time
	Remote, Method, Path   string
	Proto                  string
	Status                 int
	BytesIn, BytesOut      int
	DurationMS             float64
	Route, Cache, Upstream string
	Target, UserAgent, ID  string
	Referer                string
}

// accessRequests sends the requests every format test logs: a POST with
// a body, a query carrying a secret and an awkward user agent; a cache
// miss then hit; an unrouted path. It returns the lines they produced.
func accessRequests(t *testing.T, h *harness, out *syncBuffer) []string {
	t.Helper()
	ua := `tester/1.0 "quoted" back\slash é`
	r := h.do("POST", "/open/x?token=s3cret", "", strings.NewReader("hello"),
		map[string]string{"User-Agent": ua, "X-Request-Id": "req-1", "Referer": "https://ref.test/p"})
	if r.status != 200 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	for _, want := range []string{"MISS", "HIT-L1"} {
		if r := h.get("/c/1", ""); r.header.Get("X-Cache") != want {
			t.Fatalf("GET /c/1: X-Cache %q, want %q", r.header.Get("X-Cache"), want)
		}
	}
	if r := h.get("/nope", ""); r.status != 404 {
		t.Fatalf("GET /nope: %d", r.status)
	}
	var lines []string
	testwait.For(t, 5*time.Second, "four access log lines", func() bool {
		lines = nil
		for _, l := range out.lines() {
			if strings.Contains(l, "req-1") || strings.Contains(l, "/c/1") || strings.Contains(l, "/nope") {
				lines = append(lines, l)
			}
		}
		return len(lines) == 4
	})
	t.Log("\n" + strings.Join(lines, "\n"))
	return lines
}

// checkAccessEntries checks what the four requests' lines say.
func checkAccessEntries(t *testing.T, es []accessEntry, query bool) {
	t.Helper()
	post, miss, hit, nope := es[0], es[1], es[2], es[3]
	wantPath := "/open/x"
	if query {
		wantPath += "?token=s3cret"
	}
	if post.Method != "POST" || post.Path != wantPath || post.Status != 200 || post.BytesIn != 5 ||
		post.BytesOut != len(`{"path":"/open/x","version":1}`) || post.Route != "open" || post.Upstream != "origin" ||
		!strings.HasPrefix(post.Target, "127.0.0.1:") || post.UserAgent != `tester/1.0 "quoted" back\slash é` ||
		post.ID != "req-1" || post.Remote != "127.0.0.1" || post.Cache != "" {
		t.Errorf("POST: %+v", post)
	}
	if since := time.Since(post.Time); since < -time.Second || since > time.Minute || post.DurationMS <= 0 {
		t.Errorf("POST: time %s, duration %gms", post.Time, post.DurationMS)
	}
	if miss.Cache != "MISS" || hit.Cache != "HIT-L1" || miss.Route != "cached" || hit.Path != "/c/1" || hit.Status != 200 || hit.BytesIn != 0 {
		t.Errorf("cached: %+v\n%+v", miss, hit)
	}
	if nope.Route != "-" || nope.Status != 404 || nope.Upstream != "" || nope.BytesOut == 0 || len(nope.ID) < 8 {
		t.Errorf("unrouted: %+v", nope)
	}
}

// TestAccessLogJSON: each line is one JSON object, read back with
// encoding/json, in the slog JSON handler's shape (time, level, msg first).
func TestAccessLogJSON(t *testing.T) {
	for _, query := range []bool{false, true} {
		var out syncBuffer
		h := accessHarness(t, "json", query, &out)
		var es []accessEntry
		for _, l := range accessRequests(t, h, &out) {
			var rec struct {
				Time                       time.Time
				Level, Msg                 string
				Method, Path, Route, Cache string
				Upstream, Target, Remote   string
				UserAgent                  string `json:"user_agent"`
				RequestID                  string `json:"request_id"`
				Status                     int
				BytesIn                    int     `json:"bytes_in"`
				BytesOut                   int     `json:"bytes_out"`
				DurationMS                 float64 `json:"duration_ms"`
			}
			dec := json.NewDecoder(strings.NewReader(l))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rec); err != nil || rec.Level != "INFO" || rec.Msg != "request" {
				t.Fatalf("%v: %s", err, l)
			}
			es = append(es, accessEntry{Time: rec.Time, Remote: rec.Remote, Method: rec.Method, Path: rec.Path,
				Status: rec.Status, BytesIn: rec.BytesIn, BytesOut: rec.BytesOut, DurationMS: rec.DurationMS,
				Route: rec.Route, Cache: rec.Cache, Upstream: rec.Upstream, Target: rec.Target,
				UserAgent: rec.UserAgent, ID: rec.RequestID})
		}
		checkAccessEntries(t, es, query)
	}
}

// clfLine is the Combined Log Format as Apache's documentation defines it
// (https://httpd.apache.org/docs/current/logs.html#combined):
// %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i", quoted fields
// escaping '"' and '\' with a backslash, then Tiercel's fields (docs/logs.md).
var clfLine = regexp.MustCompile(`^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) ` +
	`"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"` +
	` (\S+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+) (\d+\.\d{3}) (\S+)$`)

// clfUnescape undoes Apache's escaping: \" \\ and \xhh.
func clfUnescape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch {
		case s[i] == '"' || s[i] == '\\':
			b.WriteByte(s[i])
		case s[i] == 'x' && i+2 < len(s):
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b.WriteByte(byte(n))
			i += 2
		default:
			t.Fatalf("bad escape in %q", s)
		}
	}
	return b.String()
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// TestAccessLogCommon: each line parses as the Combined Log Format, the
// cache outcome and Tiercel's fields after it.
func TestAccessLogCommon(t *testing.T) {
	for _, query := range []bool{false, true} {
		var out syncBuffer
		h := accessHarness(t, "common", query, &out)
		var es []accessEntry
		for _, l := range accessRequests(t, h, &out) {
			m := clfLine.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("not the Combined Log Format: %s", l)
			}
			if m[2] != "-" || m[3] != "-" {
				t.Fatalf("%%l and %%u: %s", l)
			}
			tm, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[4])
			if err != nil {
				t.Fatal(err)
			}
			req := strings.Split(clfUnescape(t, m[5]), " ")
			if len(req) != 3 || req[2] != "HTTP/1.1" {
				t.Fatalf("request line %q", m[5])
			}
			e := accessEntry{Time: tm, Remote: m[1], Method: req[0], Path: req[1], Proto: req[2],
				Referer: dash(clfUnescape(t, m[8])), UserAgent: dash(clfUnescape(t, m[9])), Cache: dash(m[10]),
				Route: clfUnescape(t, m[11]), Upstream: dash(clfUnescape(t, m[12])), Target: dash(clfUnescape(t, m[13])), ID: m[16]}
			e.Status, _ = strconv.Atoi(m[6])
			e.BytesOut, _ = strconv.Atoi(m[7]) // "-" is 0
			e.BytesIn, _ = strconv.Atoi(m[14])
			e.DurationMS, _ = strconv.ParseFloat(m[15], 64)
			es = append(es, e)
		}
		checkAccessEntries(t, es, query)
		if es[0].Referer != "https://ref.test/p" || es[1].Referer != "" {
			t.Errorf("referer: %q %q", es[0].Referer, es[1].Referer)
		}
	}
}

// TestAccessLogText: the text format is a slog record with the same
// fields, through the process's logger.
func TestAccessLogText(t *testing.T) {
	var out syncBuffer
	h := accessHarness(t, "text", false, &out)
	lines := accessRequests(t, h, &out)
	for _, want := range []string{`msg=request`, `method=POST`, `path=/open/x `, `route=open`, `status=200`,
		`bytes_in=5`, `cache=""`, `upstream=origin`, `target=127.0.0.1:`, `remote=127.0.0.1`,
		`user_agent="tester/1.0 \"quoted\" back\\slash é"`, `request_id=req-1`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("lacks %s: %s", want, lines[0])
		}
	}
	if !strings.Contains(lines[2], "cache=HIT-L1") || strings.Contains(lines[0], "s3cret") {
		t.Errorf("%s\n%s", lines[0], lines[2])
	}
}

// TestAccessEscaping: no client input can end a field or a line early.
func TestAccessEscaping(t *testing.T) {
	evil := "a\"b\\c\nd\x00e\xff<&>"
	r := accessRecord{method: []byte("GET"), path: []byte("/p"), proto: []byte("HTTP/1.1"), route: evil,
		userAgent: []byte(evil), id: []byte("id"), status: 200}
	line := r.appendJSON(nil, time.Now(), time.Millisecond)
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("%v: %s", err, line)
	}
	if rec["route"] != strings.ToValidUTF8(evil, "\uFFFD") {
		t.Fatalf("route %q", rec["route"])
	}
	line = r.appendCommon(nil, time.Now(), time.Millisecond)
	m := clfLine.FindSubmatch(line[:len(line)-1])
	if m == nil || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("%q", line)
	}
	if got := clfUnescape(t, string(m[9])); got != evil {
		t.Fatalf("user agent %q", got)
	}
}
