package gateway

import (
	"bytes"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/reqtarget"
)

func fuzzRouteCache() *routeCache {
	cfg := RouteCache{Enabled: true, Key: RouteCacheKey{Query: []string{"a", "b"}, Headers: []string{"X-H"}, Private: true}}
	cfg.setDefaults()
	return newRouteCache("r", cfg, nil)
}

func fuzzCtx(uri, header string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(uri)
	if header != "" {
		req.Header.Set("X-H", header)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{}, nil)
	return ctx
}

// fuzzState is a request's state as admit leaves it for the cache key.
func fuzzState(ctx *fasthttp.RequestCtx) (*reqState, bool) {
	st := &reqState{}
	var err error
	st.path, st.query, _, err = reqtarget.Options{}.Parse(nil, ctx.Request.Header.RequestURI())
	return st, err == nil
}

// FuzzCacheKey checks that the key is injective over what it keys on: two
// requests whose keyed parts differ never share a key, and two that agree
// on them always do, whatever else they carry. The keyed path is the normal
// form (reqtarget, fuzzed on its own and end to end by
// FuzzUpstreamPathIsKeyedPath); a target it refuses is never keyed (400).
func FuzzCacheKey(f *testing.F) {
	f.Add("/p/1", "x", "y", "h", "t", "s", "/p/1", "x", "y", "h", "t", "s")
	f.Add("/p/1", "x&b=y", "", "", "", "", "/p/1", "x", "y", "", "", "")
	f.Add("/p", "", "", "", "ab", "c", "/p", "", "", "", "a", "bc")
	f.Add("/p//1", "", "", "", "", "", "/p/1", "", "", "", "", "")
	rc := fuzzRouteCache()
	f.Fuzz(func(t *testing.T, p1, a1, b1, h1, t1, s1, p2, a2, b2, h2, t2, s2 string) {
		key := func(path, a, b, h, tenant, sub string) ([]byte, string, bool) {
			var args fasthttp.Args
			args.Add("a", a)
			args.Add("b", b)
			args.Add("unkeyed", "noise")
			ctx := fuzzCtx("/"+path+"?"+args.String(), h)
			st, ok := fuzzState(ctx)
			if !ok {
				return nil, "", false
			}
			q := st.queryArgs()
			keyed := string(st.path) + "\x00" + string(q.Peek("a")) + "\x00" +
				string(q.Peek("b")) + "\x00" + string(ctx.Request.Header.Peek("X-H")) + "\x00" + tenant + "\x00" + sub
			return rc.appendCacheKey(nil, &ctx.Request.Header, st, &auth.Principal{Issuer: "i", Tenant: tenant, Subject: sub}), keyed, true
		}
		k1, in1, ok1 := key(p1, a1, b1, h1, t1, s1)
		k2, in2, ok2 := key(p2, a2, b2, h2, t2, s2)
		if !ok1 || !ok2 {
			return
		}
		if (in1 == in2) != bytes.Equal(k1, k2) {
			t.Fatalf("keyed parts equal=%v but keys equal=%v\n%q\n%q", in1 == in2, bytes.Equal(k1, k2), in1, in2)
		}
	})
}
