//go:build !race

package jsonstr

import "testing"

// The escaper runs on every feature response, error body and access log
// line: it must only append into the caller's buffer.
func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := "user \"42\"\n<é>\xff\u2028"
	b := []byte(s)
	if n := testing.AllocsPerRun(100, func() {
		buf = Append(buf[:0], s)
		buf = Append(buf, b)
		buf = AppendInner(buf, b)
	}); n != 0 {
		t.Errorf("Append allocates %.1f times, want 0", n)
	}
}
