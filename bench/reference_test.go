package bench

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testredis"
)

// Each reference answers the ids it stored with the 1 KiB body, whatever
// else the request carries, and 404 for any other path.
func TestReference(t *testing.T) {
	rs := testredis.Start(t)
	for _, kind := range []RefKind{RefRistretto, RefRedisGet} {
		t.Run(string(kind), func(t *testing.T) {
			r, err := NewReference(context.Background(), RefConfig{Kind: kind, Keys: 20, RedisURL: rs.URL()})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = r.Serve(ln) }()
			t.Cleanup(func() { _ = r.Shutdown() })
			for _, c := range []struct {
				path   string
				status int
			}{{"/api/products/1", 200}, {"/api/products/20", 200}, {"/api/products/21", 404}, {"/other", 404}} {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://" + ln.Addr().String() + c.path)
				req.Header.Set("Authorization", "Bearer ignored")
				if err := fasthttp.Do(req, resp); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode() != c.status {
					t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode(), c.status)
				}
				if c.status == 200 && len(resp.Body()) != 1024 {
					t.Errorf("%s: %d-byte body, want 1024", c.path, len(resp.Body()))
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
		})
	}
	if n := rs.Client().DBSize(context.Background()).Val(); n != 20 {
		t.Errorf("redis holds %d keys, want the 20 stored", n)
	}
}

func TestReferenceUnknownKind(t *testing.T) {
	if _, err := NewReference(context.Background(), RefConfig{Kind: "memcached"}); err == nil {
		t.Fatal("an unknown reference was accepted")
	}
}
