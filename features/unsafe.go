package features

import "unsafe"

// stringBytes views s as bytes without copying, as go-redis' own
// StringCmd.Bytes does: Redis replies arrive as strings, and a stored row
// is only read, checked and copied into a row encoding. The bytes must
// never be modified nor kept.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
