package features

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
	"testing"
)

func TestFeatureTagIsFNV1a(t *testing.T) {
	for _, name := range []string{"", "clicks_7d", "é", "f49"} {
		h := fnv.New32a()
		h.Write([]byte(name))
		if got := featureTag(name); got != h.Sum32() {
			t.Errorf("featureTag(%q) = %#x, want %#x", name, got, h.Sum32())
		}
	}
}

func TestDecodeStored(t *testing.T) {
	s := fuzzStore(t)
	v := s.reg.views["user_stats"]
	wantTS := int64(42)
	f := func(name string, row []byte, ok bool, want map[string]string) {
		t.Helper()
		vals := make([][]byte, len(v.features))
		ts, got := decodeStored(row, v, vals)
		if got != ok {
			t.Fatalf("%s: ok = %v, want %v", name, got, ok)
		}
		if !ok {
			return
		}
		if ts != wantTS {
			t.Errorf("%s: ts = %d, want %d", name, ts, wantTS)
		}
		for fi, ft := range v.features {
			if w, present := want[ft.name]; string(vals[fi]) != w || (vals[fi] != nil) != present {
				t.Errorf("%s: %s = %q, want %q", name, ft.name, vals[fi], w)
			}
		}
	}
	f("empty", specRow(42), true, nil)
	f("view order", specRow(42, "clicks_7d", "1", "ctr_7d", "2"), true, map[string]string{"clicks_7d": "1", "ctr_7d": "2"})
	f("any order, unknown skipped", specRow(42, "embedding", "[]", "nope", "x", "clicks_7d", "1"), true,
		map[string]string{"clicks_7d": "1", "embedding": "[]"})
	f("a later duplicate wins", specRow(42, "clicks_7d", "1", "clicks_7d", "2"), true, map[string]string{"clicks_7d": "2"})
	f("an empty value is present", specRow(42, "country", ""), true, map[string]string{"country": ""})
	good := specRow(42, "clicks_7d", "12")
	f("truncated value", good[:len(good)-1], false, nil)
	f("truncated tag", good[:storedHeader+3], false, nil)
	f("short header", good[:8], false, nil)
	f("other version", append([]byte{3}, good[1:]...), false, nil)
	f("length past the end", append(binary.LittleEndian.AppendUint32(specRow(42), 1), 0xff, 0xff, 0x03), false, nil)
	// Rows of the first format, event times in ms, read as they were.
	wantTS = 42_000_000
	f("version 1: ms", specRowMs(42, "clicks_7d", "1"), true, map[string]string{"clicks_7d": "1"})
	wantTS = -1 // not an event time: the row reads as empty (rowFromStored)
	f("version 1: past 2262 in ns", specRowMs(1<<62, "clicks_7d", "1"), true, map[string]string{"clicks_7d": "1"})
	f("version 1: before the epoch", specRowMs(-5), true, nil)
}

func TestValidJSON(t *testing.T) {
	f := func(typ string, ok bool, vals ...string) {
		t.Helper()
		ty, err := ParseType(typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if got := ty.validJSON([]byte(v)); got != ok {
				t.Errorf("%s %q: valid = %v, want %v", typ, v, got, ok)
			}
		}
	}
	f("int64", true, "0", "-0", "42", "9223372036854775807", "-9223372036854775808")
	f("int64", false, "", "+1", "01", "1.0", "1e3", "9223372036854775808", "-9223372036854775809", " 1", "\"1\"", "12345678901234567890")
	f("float64", true, "0", "-0.5", "1e308", "1E-400", "0.125", "123456789012345678901234567890")
	f("float64", false, "", ".5", "1.", "-", "1e", "1e+", "NaN", "Infinity", "1e309", "0x10", "1_0", "01", "1.5 ")
	f("float32_vector[2]", true, "[1,2]", "[ 1 , -2.5e3 ]", "[3.4e38,0]")
	f("float32_vector[2]", false, "[1]", "[1,2,3]", "[1,,2]", "[1,2,]", "[3.5e38,0]", "[1e39,0]", `["1",2]`, "1,2", "[1 2]")
	f("string", true, `""`, `"a\"b\\c\/\b\f\n\r\t\u00e9"`, "\"é\u2028\"")
	f("string", false, `"`, `"a`, `a"`, `"a"b"`, "\"\x01\"", `"\x"`, `"\u12"`, `"\u12g4"`, "\"\xff\"", `"a" `)
	f("bool", true, "true", "false")
	f("bool", false, "1", "True", "null", "")
	f("list<string>", true, "[]", `["a","b,c"]`, `[ "a" ]`)
	f("list<string>", false, `["a",1]`, `["a"`, `[`, `["a"]]`, `[,]`, `[null]`)
	f("list<int64>", true, "[1,2]", "[]")
	f("list<int64>", false, "[1.5]", "[[1]]")
}

// FuzzValidJSON: a stored value the read path accepts is one JSON value
// that the push path accepts too; what Push writes, reads accept.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`1`, `-0.5e3`, `"a\u0000b"`, `true`, `[1,2]`, `["x"]`, `[0.1,2,3,4]`, "\"\xff\"", `[1,]`, `1e400`} {
		f.Add(s, uint8(0))
	}
	types := []string{"int64", "float64", "string", "bool", "list<int64>", "list<string>", "list<float64>", "float32_vector[4]"}
	f.Fuzz(func(t *testing.T, in string, ti uint8) {
		typ, _ := ParseType(types[int(ti)%len(types)])
		if typ.validJSON([]byte(in)) {
			if !json.Valid([]byte(in)) {
				t.Fatalf("%s %q: accepted, not JSON", typ, in)
			}
			if _, err := typ.canonJSON(nil, []byte(in)); err != nil {
				t.Fatalf("%s %q: accepted on read, rejected on push: %v", typ, in, err)
			}
		}
		if canon, err := typ.canonJSON(nil, []byte(in)); err == nil && !typ.validJSON(canon) {
			t.Fatalf("%s %q: canonical %s rejected on read", typ, in, canon)
		}
	})
}

// FuzzStoredRow: whatever bytes sit at a row's key, reading them never
// panics and yields a row whose values are valid JSON of their types; a
// merge keeps every value of the row written and the others of the old one.
func FuzzStoredRow(f *testing.F) {
	f.Add(specRow(42, "clicks_7d", "12", "tags", `["a"]`), specRow(7, "clicks_7d", "13"))
	f.Add(specRow(42, "embedding", "[1,2,3,4]", "nope", "x"), specRow(0))
	f.Add([]byte("hello"), specRow(1, "country", `"FR"`))
	s := fuzzStore(f)
	v := s.reg.views["user_stats"]
	f.Fuzz(func(t *testing.T, old, partial []byte) {
		sc := &getScratch{}
		enc := s.rowFromStored(v, old, sc)
		var rv rowView
		if err := rv.decode(enc, len(v.features)); err != nil {
			t.Fatalf("row built from a stored row does not decode: %v", err)
		}
		// The cells are filled from the row as built, without decoding it.
		// (No event time renders as the epoch, whether nil or spelt out.)
		if rv.ts != sc.rv.ts || !bytes.Equal(appendTS(nil, &Cell{tsJSON: rv.tsJSON}), appendTS(nil, &Cell{tsJSON: sc.rv.tsJSON})) ||
			!slices.EqualFunc(rv.vals, sc.rv.vals, func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }) {
			t.Fatalf("decoded row %+v, built %+v", rv, sc.rv)
		}
		for fi, val := range rv.vals {
			if val != nil && (!json.Valid(val) || !v.features[fi].typ.validJSON(val)) {
				t.Fatalf("%s = %q: not valid", v.features[fi].name, val)
			}
		}
		if _, ok := splitStored(partial); !ok {
			return
		}
		merged := mergeStored(old, partial)
		mv := make([][]byte, len(v.features))
		pv := make([][]byte, len(v.features))
		ov := make([][]byte, len(v.features))
		ts, ok := decodeStored(merged, v, mv)
		pts, _ := decodeStored(partial, v, pv)
		_, oldOK := decodeStored(old, v, ov)
		if !ok || ts != pts {
			t.Fatalf("merged row: ok %v ts %d, want the partial's %d", ok, ts, pts)
		}
		for fi := range mv {
			want := pv[fi]
			if want == nil && oldOK {
				want = ov[fi]
			}
			if !bytes.Equal(mv[fi], want) || (mv[fi] == nil) != (want == nil) {
				t.Fatalf("%s: merged %q, want %q", v.features[fi].name, mv[fi], want)
			}
		}
	})
}

// mergeLua and mergeStored must agree byte for byte: a memory view and a
// redis view given the same writes hold the same rows.
func TestMergeLuaMatchesGo(t *testing.T) {
	e := newEnv(t, testRegistry())
	ctx := context.Background()
	script := mergeScript
	f := func(name string, old []byte, writes ...[]byte) {
		t.Helper()
		key := "merge:" + name
		if old != nil {
			e.rdb.Set(ctx, key, old, 0)
		}
		want := old
		for _, w := range writes {
			if err := script.Run(ctx, e.rdb, []string{key}, w).Err(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want = mergeStored(want, w)
		}
		got, _ := e.rdb.Get(ctx, key).Bytes()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: redis %q\n go %q", name, got, want)
		}
	}
	f("new", nil, specRow(1, "a", "1", "b", "2"))
	f("overwrite some", specRow(1, "a", "1", "b", "2", "c", "3"), specRow(2, "b", "20"), specRow(3, "d", "4", "a", "10"))
	f("duplicates", specRow(1, "a", "1", "a", "2"), specRow(2, "a", "3", "b", "1", "b", "2"))
	f("garbage replaced", []byte("not a row"), specRow(5, "a", "1"))
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'x'
	}
	f("long values", specRow(1, "a", `"`+string(long)+`"`, "b", "1"), specRow(2, "b", `"`+string(long[:200])+`"`))
	many := []string{}
	for i := range 60 {
		many = append(many, "f"+strconv.Itoa(i), strconv.Itoa(i))
	}
	f("many", specRow(1, many...), specRow(2, many[20:40]...))
	// A row of the first format takes writes of the second, and becomes one.
	f("version 1 row", specRowMs(1, "a", "1", "b", "2"), specRow(2_000_000_001, "b", "20", "c", "3"))
	if err := e.rdb.HSet(ctx, "merge:hash", "a", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := script.Run(ctx, e.rdb, []string{"merge:hash"}, specRow(1, "a", "2")).Err(); err != nil {
		t.Fatalf("over a hash: %v", err)
	}
	if got, _ := e.rdb.Get(ctx, "merge:hash").Bytes(); !bytes.Equal(got, specRow(1, "a", "2")) {
		t.Errorf("a hash of the old layout is replaced: got %q", got)
	}
	if err := script.Run(ctx, e.rdb, []string{"merge:bad"}, []byte("bad")).Err(); err == nil {
		t.Error("a malformed partial row was merged")
	}
}
