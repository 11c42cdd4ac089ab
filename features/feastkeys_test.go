package features

import (
	"errors"
	"strconv"
	"testing"
)

// TestPyIntLiteral: Python's int(s) in base 10 (the ints accepted are
// what CPython 3 answers; the rest raise ValueError there).
func TestPyIntLiteral(t *testing.T) {
	f := func(s string, want int64, wantErr error) {
		t.Helper()
		if n, err := pyIntLiteral(s); !errors.Is(err, wantErr) || n != want {
			t.Errorf("pyIntLiteral(%q) = %d, %v; want %d, %v", s, n, err, want, wantErr)
		}
	}
	f("1001", 1001, nil)
	f(" -7\n", -7, nil)
	f("+1_000", 1000, nil)
	f("1_0_0", 100, nil)
	f("1__0", 0, strconv.ErrSyntax)
	f("_1", 0, strconv.ErrSyntax)
	f("1_", 0, strconv.ErrSyntax)
	f("+-1", 0, strconv.ErrSyntax)
	f("1.0", 0, strconv.ErrSyntax)
	f("", 0, strconv.ErrSyntax)
	f("9223372036854775808", 0, strconv.ErrRange) // past int64: the proto field refuses it
}

func TestPyRepr(t *testing.T) {
	f := func(s, want string) {
		t.Helper()
		if got := pyRepr(s); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", s, got, want)
		}
	}
	f("x", `'x'`)
	f("it's", `"it's"`)
	f(`it's "q"`, `'it\'s "q"'`)
	f("a\nb\\", `'a\nb\\'`)
	f("\x01é", `'\x01é'`)
}
