//go:build !race

package features

import (
	"testing"
	"time"
)

// Allocations of the L2 read path, per row of the shape (50
// features): checking and decoding a stored row allocate nothing; the row
// kept in L1 is its one allocation. (The race detector allocates: !race.)
func TestStoredRowAllocations(t *testing.T) {
	s, err := New(benchRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.reg.views["wide"]
	kv := make([]string, 0, 2*benchFeatures)
	for i, f := range v.features {
		kv = append(kv, f.name, []string{`0.125`, `42`, `"FR"`, `true`}[i%4])
	}
	raw := specRow(time.Now().UnixNano(), kv...)
	vals := make([][]byte, len(v.features))
	f := func(what string, want float64, fn func()) {
		t.Helper()
		if got := testing.AllocsPerRun(100, fn); got != want {
			t.Errorf("%s: %v allocations, want %v", what, got, want)
		}
	}
	f("decodeStored", 0, func() {
		if _, ok := decodeStored(raw, v, vals); !ok {
			t.Fatal("not a stored row")
		}
	})
	f("validJSON", 0, func() {
		for i, val := range vals {
			if !v.features[i].typ.validJSON(val) {
				t.Fatalf("%s invalid", val)
			}
		}
	})
	sc := &getScratch{}
	f("rowFromStored", 1, func() { s.rowFromStored(v, raw, sc) })
	key := "tiercel:fv:wide:u1"
	s.rows.set(key, s.rowFromStored(v, raw, sc), time.Now().Add(time.Hour).UnixMilli())
	s.rows.wait()
	f("row cache hit", 0, func() {
		if _, ok := s.rows.get([]byte(key), time.Now().UnixMilli()); !ok {
			t.Fatal("row not cached")
		}
	})
}
