package cache

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func sampleEntry() *Entry {
	at := time.Unix(1_700_000_000, 123456789)
	return &Entry{
		Key:        []byte("GET /v1/users/42?lang=en"),
		Value:      []byte("HTTP/1.1 200\r\ncontent-type: application/json\r\n\r\n{\"id\":42}"),
		StoredAt:   at,
		FreshUntil: at.Add(30 * time.Second),
		StaleUntil: at.Add(90 * time.Second),
		ErrorUntil: at.Add(time.Hour),
		Version:    7,
		Tags:       []string{"user:42", "users"},
		keyGen:     3,
		tagGens:    []uint64{1712345678901234, 0},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	f := func(name string, e *Entry) {
		t.Helper()
		b := e.Append(nil)
		if len(b) != e.Size() {
			t.Fatalf("%s: Size() = %d, encoding has %d bytes", name, e.Size(), len(b))
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if !bytes.Equal(got.Key, e.Key) || !bytes.Equal(got.Value, e.Value) ||
			!got.StoredAt.Equal(e.StoredAt) || !got.FreshUntil.Equal(e.FreshUntil) ||
			!got.StaleUntil.Equal(e.StaleUntil) || !got.ErrorUntil.Equal(e.ErrorUntil) ||
			got.Version != e.Version || got.Negative != e.Negative || got.keyGen != e.keyGen ||
			len(got.Tags) != len(e.Tags) {
			t.Fatalf("%s: round trip changed the entry:\n got %+v\nwant %+v", name, got, e)
		}
		for i := range e.Tags {
			if got.Tags[i] != e.Tags[i] || got.tagGens[i] != e.tagGen(i) {
				t.Fatalf("%s: tag %d: got %q/%d, want %q/%d", name, i, got.Tags[i], got.tagGens[i], e.Tags[i], e.tagGen(i))
			}
		}
		if again := got.Append(nil); !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs:\n%x\n%x", name, again, b)
		}
	}
	f("full", sampleEntry())
	neg := sampleEntry()
	neg.Negative, neg.Value, neg.Tags, neg.tagGens = true, nil, nil, nil
	f("negative without tags or value", neg)
	at := time.Unix(0, 0)
	f("empty key, epoch", &Entry{Key: []byte{}, StoredAt: at, FreshUntil: at, StaleUntil: at, ErrorUntil: at})
	before := time.Unix(-1_000_000, 5)
	f("before 1970", &Entry{Key: []byte("k"), StoredAt: before, FreshUntil: before.Add(time.Second), StaleUntil: before.Add(time.Second), ErrorUntil: before.Add(time.Minute)})
	last := time.Unix(0, math.MaxInt64)
	f("last representable time", &Entry{Key: []byte("k"), StoredAt: last.Add(-time.Hour), FreshUntil: last, StaleUntil: last, ErrorUntil: last})
}

func TestCodecClampsUnorderedWindows(t *testing.T) {
	e := sampleEntry()
	e.StaleUntil = e.StoredAt.Add(-time.Hour) // before FreshUntil
	got, err := Decode(e.Append(nil))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !got.StaleUntil.Equal(e.FreshUntil) || !got.ErrorUntil.Equal(e.ErrorUntil) {
		t.Fatalf("windows not clamped: stale %v error %v", got.StaleUntil, got.ErrorUntil)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := sampleEntry().Append(nil)
	f := func(name string, b []byte, want error) {
		t.Helper()
		e, err := Decode(b)
		if !errors.Is(err, want) || e != nil {
			t.Fatalf("%s: Decode = %v, %v; want error %v", name, e, err, want)
		}
	}
	f("empty", nil, ErrCorrupt)
	f("only version", []byte{formatV1}, ErrCorrupt)
	f("future version", append([]byte{2}, valid[1:]...), ErrUnknownFormat)
	f("version zero", append([]byte{0}, valid[1:]...), ErrUnknownFormat)
	f("unknown flag", append([]byte{formatV1, 0x80}, valid[2:]...), ErrCorrupt)
	for n := 2; n < len(valid); n++ {
		if _, err := Decode(valid[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: decoded", n)
		}
	}
	f("trailing byte", append(append([]byte{}, valid...), 0), ErrCorrupt)
	// stored = 0 written as the padded varint 0x80 0x00.
	f("non-minimal varint", []byte{formatV1, 0, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}, ErrCorrupt)
	f("tag count past input", []byte{formatV1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x03, 0}, ErrCorrupt)
	// stored = MaxInt64 (zigzag 0xfffffffffffffffe), fresh = 1: overflows.
	f("window overflow", []byte{formatV1, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 0, 0, 0, 0, 0, 0, 0}, ErrCorrupt)
}

// FuzzDecode: arbitrary bytes never panic, and whatever decodes re-encodes
// to the same bytes (one valid form per entry).
func FuzzDecode(f *testing.F) {
	f.Add(sampleEntry().Append(nil))
	f.Add([]byte{formatV1, flagNegative, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		if again := e.Append(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
		if e.Size() != len(b) {
			t.Fatalf("Size() = %d for a %d-byte encoding", e.Size(), len(b))
		}
		// Expected tags (as an L2 read passes them) change nothing but
		// where the decoded tags live.
		for _, want := range [][]string{e.Tags, {"other"}, append(slices.Clone(e.Tags), "more")} {
			gens := make([]uint64, len(want))
			copy(gens, e.tagGens)
			e2, err := decode(b, want, gens)
			if err != nil || !bytes.Equal(e2.Append(nil), b) {
				t.Fatalf("decode with tags %q: %v", want, err)
			}
		}
	})
}
