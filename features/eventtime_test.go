package features

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// Event times render as protobuf's JSON mapping renders a Timestamp
// (google/protobuf/internal/well_known_types.py, Timestamp.ToJsonString):
// UTC, Z, and 0, 3, 6 or 9 fraction digits, the fewest that are exact.
func TestAppendTimestamp(t *testing.T) {
	f := func(ns int64, want string) {
		t.Helper()
		if got := string(appendTimestamp(nil, ns)); got != `"`+want+`"` {
			t.Errorf("%d: %s, want %q", ns, got, want)
		}
	}
	const s = 1_652_439_582 * int64(time.Second) // 2022-05-13T10:59:42Z
	f(0, "1970-01-01T00:00:00Z")
	f(s, "2022-05-13T10:59:42Z")
	f(s+100_000_000, "2022-05-13T10:59:42.100Z")
	f(s+123_000_000, "2022-05-13T10:59:42.123Z")
	f(s+123_456_000, "2022-05-13T10:59:42.123456Z")
	f(s+1_000, "2022-05-13T10:59:42.000001Z")
	f(s+123_456_789, "2022-05-13T10:59:42.123456789Z")
	f(s+1, "2022-05-13T10:59:42.000000001Z")
	f(1, "1970-01-01T00:00:00.000000001Z")
	f(maxEventTime.UnixNano(), "2262-04-11T23:47:16.854775807Z")
	if n := len(appendTimestamp(nil, maxEventTime.UnixNano())); n > maxRowHeader-1-binary.MaxVarintLen64-1 {
		t.Errorf("the longest rendering takes %d bytes, more than maxRowHeader leaves", n)
	}
}

func TestEventNanos(t *testing.T) {
	f := func(in time.Time, want int64, ok bool) {
		t.Helper()
		if got, gotOK := eventNanos(in); got != want || gotOK != ok {
			t.Errorf("%v: %d %v, want %d %v", in, got, gotOK, want, ok)
		}
	}
	f(time.Unix(0, 0), 0, true)
	f(time.Unix(0, 1), 1, true)
	f(time.Unix(0, -1), 0, false)
	f(time.Unix(-1, 0), 0, false)
	f(maxEventTime, maxEventTime.UnixNano(), true)
	f(maxEventTime.Add(1), 0, false)
	f(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0, false)
	f(time.Date(2022, 5, 13, 12, 59, 42, 123456789, time.FixedZone("", 2*3600)), 1_652_439_582_123_456_789, true)
}

// A pushed time keeps its nanoseconds through Redis, L1 and both writers.
func TestPushKeepsNanoseconds(t *testing.T) {
	e := newEnv(t, testRegistry())
	at := time.Date(2022, 5, 13, 10, 59, 42, 123456000, time.UTC)
	e.clk = &clock{t: at.Add(time.Minute)}
	e.s.now = e.clk.Now
	pushUser(t, e, "u", at)
	pushUser(t, e, "n", at.Add(789))
	q := mustQuery(t, e.s, []string{"user_stats:clicks_7d"}, []string{"user_id"}, [][]string{{"u"}, {"n"}})
	for round := range 2 { // Redis, then L1
		res := mustGet(t, e.s, q)
		for i, w := range []struct {
			ns   int64
			json string
		}{{at.UnixNano(), `"2022-05-13T10:59:42.123456Z"`}, {at.UnixNano() + 789, `"2022-05-13T10:59:42.123456789Z"`}} {
			c := res.Cell(i, 0)
			if c.Status != StatusPresent || c.EventTime != w.ns || string(appendTS(nil, c)) != w.json {
				t.Errorf("round %d row %d: %v at %d %s, want PRESENT at %d %s", round, i, c.Status, c.EventTime, appendTS(nil, c), w.ns, w.json)
			}
		}
		res.Release()
		e.s.rows.wait()
	}
	native, err := e.s.ServeNative(context.Background(),
		[]byte(`{"features":["user_stats:clicks_7d"],"entities":[{"user_id":"u"},{"user_id":"n"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	feast, err := e.s.ServeFeast(context.Background(),
		[]byte(`{"features":["user_stats:clicks_7d"],"entities":{"user_id":["u","n"]}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"native": native, "feast": feast} {
		for _, w := range []string{`"2022-05-13T10:59:42.123456Z"`, `"2022-05-13T10:59:42.123456789Z"`} {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s: %s lacks %s", name, body, w)
			}
		}
	}
}

// max_age compares nanoseconds: a row exactly max_age old is present, one
// nanosecond older is not (milliseconds would take both for the same age).
func TestMaxAgeSubMillisecond(t *testing.T) {
	e := newEnv(t, testRegistry()) // user_stats: max age 1h
	now := e.clk.Now().Add(500*time.Microsecond + 250)
	e.clk = &clock{t: now}
	e.s.now = e.clk.Now
	edge := now.Add(-time.Hour)
	pushUser(t, e, "edge", edge)
	pushUser(t, e, "older", edge.Add(-1))
	pushUser(t, e, "newer", edge.Add(1))
	q := mustQuery(t, e.s, []string{"user_stats:ctr_7d"}, []string{"user_id"}, [][]string{{"edge"}, {"older"}, {"newer"}})
	check := func(want ...Status) {
		t.Helper()
		res := mustGet(t, e.s, q)
		defer res.Release()
		for i, w := range want {
			if c := res.Cell(i, 0); c.Status != w {
				t.Errorf("row %d: %v, want %v", i, c.Status, w)
			}
		}
		e.s.rows.wait()
	}
	check(StatusPresent, StatusOutsideMaxAge, StatusPresent)
	e.clk.Advance(1) // enforced on the cached rows too
	check(StatusOutsideMaxAge, StatusOutsideMaxAge, StatusPresent)
	e.clk.Advance(1)
	check(StatusOutsideMaxAge, StatusOutsideMaxAge, StatusOutsideMaxAge)
}

// An event time no int64 of nanoseconds holds is refused, not wrapped.
func TestPushEventTimeOutOfRange(t *testing.T) {
	e := newEnv(t, testRegistry())
	for _, at := range []time.Time{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), maxEventTime.Add(1), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		err := e.s.Push(context.Background(), "user_stats", []PushRow{{Entity: map[string]string{"user_id": "u"},
			Values: map[string][]byte{"clicks_7d": raw(1)}, EventTime: at}})
		var fe *Error
		if !errors.As(err, &fe) || fe.Kind != BadRequest || !strings.Contains(fe.Message, "outside the range of event times") {
			t.Errorf("%v: %v, want a BadRequest", at, err)
		}
	}
}

// Rows Redis holds in the first format (event time in ms) still read,
// and a push to one keeps the features it does not name.
func TestStoredRowVersion1(t *testing.T) {
	e := newEnv(t, testRegistry())
	ctx := context.Background()
	ms := e.clk.Now().UnixMilli() - 1500
	e.rdb.Set(ctx, "tiercel:fv:user_stats:old", specRowMs(ms, "clicks_7d", "7", "ctr_7d", "0.5"), 0)
	q := mustQuery(t, e.s, []string{"user_stats:clicks_7d", "user_stats:ctr_7d"}, []string{"user_id"}, [][]string{{"old"}})
	res := mustGet(t, e.s, q)
	if c := res.Cell(0, 0); c.Status != StatusPresent || string(c.Value) != "7" || c.EventTime != ms*1e6 ||
		string(appendTS(nil, c)) != `"2023-11-14T22:13:18.500Z"` {
		t.Errorf("old row: %s %v at %d %s, want 7 PRESENT at %d", c.Value, c.Status, c.EventTime, appendTS(nil, c), ms*1e6)
	}
	res.Release()
	at := e.clk.Now().Add(-7)
	if err := e.s.Push(ctx, "user_stats", []PushRow{{Entity: map[string]string{"user_id": "old"},
		Values: map[string][]byte{"clicks_7d": raw(8)}, EventTime: at}}); err != nil {
		t.Fatal(err)
	}
	res = mustGet(t, e.s, q)
	defer res.Release()
	if c0, c1 := res.Cell(0, 0), res.Cell(0, 1); string(c0.Value) != "8" || string(c1.Value) != "0.5" || c0.EventTime != at.UnixNano() {
		t.Errorf("after a push: %s %s at %d, want 8 0.5 at %d", c0.Value, c1.Value, c0.EventTime, at.UnixNano())
	}
	if b, _ := e.rdb.Get(ctx, "tiercel:fv:user_stats:old").Bytes(); len(b) == 0 || b[0] != storedVersion {
		t.Errorf("merged row %q: want version %d", b, storedVersion)
	}
}

// Cached rows of the first format (http views keep theirs in L2 too)
// decode with their event time in ns and their rendering as it was.
func TestRowVersion1(t *testing.T) {
	b := []byte{rowVersionMs}
	b = binary.AppendVarint(b, 1_700_000_000_123)
	b = binary.AppendUvarint(b, uint64(len(`"2023-11-14T22:13:20.123Z"`)))
	b = append(b, `"2023-11-14T22:13:20.123Z"`...)
	b = binary.AppendUvarint(b, 0)   // absent
	b = binary.AppendUvarint(b, 1+1) // present: len+1
	b = append(b, '3')
	var rv rowView
	if err := rv.decode(b, 2); err != nil {
		t.Fatal(err)
	}
	if rv.ts != 1_700_000_000_123_000_000 || string(rv.tsJSON) != `"2023-11-14T22:13:20.123Z"` || rv.vals[0] != nil || string(rv.vals[1]) != "3" {
		t.Errorf("decoded %d %s %q", rv.ts, rv.tsJSON, rv.vals)
	}
	bad := append([]byte{rowVersionMs}, binary.AppendVarint(nil, 1<<62)...)
	if err := rv.decode(append(bad, 0), 0); err == nil {
		t.Error("a version 1 row past 2262 in ns decoded")
	}
	var rb rowBuilder
	rb.begin(nil, 1_700_000_000_123_456_789)
	if err := rv.decode(rb.b, 0); err != nil || rv.ts != 1_700_000_000_123_456_789 || string(rv.tsJSON) != `"2023-11-14T22:13:20.123456789Z"` {
		t.Errorf("version 2: %v %d %s", err, rv.ts, rv.tsJSON)
	}
}
