//go:build !race

package batch

import "testing"

// Queueing is on request paths (a finished flight, an L2 write): it must
// not allocate.
func TestOfferAllocatesNothing(t *testing.T) {
	type item struct {
		key string
		val []byte
	}
	l := Start(Config{Queue: 1 << 16, Max: 64}, func([]item) {})
	defer l.Close()
	v := item{key: "k", val: []byte("v")}
	if n := testing.AllocsPerRun(1000, func() { l.Offer(v) }); n != 0 {
		t.Fatalf("Offer: %v allocs", n)
	}
}
