//go:build !race

package router

import "testing"

func TestMatchAllocatesNothing(t *testing.T) {
	r := newTestRouter(t)
	var p Params
	method, path := []byte("GET"), []byte("/api/users/u1/orders/o42")
	if n := testing.AllocsPerRun(100, func() { _, _, _ = r.Match(method, path, &p) }); n != 0 {
		t.Fatalf("Match allocates %.1f times per call", n)
	}
}
