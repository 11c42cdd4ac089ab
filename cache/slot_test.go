package cache

import (
	"math/rand/v2"
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
