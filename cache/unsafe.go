package cache

import "unsafe"

// stringBytes views s as bytes without copying, as go-redis' own
// StringCmd.Bytes does. The bytes must never be modified: they become an
// entry's Key and Value, which are read-only anyway.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// bytesString views b as a string without copying; b must never be
// modified afterwards.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
