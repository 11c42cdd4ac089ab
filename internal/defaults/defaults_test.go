package defaults

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	f := func(got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	n, neg, set := 0, -1, 7
	Set(&n, 5)
	Set(&neg, 5)
	Set(&set, 5)
	f(n, 5)
	f(neg, -1)
	f(set, 7)

	d, s, u := time.Duration(0), "", uint32(0)
	Set(&d, time.Second)
	Set(&s, "info")
	Set(&u, 3)
	f(d, time.Second)
	f(s, "info")
	f(u, uint32(3))

	kept := "debug"
	Set(&kept, "info")
	f(kept, "debug")
}
