package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// Decode is decode without expected tags: every tag is copied.
func Decode(b []byte) (*Entry, error) { return decode(b, nil, nil) }

func sampleEntry() *Entry {
	at := time.Unix(1_700_000_000, 123456789)
	return &Entry{
		Key:        []byte("GET /v1/users/42?lang=en"),
		Value:      []byte("HTTP/1.1 200\r\ncontent-type: application/json\r\n\r\n{\"id\":42}"),
		StoredAt:   at,
		FreshUntil: at.Add(30 * time.Second),
		StaleUntil: at.Add(90 * time.Second),
		ErrorUntil: at.Add(time.Hour),
		KeepUntil:  at.Add(24 * time.Hour),
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
			!got.KeepUntil.Equal(later(e.KeepUntil, e.ErrorUntil)) ||
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
	noKeep := sampleEntry()
	noKeep.KeepUntil = time.Time{} // zero: no keep window, decoded as ErrorUntil
	f("no keep window", noKeep)
	// A no-cache response (RFC 9111 §5.2.2.4): never fresh, only kept.
	at0 := time.Unix(1_700_000_000, 0)
	f("kept only", &Entry{Key: []byte("k"), Value: []byte("v"), StoredAt: at0, FreshUntil: at0, StaleUntil: at0, ErrorUntil: at0, KeepUntil: at0.Add(time.Hour)})
	neg := sampleEntry()
	neg.Negative, neg.Value, neg.Tags, neg.tagGens = true, nil, nil, nil
	f("negative without tags or value", neg)
	at := time.Unix(0, 0)
	f("empty key, epoch", &Entry{Key: []byte{}, StoredAt: at, FreshUntil: at, StaleUntil: at, ErrorUntil: at})
	before := time.Unix(-1_000_000, 5)
	f("before 1970", &Entry{Key: []byte("k"), StoredAt: before, FreshUntil: before.Add(time.Second), StaleUntil: before.Add(time.Second), ErrorUntil: before.Add(time.Minute)})
	last := time.Unix(0, math.MaxInt64)
	f("last representable time", &Entry{Key: []byte("k"), StoredAt: last.Add(-time.Hour), FreshUntil: last, StaleUntil: last, ErrorUntil: last, KeepUntil: last})
	f("keep up to the last representable time", &Entry{Key: []byte("k"), StoredAt: last.Add(-time.Hour), FreshUntil: last.Add(-time.Minute), StaleUntil: last.Add(-time.Minute), ErrorUntil: last.Add(-time.Minute), KeepUntil: last})
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
	e = sampleEntry()
	e.KeepUntil = e.StoredAt // before ErrorUntil
	if got, err := Decode(e.Append(nil)); err != nil || !got.KeepUntil.Equal(e.ErrorUntil) {
		t.Fatalf("keep window not clamped: %v, %v", got.KeepUntil, err)
	}
}

// v1Sample is sampleEntry (without its keep window) as the previous
// release's Append wrote it (formatV1), byte for byte: what Redis holds
// when this release starts.
const v1Sample = "0100aab4aed8c7bfce972f80d88ee16f80b09dc2df0180b8b6e29366070318474554202f76312f75736572732f34323f6c616e673d656e0207757365723a3432f2dfb1dfe8ab85030575736572730039485454502f312e31203230300d0a636f6e74656e742d747970653a206170706c69636174696f6e2f6a736f6e0d0a0d0a7b226964223a34327d"

// appendV1 is the previous release's Append (formatV1: no keep field), to
// check that formatV1 decoding is as strict as it was.
func appendV1(dst []byte, e *Entry) []byte {
	stored, fresh, stale, errw, _ := e.windows()
	var flags byte
	if e.Negative {
		flags |= flagNegative
	}
	dst = append(dst, formatV1, flags)
	dst = binary.AppendVarint(dst, stored)
	for _, v := range []uint64{fresh, stale, errw, e.Version, e.keyGen} {
		dst = binary.AppendUvarint(dst, v)
	}
	dst = appendBytes(dst, e.Key)
	dst = binary.AppendUvarint(dst, uint64(len(e.Tags)))
	for i, t := range e.Tags {
		dst = appendBytes(dst, []byte(t))
		dst = binary.AppendUvarint(dst, e.tagGen(i))
	}
	return appendBytes(dst, e.Value)
}

// Entries written by the previous release are read, not dropped: they have
// no keep window (KeepUntil = ErrorUntil), and are rewritten as formatV2.
func TestDecodePreviousFormat(t *testing.T) {
	v1, err := hex.DecodeString(v1Sample)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(v1)
	if err != nil {
		t.Fatalf("Decode(formatV1): %v", err)
	}
	want := sampleEntry()
	if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) ||
		!got.StoredAt.Equal(want.StoredAt) || !got.FreshUntil.Equal(want.FreshUntil) ||
		!got.StaleUntil.Equal(want.StaleUntil) || !got.ErrorUntil.Equal(want.ErrorUntil) ||
		!got.KeepUntil.Equal(want.ErrorUntil) || got.Version != want.Version ||
		got.keyGen != want.keyGen || !slices.Equal(got.Tags, want.Tags) || !slices.Equal(got.tagGens, want.tagGens) {
		t.Fatalf("formatV1 decoded as\n%+v\nwant sampleEntry without its keep window", got)
	}
	if again := appendV1(nil, got); !bytes.Equal(again, v1) {
		t.Fatalf("appendV1 is not the previous release's Append:\n%x\n%x", again, v1)
	}
	v2 := got.Append(nil)
	if v2[0] != formatV2 || len(v2) != len(v1)+1 {
		t.Fatalf("re-encoded as %x, want formatV2 with an empty keep window", v2)
	}
	if back, err := Decode(v2); err != nil || !back.KeepUntil.Equal(got.ErrorUntil) || !bytes.Equal(back.Append(nil), v2) {
		t.Fatalf("formatV2 re-encoding: %v, %v", back, err)
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
	v1 := appendV1(nil, sampleEntry())
	f("empty", nil, ErrCorrupt)
	f("only version", []byte{formatV2}, ErrCorrupt)
	f("only version v1", []byte{formatV1}, ErrCorrupt)
	f("future version", append([]byte{formatV2 + 1}, valid[1:]...), ErrUnknownFormat)
	f("version zero", append([]byte{0}, valid[1:]...), ErrUnknownFormat)
	f("unknown flag", append([]byte{formatV2, 0x80}, valid[2:]...), ErrCorrupt)
	f("unknown flag v1", append([]byte{formatV1, 0x80}, v1[2:]...), ErrCorrupt)
	for _, enc := range [][]byte{valid, v1} {
		for n := 2; n < len(enc); n++ {
			if _, err := Decode(enc[:n]); err == nil {
				t.Fatalf("version %d truncated to %d bytes: decoded", enc[0], n)
			}
		}
	}
	f("trailing byte", append(slices.Clone(valid), 0), ErrCorrupt)
	f("trailing byte v1", append(slices.Clone(v1), 0), ErrCorrupt)
	// A formatV1 body under formatV2 lacks a field, and the converse has
	// one too many: neither is misread.
	f("v1 body as v2", append([]byte{formatV2}, v1[1:]...), ErrCorrupt)
	f("v2 body as v1", append([]byte{formatV1}, valid[1:]...), ErrCorrupt)
	// stored = 0 written as the padded varint 0x80 0x00.
	f("non-minimal varint", []byte{formatV2, 0, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrCorrupt)
	f("non-minimal keep", []byte{formatV2, 0, 0, 0, 0, 0, 0x80, 0x00, 0, 0, 0, 0, 0}, ErrCorrupt)
	f("tag count past input", []byte{formatV2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x03, 0}, ErrCorrupt)
	// stored = MaxInt64 (zigzag 0xfffffffffffffffe), fresh = 1: overflows.
	f("window overflow", []byte{formatV2, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0}, ErrCorrupt)
	f("window overflow v1", []byte{formatV1, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 0, 0, 0, 0, 0, 0, 0}, ErrCorrupt)
	// The same, in the keep window only.
	f("keep overflow", []byte{formatV2, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0}, ErrCorrupt)
}

// FuzzDecode: arbitrary bytes never panic, and whatever decodes has one
// form: a formatV2 input re-encodes to the same bytes; a formatV1 input
// (previous release) re-encodes as that release would, has no keep window,
// and its formatV2 re-encoding holds to the same rules.
func FuzzDecode(f *testing.F) {
	f.Add(sampleEntry().Append(nil))
	f.Add(appendV1(nil, sampleEntry()))
	f.Add([]byte{formatV2, flagNegative, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{formatV1, flagNegative, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{formatV2 + 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		if b[0] == formatV1 {
			if !e.KeepUntil.Equal(e.ErrorUntil) {
				t.Fatalf("formatV1 decoded with a keep window: %v after %v", e.KeepUntil, e.ErrorUntil)
			}
			if again := appendV1(nil, e); !bytes.Equal(again, b) {
				t.Fatalf("formatV1 re-encoding differs:\n in %x\nout %x", b, again)
			}
			b = e.Append(nil)
			if e, err = Decode(b); err != nil {
				t.Fatalf("formatV2 re-encoding of a formatV1 entry: %v", err)
			}
		}
		if again := e.Append(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
		if e.Size() != len(b) {
			t.Fatalf("Size() = %d for a %d-byte encoding", e.Size(), len(b))
		}
		if e.KeepUntil.Before(e.ErrorUntil) || e.ErrorUntil.Before(e.StaleUntil) ||
			e.StaleUntil.Before(e.FreshUntil) || e.FreshUntil.Before(e.StoredAt) {
			t.Fatalf("windows out of order: %+v", e)
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
