//go:build !race

package reqtarget

import "testing"

// A target that needs normalising is written into the caller's buffer:
// once it has grown, nothing is allocated.
func TestParseGrownBufferAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		_, _, buf, _ = Options{}.Parse(buf, []byte("//a/./b/../c%41?q"))
	}); n != 0 {
		t.Fatalf("%v allocations with a grown buffer", n)
	}
}
