package cache

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The cluster spec's examples; TestCluster/KeySlot compares with Redis.
func TestKeySlot(t *testing.T) {
	if got := keySlot("123456789"); got != 0x31C3 { // CRC16 of it is 0x31C3
		t.Fatalf("keySlot(123456789) = %#x", got)
	}
	f := func(key, tag string) {
		t.Helper()
		if got := hashTag(key); got != tag {
			t.Fatalf("hashTag(%q) = %q, want %q", key, got, tag)
		}
	}
	f("{user1000}.following", "user1000")
	f("foo{}{bar}", "foo{}{bar}")
	f("foo{{bar}}zap", "{bar")
	f("foo{bar}{zap}", "bar")
	f("}{a}", "a")
	f("a{", "a{")
	f("", "")
}

// Every slot has a tag, and the tag maps to its slot.
func TestSlotTags(t *testing.T) {
	for s := range slotCount {
		tag := slotTag(s)
		if len(tag) != slotTagLen || keySlot("{"+tag+"}x") != s {
			t.Fatalf("slot %d: tag %q maps to %d", s, tag, keySlot("{"+tag+"}x"))
		}
	}
}

// An entry and its key generation share a slot whatever the key or the
// prefix holds (TestCluster/KeySlot checks keySlot against Redis), and
// entries spread over the slots.
func TestEntryAndKeyGenShareASlot(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, prefix := range []string{"tiercel:", "{tiercel}:", "a}b:", ""} {
		l := &l2{prefix: prefix}
		slots := map[int]bool{}
		f := func(key string) {
			t.Helper()
			e, kg := l.entryKey([]byte(key)), l.keyGenKey([]byte(key))
			if keySlot(e) != keySlot(kg) {
				t.Fatalf("entry %q in slot %d, key generation %q in slot %d", e, keySlot(e), kg, keySlot(kg))
			}
			if !strings.HasPrefix(e, prefix+entryKind) || !strings.HasPrefix(kg, prefix+keyGenKind) {
				t.Fatalf("names %q, %q", e, kg)
			}
			slots[keySlot(e)] = true
		}
		for _, key := range []string{"/p/42", "{user}:1", "{}path:/x", "a{}b", "a}b{c", "a{b", "{", "}", ""} {
			f(key)
		}
		for range 1000 {
			f(randomKey(rnd))
		}
		if want := 500; prefix != "{tiercel}:" && len(slots) < want {
			t.Fatalf("prefix %q: 1009 keys in %d slots, want %d or more", prefix, len(slots), want)
		}
	}
}

// randomKey returns a short key of bytes Redis must hash alike: braces,
// empty tags, binary.
func randomKey(rnd *rand.Rand) string {
	const alphabet = "ab{}{}:/\x00\xff\x80"
	b := make([]byte, rnd.IntN(12))
	for i := range b {
		if rnd.IntN(4) == 0 {
			b[i] = byte(rnd.IntN(256))
		} else {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
	}
	return string(b)
}
