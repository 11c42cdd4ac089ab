package jsonstr

import (
	"encoding/json"
	"testing"
)

// BenchmarkAppend against encoding/json's Marshal of the same strings: an
// identifier (the common case, copied in one append) and text with
// escapes and non-ASCII.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"ident", "user_stats:clicks_7d"},
		{"escapes", "line \"one\"\n\tline two: é, <&>, \x01"},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.SetBytes(int64(len(c.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = Append(buf[:0], c.s)
			}
		})
		b.Run(c.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(c.s)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(c.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
