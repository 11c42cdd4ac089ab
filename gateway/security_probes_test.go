package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// Issue 13: the classic web cache poisoning probes (James Kettle, "Practical
// Web Cache Poisoning" and "Web Cache Entanglement"; OWASP WSTG "Testing for
// Web Cache Poisoning"). Each probe is one attacker's request on replica A
// to a cached route; an ordinary client then asks replicas A and B for the
// same resource and must be served the clean answer.
//
// One rule defeats them all (cached.go, newFill): a fill sends
// the origin only the routed path, the keyed query parameters and headers
// and a request id, so nothing outside the key can reach what is stored.
// The probes check that rule from the outside, as an attacker would see it.

// probe is one attack and what must follow it.
type probe struct {
	// name is the resource's id; "evil-"+name marks every value the
	// attacker controls, so that any leak of one is easy to spot.
	name   string
	method string   // default GET
	target string   // the request-target, written as is
	host   string   // the Host line's value; default gateway.test
	lines  []string // more header lines, written as is
	body   string   // written as is after the header block
	status int      // the attack's status; default 200
	code   string   // the error code of a refused attack
	// fill and lang are the target and the Accept-Language the origin
	// receives on the attack's fill ("" none): exactly the keyed parts.
	fill, lang string
	// clean and cleanLang are the ordinary client's target and
	// Accept-Language; cleanStatus its status (default 200).
	clean, cleanLang string
	cleanStatus      int
	// shared: the ordinary client reads the entry the attack stored (the
	// attack had the same key), so the entry itself must be clean.
	shared bool
}

func (pr probe) marker() string { return "evil-" + pr.name }

// wire is the attack, byte for byte.
func (pr probe) wire() string {
	var b strings.Builder
	b.WriteString(pr.method + " " + pr.target + " HTTP/1.1\r\nHost: " + pr.host + "\r\n")
	for _, l := range pr.lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n" + pr.body)
	return b.String()
}

func (pr probe) withDefaults() probe {
	if pr.method == "" {
		pr.method = "GET"
	}
	if pr.host == "" {
		pr.host = "gateway.test"
	}
	if pr.status == 0 {
		pr.status = 200
	}
	if pr.cleanStatus == 0 {
		pr.cleanStatus = 200
	}
	return pr
}

// unkeyed is an attack through one header the shared route does not key:
// the fill and the ordinary client see the bare path, and share the entry.
func unkeyed(name, route string, lines ...string) probe {
	path := route + name
	return probe{name: name, target: path, lines: lines, fill: path, clean: path, shared: true}
}

func TestSecurityProbes(t *testing.T) {
	onEachRedis(t, testSecurityProbes)
}

func testSecurityProbes(t *testing.T, rs *sharedRedis) {
	// Reads from Redis time out after 5ms by default and count as misses:
	// on a loaded test machine replica B would then fill on its own and
	// the probe could not tell whether it read the attack's entry.
	p := newSecPairOn(t, rs, func(c *Config) { c.Cache.L2Timeout = 500 * time.Millisecond })
	resources := map[string]string{}
	for _, pr := range securityProbes() {
		pr = pr.withDefaults()
		// Rows must not share a cached resource, or one row's entry would
		// answer another's ordinary client.
		path, _, _ := strings.Cut(pr.clean, "?")
		if other, ok := resources[path]; ok && pr.cleanStatus == 200 {
			t.Fatalf("%s: %s is %s's resource", pr.name, path, other)
		}
		resources[path] = pr.name
		t.Run(pr.name, func(t *testing.T) { p.runProbe(t, pr) })
	}
	t.Run("raw-forwarding", p.rawForwarding)
}

// securityProbes is the table, grouped by family.
func securityProbes() []probe {
	const shared = "/api/shared/"
	fatCL := "lang=evil-fat-cl"
	fatChunked := "lang=evil-fat-chunked"
	fatCLTE := "lang=evil-fat-clte"
	return []probe{
		// Unkeyed forwarding and host-override headers (Kettle 2018: the
		// origin builds absolute URLs, redirects or script imports from
		// them).
		unkeyed("xfh", shared, "X-Forwarded-Host: evil-xfh.example"),
		unkeyed("xfh-pub", "/pub/", "X-Forwarded-Host: evil-xfh-pub.example"),
		unkeyed("xff", shared, "X-Forwarded-For: 203.0.113.7, evil-xff"),
		unkeyed("xfproto", shared, "X-Forwarded-Proto: evil-xfproto"),
		unkeyed("xfscheme", shared, "X-Forwarded-Scheme: evil-xfscheme"),
		unkeyed("xfport", shared, "X-Forwarded-Port: evil-xfport"),
		unkeyed("xfprefix", shared, "X-Forwarded-Prefix: /evil-xfprefix"),
		unkeyed("xfserver", shared, "X-Forwarded-Server: evil-xfserver.example"),
		unkeyed("xfssl", shared, "X-Forwarded-SSL: evil-xfssl", "Front-End-Https: evil-xfssl"),
		unkeyed("xhost", shared, "X-Host: evil-xhost.example"),
		unkeyed("xorighost", shared, "X-Original-Host: evil-xorighost.example"),
		unkeyed("xhostoverride", shared, "X-HTTP-Host-Override: evil-xhostoverride.example"),
		unkeyed("fwdhost", shared, "Forwarded: host=evil-fwdhost.example"),
		unkeyed("fwdproto", shared, "Forwarded: for=203.0.113.7;proto=evil-fwdproto"),
		unkeyed("fwdquoted", shared, `Forwarded: for="[2001:db8::1]";host="evil-fwdquoted.example";proto=https, for=unknown`),
		unkeyed("clientip", shared, "X-Real-IP: evil-clientip", "True-Client-IP: evil-clientip", "X-Client-IP: evil-clientip"),
		// Other unkeyed request headers an origin may reflect or vary on:
		// a cookie (Kettle's unkeyed cookie), credentials on a public route,
		// CORS, the user agent, encodings, device profiles.
		unkeyed("cookie", shared, "Cookie: lang=evil-cookie"),
		unkeyed("authz", shared, "Authorization: Bearer evil-authz"),
		unkeyed("origin", shared, "Origin: https://evil-origin.example"),
		unkeyed("ua", shared, "User-Agent: evil-ua"),
		unkeyed("accenc", shared, "Accept-Encoding: evil-accenc"),
		unkeyed("wap", shared, "X-Wap-Profile: http://evil-wap.example/p.xml"),
		unkeyed("via", shared, "Via: 1.1 evil-via"),
		// A partial or conditional fill would store a 206 or a body-less
		// 304 for everyone.
		unkeyed("range", shared, "Range: bytes=0-3", "If-Range: evil-range"),
		unkeyed("inm", shared, `If-None-Match: "evil-inm"`, "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"),
		// The request id: a fill must carry the gateway's own, or an origin
		// that echoes it stores the attacker's id for everyone.
		{name: "rid", target: shared + "rid", lines: []string{"X-Request-ID: evil-rid"},
			fill: shared + "rid", clean: shared + "rid", shared: true},

		// Path overrides (X-Original-URL, X-Rewrite-URL: IIS, Symfony,
		// Zend; X-Original-URI: nginx auth_request): the route is the
		// request line's, the fill never carries the header, and a
		// protected route stays protected.
		unkeyed("xou", shared, "X-Original-URL: /api/secret/1?evil-xou"),
		unkeyed("xrw", shared, "X-Rewrite-URL: /api/secret/1?evil-xrw"),
		unkeyed("xouri", shared, "X-Original-URI: /api/secret/1?evil-xouri"),
		unkeyed("xou-pub", "/pub/", "X-Original-URL: /api/secret/1?evil-xou-pub"),
		{name: "xou-secret", target: "/api/secret/1", lines: []string{"X-Original-URL: /pub/evil-xou-secret"},
			status: 401, code: "missing", clean: "/api/secret/1", cleanStatus: 401},
		{name: "xrw-secret", target: "/api/secret/1", lines: []string{"X-Rewrite-URL: /pub/evil-xrw-secret"},
			status: 401, code: "missing", clean: "/api/secret/1", cleanStatus: 401},

		// Method overrides: a fill is always a GET and never carries the
		// override; a real write method on a read-only cached route is
		// refused.
		unkeyed("mo-xhmo", shared, "X-HTTP-Method-Override: DELETE"),
		unkeyed("mo-xhm", shared, "X-HTTP-Method: POST"),
		unkeyed("mo-xmo", shared, "X-Method-Override: PUT"),
		{name: "mo-query", target: shared + "mo-query?_method=DELETE&m=evil-mo-query",
			fill: shared + "mo-query", clean: shared + "mo-query", shared: true},
		{name: "mo-query-pub", target: "/pub/mo-query-pub?_method=POST&m=evil-mo-query-pub",
			fill: "/pub/mo-query-pub", clean: "/pub/mo-query-pub", shared: true},
		{name: "mo-delete", method: "DELETE", target: shared + "mo-delete?m=evil-mo-delete",
			status: 405, code: "method_not_allowed", clean: shared + "mo-delete"},
		// A HEAD fills with a GET: the entry has the body a GET is served.
		{name: "head", method: "HEAD", target: shared + "head?m=evil-head",
			fill: shared + "head", clean: shared + "head", shared: true},

		// Parameter cloaking: the key and the fill read the query from
		// the same parse, take the first value of a keyed parameter and
		// re-encode it, so the origin reads exactly the keyed value
		// whatever its own parser does with ';', duplicates or escapes.
		{name: "cl-semi", target: shared + "cl-semi?lang=en;lang=evil-cl-semi",
			fill: shared + "cl-semi?lang=en%3Blang%3Devil-cl-semi", clean: shared + "cl-semi?lang=en"},
		{name: "cl-dup", target: shared + "cl-dup?lang=en&lang=evil-cl-dup",
			fill: shared + "cl-dup?lang=en", clean: shared + "cl-dup?lang=en", shared: true},
		{name: "cl-amp", target: shared + "cl-amp?lang=en%26lang=evil-cl-amp",
			fill: shared + "cl-amp?lang=en%26lang%3Devil-cl-amp", clean: shared + "cl-amp?lang=en"},
		{name: "cl-utm", target: shared + "cl-utm?lang=en&utm_content=x;lang=evil-cl-utm",
			fill: shared + "cl-utm?lang=en", clean: shared + "cl-utm?lang=en", shared: true},
		{name: "cl-case", target: shared + "cl-case?LANG=evil-cl-case",
			fill: shared + "cl-case", clean: shared + "cl-case", shared: true},
		{name: "cl-jsonp", target: shared + "cl-jsonp?callback=evil-cl-jsonp",
			fill: shared + "cl-jsonp", clean: shared + "cl-jsonp", shared: true},
		{name: "cl-enckey", target: shared + "cl-enckey?%6Cang=evil-cl-enckey",
			fill: shared + "cl-enckey?lang=evil-cl-enckey", clean: shared + "cl-enckey?lang=en"},
		{name: "cl-plus", target: shared + "cl-plus?lang=en+evil-cl-plus",
			fill: shared + "cl-plus?lang=en+evil-cl-plus", clean: shared + "cl-plus?lang=en"},
		{name: "cl-nul", target: shared + "cl-nul?lang=en%00evil-cl-nul",
			fill: shared + "cl-nul?lang=en%00evil-cl-nul", clean: shared + "cl-nul?lang=en"},
		{name: "cl-novalue", target: shared + "cl-novalue?lang&m=evil-cl-novalue",
			fill: shared + "cl-novalue?lang=", clean: shared + "cl-novalue?lang=", shared: true},
		{name: "cl-frag", target: shared + "cl-frag?lang=en#evil-cl-frag",
			status: 400, code: "bad_target", clean: shared + "cl-frag?lang=en"},

		// Fat GET: a body on a GET never reaches a fill (an origin that
		// reads parameters from the body would otherwise store them).
		{name: "fat-cl", target: shared + "fat-cl?lang=en", body: fatCL, lines: []string{
			"Content-Type: application/x-www-form-urlencoded", "Content-Length: " + strconv.Itoa(len(fatCL))},
			fill: shared + "fat-cl?lang=en", clean: shared + "fat-cl?lang=en", shared: true},
		{name: "fat-chunked", target: shared + "fat-chunked?lang=en",
			body:  strconv.FormatInt(int64(len(fatChunked)), 16) + "\r\n" + fatChunked + "\r\n0\r\n\r\n",
			lines: []string{"Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked"},
			fill:  shared + "fat-chunked?lang=en", clean: shared + "fat-chunked?lang=en", shared: true},
		// Both framings (a smuggling classic): chunked wins, and neither
		// body reaches a fill.
		{name: "fat-clte", target: shared + "fat-clte?lang=en",
			body:  strconv.FormatInt(int64(len(fatCLTE)), 16) + "\r\n" + fatCLTE + "\r\n0\r\n\r\n",
			lines: []string{"Content-Length: 3", "Transfer-Encoding: chunked"},
			fill:  shared + "fat-clte?lang=en", clean: shared + "fat-clte?lang=en", shared: true},

		// Path variants (reqtarget's normal form): a spelling that
		// normalises to the path shares its entry; one that does not is
		// another resource or is refused; ';' is data.
		{name: "path-slash", target: shared + "path-slash/?m=evil-path-slash",
			fill: shared + "path-slash/", clean: shared + "path-slash"},
		{name: "path-case", target: "/API/shared/path-case?m=evil-path-case",
			status: 404, code: "not_found", clean: shared + "path-case"},
		{name: "path-semi", target: shared + "path-semi;evil-path-semi",
			fill: shared + "path-semi;evil-path-semi", clean: shared + "path-semi"},
		{name: "path-dslash", target: "//api/shared/path-dslash?m=evil-path-dslash",
			fill: shared + "path-dslash", clean: shared + "path-dslash", shared: true},
		{name: "path-dot", target: shared + "./path-dot?m=evil-path-dot",
			fill: shared + "path-dot", clean: shared + "path-dot", shared: true},
		{name: "path-dotdot", target: shared + "x/../path-dotdot?m=evil-path-dotdot",
			fill: shared + "path-dotdot", clean: shared + "path-dotdot", shared: true},
		{name: "path-encslash", target: shared + "path-encslash%2fevil-path-encslash",
			status: 400, code: "bad_path", clean: shared + "path-encslash"},
		// %70%61%74%68 is "path": unreserved escapes decode, so this is the
		// same key and the ordinary client hits the entry it stored.
		{name: "path-unres", target: shared + "%70%61%74%68-unres?m=evil-path-unres",
			fill: shared + "path-unres", clean: shared + "path-unres", shared: true},
		{name: "path-abs", target: "http://evil-path-abs.example/api/shared/path-abs",
			fill: shared + "path-abs", clean: shared + "path-abs", shared: true},

		// CRLF through keyed values: a keyed value is sent re-encoded (the
		// query) or as one field value (a header), never as a header line
		// of its own.
		{name: "crlf-query", target: shared + "crlf-query?lang=en%0d%0aX-Injected:%20evil-crlf-query",
			fill: shared + "crlf-query?lang=en%0D%0AX-Injected%3A+evil-crlf-query", clean: shared + "crlf-query?lang=en"},
		{name: "crlf-path", target: shared + "crlf-path%0d%0aX-Injected:%20evil-crlf-path",
			fill: shared + "crlf-path%0D%0AX-Injected:%20evil-crlf-path", clean: shared + "crlf-path"},
		{name: "crlf-header", target: shared + "crlf-header",
			lines: []string{"Accept-Language: en%0d%0aX-Injected: evil-crlf-header"},
			fill:  shared + "crlf-header", lang: "en%0d%0aX-Injected: evil-crlf-header",
			clean: shared + "crlf-header", cleanLang: "en"},
		// Raw line breaks in a header: a bare LF ends the line (the rest
		// is a header of its own, unkeyed and dropped), an obs-fold
		// continues the value (joined with a space, RFC 9112 §5.2), a bare
		// CR is refused. Key and fill read the same value each time.
		{name: "crlf-lf", target: shared + "crlf-lf", lines: []string{"Accept-Language: en\nX-Injected: evil-crlf-lf"},
			fill: shared + "crlf-lf", lang: "en", clean: shared + "crlf-lf", cleanLang: "en", shared: true},
		{name: "crlf-fold", target: shared + "crlf-fold", lines: []string{"Accept-Language: en", " X-Injected: evil-crlf-fold"},
			fill: shared + "crlf-fold", lang: "en X-Injected: evil-crlf-fold", clean: shared + "crlf-fold", cleanLang: "en"},
		{name: "crlf-cr", target: shared + "crlf-cr", lines: []string{"Accept-Language: en\rX-Injected: evil-crlf-cr"},
			status: 400, code: "bad_request", clean: shared + "crlf-cr", cleanLang: "en"},
		// Header names an intermediary may read differently: whitespace
		// before the colon is refused (RFC 9112 §5.1); an underscore
		// spelling (which CGI and some frameworks map to the dash) is
		// another, unkeyed header.
		{name: "name-space", target: shared + "name-space", lines: []string{"Accept-Language : evil-name-space"},
			status: 400, code: "bad_request", clean: shared + "name-space"},
		unkeyed("name-underscore", shared, "Accept_Language: evil-name-underscore"),

		// A keyed header with two field lines is one value, "en, fr", for
		// the key and the fill alike (RFC 9110 §5.3): a client sending
		// only "en" has another key.
		{name: "lines2", target: shared + "lines2", lines: []string{"Accept-Language: en", "Accept-Language: evil-lines2"},
			fill: shared + "lines2", lang: "en, evil-lines2", clean: shared + "lines2", cleanLang: "en"},
		// Connection naming a keyed header (hop-by-hop abuse) drops it from
		// neither the key nor the fill: they still agree.
		{name: "conn-keyed", target: shared + "conn-keyed",
			lines: []string{"Connection: Accept-Language, X-Evil", "Accept-Language: en", "X-Evil: evil-conn-keyed"},
			fill:  shared + "conn-keyed", lang: "en", clean: shared + "conn-keyed", cleanLang: "en", shared: true},

		// Host: not keyed (one site per route), and a fill always names
		// the origin's address, never the client's Host.
		{name: "host-other", target: shared + "host-other", host: "evil-host-other.example",
			fill: shared + "host-other", clean: shared + "host-other", shared: true},
		{name: "host-port", target: shared + "host-port", host: "evil-host-port.example:8443",
			fill: shared + "host-port", clean: shared + "host-port", shared: true},
		{name: "host-dup", target: shared + "host-dup", lines: []string{"Host: evil-host-dup.example"},
			status: 400, code: "bad_request", clean: shared + "host-dup"},
	}
}

// runProbe sends the attack to replica A, then the ordinary client's
// request to A and to B.
func (p *secPair) runProbe(t *testing.T, pr probe) {
	marker := pr.marker()
	attack := sendWire(t, p.a, pr.method, pr.wire())
	if attack.status != pr.status || attack.err.Code != pr.code {
		t.Fatalf("attack: %d %q, want %d %q (%s)", attack.status, attack.err.Code, pr.status, pr.code, attack.body)
	}
	got := p.origin.requests()
	if pr.fill == "" && len(got) > 0 {
		t.Fatalf("attack: the origin was asked for %q", got[0].URI)
	}
	if pr.fill != "" && len(got) != 1 {
		t.Fatalf("attack: %d origin requests, want one fill", len(got))
	}
	for _, e := range got {
		p.checkFill(t, "attack", marker, e, pr.fill, pr.lang)
	}
	p.settleL2(t)
	var first string
	for i, h := range p.replicas() {
		var lines []string
		if pr.cleanLang != "" {
			lines = []string{"Accept-Language: " + pr.cleanLang}
		}
		r := h.raw("GET", pr.clean, lines...)
		got := p.origin.requests()
		who := [...]string{"replica A", "replica B"}[i]
		if r.status != pr.cleanStatus {
			t.Fatalf("%s: ordinary client: %d, want %d (%s)", who, r.status, pr.cleanStatus, r.body)
		}
		checkClean(t, who, marker, r)
		if pr.cleanStatus != 200 {
			if len(got) > 0 {
				t.Fatalf("%s: ordinary client's %d reached the origin", who, r.status)
			}
			continue
		}
		// A reads the attack's entry or fills its own; B then reads
		// whichever it is. A hit may come from L2 on A too: ristretto may
		// drop an L1 set.
		want, fills := "HIT", 0
		if i == 0 && !pr.shared {
			want, fills = "MISS", 1
		}
		if x := r.header.Get("X-Cache"); !strings.HasPrefix(x, want) || len(got) != fills {
			t.Fatalf("%s: ordinary client: X-Cache %q with %d fills, want %s with %d", who, x, len(got), want, fills)
		}
		for _, e := range got {
			p.checkFill(t, who+" ordinary fill", marker, e, pr.clean, pr.cleanLang)
		}
		e := r.echo(t)
		if e.Method != "GET" || e.URI != pr.clean || e.Host != p.origin.addr() || e.Body != "" {
			t.Fatalf("%s: ordinary client served the answer to %s %q (Host %q, body %q)", who, e.Method, e.URI, e.Host, e.Body)
		}
		if lang := strings.Join(e.Headers["Accept-Language"], ", "); lang != pr.cleanLang {
			t.Fatalf("%s: ordinary client served the answer to Accept-Language %q, want %q", who, lang, pr.cleanLang)
		}
		if pr.shared && pr.method == "GET" && r.body != attack.body {
			t.Fatalf("%s: shared entry %q, but the attack was answered %q", who, r.body, attack.body)
		}
		if i == 0 {
			first = r.body
			p.settleL2(t)
		} else if r.body != first {
			t.Fatalf("replicas disagree: A %q, B %q", first, r.body)
		}
	}
}

// settleL2 is settle plus the L2 writes: they are queued and sent to Redis
// after the fill returns, and replica B reads only what has arrived. Every
// fill in these probes answers 200 and is stored, so a replica is settled
// when it has written as many entries as it has filled.
func (p *secPair) settleL2(t *testing.T) {
	t.Helper()
	p.settle()
	for _, h := range p.replicas() {
		testwait.For(t, 5*time.Second, "the L2 writes", func() bool {
			st := h.srv.current().cache.Stats()
			if st.L2WriteDrops > 0 {
				t.Fatalf("%d L2 writes dropped", st.L2WriteDrops)
			}
			return st.L2Writes >= st.Fills
		})
	}
}

// checkFill asserts that an origin request made for a cached route is a
// GET for exactly uri carrying exactly the keyed header (lang) and the
// request id, to the origin's own address, without a body. It does not
// stop the probe: what the ordinary client is then served is the other
// half of the report.
func (p *secPair) checkFill(t *testing.T, who, marker string, e echoed, uri, lang string) {
	t.Helper()
	names := "X-Request-Id"
	if lang != "" {
		names = "Accept-Language," + names
	}
	switch {
	case e.Method != "GET" || e.URI != uri || e.Host != p.origin.addr() || e.Body != "":
		t.Errorf("%s: the origin received %s %q (Host %q, body %q), want GET %q", who, e.Method, e.URI, e.Host, e.Body, uri)
	case headerNames(e) != names:
		t.Errorf("%s: the origin received headers %s, want %s", who, headerNames(e), names)
	case strings.Join(e.Headers["Accept-Language"], "|") != lang:
		t.Errorf("%s: the origin received Accept-Language %q, want %q", who, e.Headers["Accept-Language"], lang)
	case strings.Contains(strings.Join(e.Headers["X-Request-Id"], ""), marker):
		t.Errorf("%s: the attacker's %s reached the origin in X-Request-Id", who, marker)
	}
}

// headerNames lists the headers an echo says the origin received, sorted.
func headerNames(e echoed) string {
	names := slices.Sorted(maps.Keys(e.Headers))
	return strings.Join(names, ",")
}

// checkClean asserts that the marker is nowhere in an ordinary client's
// answer and that no header was injected into it.
func checkClean(t *testing.T, who, marker string, r reply) {
	t.Helper()
	if strings.Contains(strings.ToLower(r.body), marker) {
		t.Fatalf("%s: ordinary client served the attacker's %s: %s", who, marker, r.body)
	}
	for k, vs := range r.header {
		if k == "X-Injected" || strings.Contains(strings.ToLower(strings.Join(vs, ",")), marker) {
			t.Fatalf("%s: ordinary client served %s: %q", who, k, vs)
		}
	}
}

// rawForwarding documents the uncached proxy: nothing is stored, every
// client header is passed on, X-Forwarded-For is extended with the peer
// (never trusted), and X-Forwarded-Host/-Proto are the gateway's reading of
// this connection, replacing the client's.
func (p *secPair) rawForwarding(t *testing.T) {
	for _, h := range p.replicas() {
		r := h.raw("GET", "/raw/fwd", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Host: evil-raw.example", "X-Forwarded-Proto: evil-raw")
		e := r.echo(t)
		if xff := strings.Join(e.Headers["X-Forwarded-For"], ", "); xff != "203.0.113.7, 127.0.0.1" {
			t.Fatalf("X-Forwarded-For %q", xff)
		}
		if xfh, xfp := e.Headers["X-Forwarded-Host"], e.Headers["X-Forwarded-Proto"]; len(xfh) != 1 || xfh[0] != "gateway.test" || len(xfp) != 1 || xfp[0] != "http" {
			t.Fatalf("X-Forwarded-Host %q, X-Forwarded-Proto %q", xfh, xfp)
		}
		p.origin.requests()
		clean := h.raw("GET", "/raw/fwd")
		if n := len(p.origin.requests()); n != 1 || clean.header.Get("X-Cache") != "" {
			t.Fatalf("uncached route: %d origin requests, X-Cache %q", n, clean.header.Get("X-Cache"))
		}
		checkClean(t, "raw", "evil-raw", clean)
	}
}

// sendWire writes one request byte for byte (request line, headers and
// body exactly as given) and reads the answer; h.raw cannot send a body or
// another Host.
func sendWire(t *testing.T, h *harness, method, wire string) reply {
	t.Helper()
	conn, err := net.Dial("tcp", h.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, wire); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, "http://gateway.test/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%q: %v", wire, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.StatusCode >= 400 {
		var env struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &env) == nil && env.Error != nil {
			_ = json.Unmarshal(env.Error, &r.err)
		}
	}
	return r
}
