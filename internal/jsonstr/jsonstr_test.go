package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The wants are what Feast's feature server writes: FastAPI's
// JSONResponse, json.dumps(s, ensure_ascii=False, separators=(",", ":"))
// in Python 3.
func TestAppendMatchesPython(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Append(nil, in); string(got) != want {
			t.Errorf("Append(%q) = %s, want %s", in, got, want)
		}
		if got := Append(nil, []byte(in)); string(got) != want {
			t.Errorf("Append([]byte(%q)) = %s, want %s", in, got, want)
		}
	}
	f("", `""`)
	f("plain", `"plain"`)
	f(`a"b\c`, `"a\"b\\c"`)
	f("\b\f\n\r\t", `"\b\f\n\r\t"`)
	f("\x00\x01\x1f\x7f", "\"\\u0000\\u0001\\u001f\x7f\"")
	f("<&>", `"<&>"`)
	f("é\u2028\u2029", "\"é\u2028\u2029\"")
	f("日本語 🐦", `"日本語 🐦"`)
	f("/", `"/"`)
	f("tab\tend", `"tab\tend"`)
}

// Invalid UTF-8 (which Python strings cannot hold) is replaced as
// encoding/json replaces it: \ufffd per bad byte.
func TestAppendInvalidUTF8(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Append(nil, in); string(got) != want {
			t.Errorf("Append(%q) = %s, want %s", in, got, want)
		}
	}
	f("\xff", `"\ufffd"`)
	f("a\xffb\xfe", `"a\ufffdb\ufffd"`)
	f("\xe2\x80", `"\ufffd\ufffd"`)           // a truncated U+2028
	f("\xf0\x9f\x90", `"\ufffd\ufffd\ufffd"`) // a truncated 🐦
	f("é\xc3", `"é\ufffd"`)
}

func TestAppendInner(t *testing.T) {
	b := AppendInner([]byte(`"`), "/a\"b")
	b = AppendInner(append(b, '?'), []byte("q=<1>\n"))
	if want := `"/a\"b?q=<1>\n`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

// FuzzAppend: the output is one JSON string that decodes to s (to s with
// each invalid byte replaced by U+FFFD, as encoding/json does), and its
// bytes are encoding/json's without HTML escaping, but for U+2028 and
// U+2029, which stay literal.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\n\t\b\f", "é\u2028\u2029", "\xff\xfe", "<&>", "\xe2\x80\xa8\\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Append([]byte("x"), s)[1:]
		if !json.Valid(out) {
			t.Fatalf("%q -> %s: not valid JSON", s, out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		if want := string([]rune(s)); back != want {
			t.Fatalf("%q -> %s decodes to %q, want %q", s, out, back, want)
		}
		var std bytes.Buffer
		enc := json.NewEncoder(&std)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(std.Bytes(), []byte("\n"))
		want = bytes.ReplaceAll(want, []byte(`\u2028`), []byte("\u2028"))
		want = bytes.ReplaceAll(want, []byte(`\u2029`), []byte("\u2029"))
		// A literal `\u2028` in s is written `\\u2028`: not rewritten above.
		if !strings.Contains(s, `\u202`) && !bytes.Equal(out, want) {
			t.Fatalf("%q -> %s, encoding/json writes %s", s, out, want)
		}
		if got := Append(nil, []byte(s)); !bytes.Equal(got, out) {
			t.Fatalf("%q: []byte gives %s, string %s", s, got, out)
		}
		if !utf8.Valid(out) {
			t.Fatalf("%q -> %s: not UTF-8", s, out)
		}
	})
}
