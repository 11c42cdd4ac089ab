package features

import (
	"math"
	"time"
)

// Event times are Unix nanoseconds in an int64, 0 meaning unknown, from a
// push to the stored row, the cached row and the reply. Nanoseconds
// because Feast keeps what it is given: its Redis store holds a protobuf
// Timestamp (seconds and nanos), pandas' Timestamp is this same int64 of
// nanoseconds, and its server renders up to nine fraction digits; with
// microseconds a pushed time would not come back as it was sent. The cost
// is the range, 1970 (times before the epoch never were readable in a
// stored row) to 2262-04-11, which is pandas' own upper bound: no time a
// Feast pipeline makes falls outside it.

// maxEventTime is the latest event time: 2262-04-11T23:47:16.854775807Z.
var maxEventTime = time.Unix(0, math.MaxInt64)

// eventNanos is t as an event time. False: t is before the epoch or after
// maxEventTime, which an int64 of nanoseconds cannot hold.
func eventNanos(t time.Time) (int64, bool) {
	if t.Unix() < 0 || t.After(maxEventTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// millisToNanos reads the event time of a version 1 row, which kept
// milliseconds: -1 (no event time, the row unreadable) when it is before
// the epoch or does not fit.
func millisToNanos(ms int64) int64 {
	if ms < 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		return -1
	}
	return ms * int64(time.Millisecond)
}

const epochJSON = `"1970-01-01T00:00:00Z"`

// appendTimestamp renders an event time as a JSON string: RFC 3339 in UTC
// with 0, 3, 6 or 9 fraction digits, the fewest that keep it exact, as
// protobuf's JSON mapping of a Timestamp does (Timestamp.ToJsonString,
// which Feast's Python server uses through MessageToDict). 0 is the epoch.
func appendTimestamp(dst []byte, ns int64) []byte {
	if ns == 0 {
		return append(dst, epochJSON...)
	}
	t := time.Unix(0, ns).UTC()
	layout := "2006-01-02T15:04:05.000000000Z07:00"
	switch frac := t.Nanosecond(); {
	case frac == 0:
		layout = time.RFC3339
	case frac%1e6 == 0:
		layout = "2006-01-02T15:04:05.000Z07:00"
	case frac%1e3 == 0:
		layout = "2006-01-02T15:04:05.000000Z07:00"
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, layout)
	return append(dst, '"')
}
