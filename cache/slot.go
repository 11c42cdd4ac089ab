package cache

import (
	"strings"
	"sync"
)

// Redis Cluster slots, as the cluster spec defines them: CRC16 (XMODEM) of
// the key's hash tag, modulo 16384. Idempotence markers (once.go) need a
// key in the slot of any generation key, whatever its name holds, and an
// entry and its key generation one slot (l2.go, appendKeyName).

const (
	slotCount  = 16384
	slotTagLen = 3
	// slotTagChars spell the tags: three of them reach every slot.
	slotTagChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// keySlot returns the cluster slot of key, as CLUSTER KEYSLOT does.
func keySlot(key string) int {
	return int(crc16(hashTag(key)) % slotCount)
}

// hashTag returns the part of key Redis Cluster hashes: the content of the
// first {...} when non-empty, else the whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

// crc16Table is the CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0)
// table, byte at a time.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

func crc16[T string | []byte](s T) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^s[i]]
	}
	return crc
}

// slotTags holds, for each slot, a slotTagLen-byte hash tag that maps to
// it: the first in slotTagChars order. Built on first use (~1 ms, 48 KiB):
// the first L2 read or write names a key with it (keyTag).
var slotTags = sync.OnceValue(func() *[slotCount * slotTagLen]byte {
	var t [slotCount * slotTagLen]byte
	found := 0
	var tag [slotTagLen]byte
	for _, a := range []byte(slotTagChars) {
		for _, b := range []byte(slotTagChars) {
			for _, c := range []byte(slotTagChars) {
				tag = [slotTagLen]byte{a, b, c}
				s := int(crc16(tag[:]) % slotCount)
				if t[s*slotTagLen] == 0 {
					copy(t[s*slotTagLen:], tag[:])
					found++
				}
			}
		}
	}
	if found != slotCount {
		panic("BUG: slot tags reach only some slots")
	}
	return &t
})

// slotTag returns a short hash tag (without braces) whose keys live in slot.
func slotTag(slot int) string {
	t := slotTags()
	return string(t[slot*slotTagLen : (slot+1)*slotTagLen])
}
