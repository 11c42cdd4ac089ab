package breaker

import (
	"testing"
	"time"
)

// BenchmarkOpen is the lock-free check hot paths use to skip a dependency;
// BenchmarkState is what it saves: gobreaker's mutex and clock.
func BenchmarkOpen(b *testing.B) {
	br := New(Config{Failures: 5, Cooldown: time.Second}, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if br.Open() {
				b.Fatal("open")
			}
		}
	})
}

func BenchmarkState(b *testing.B) {
	br := New(Config{Failures: 5, Cooldown: time.Second}, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if br.State() == Open {
				b.Fatal("open")
			}
		}
	})
}

func BenchmarkDo(b *testing.B) {
	br := New(Config{Failures: 5, Cooldown: time.Second}, Options{})
	call := func() error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Do(call)
	}
}
