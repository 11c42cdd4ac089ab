package features

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

var allRefs = []string{"user_stats:clicks_7d", "user_stats:ctr_7d", "user_stats:country",
	"user_stats:is_premium", "user_stats:tags", "user_stats:embedding"}

func pushUser(t testing.TB, e *env, id string, at time.Time) {
	t.Helper()
	err := e.s.Push(context.Background(), "user_stats", []PushRow{{
		Entity: map[string]string{"user_id": id},
		Values: map[string][]byte{
			"clicks_7d": raw(12), "ctr_7d": raw(0.25), "country": raw("FR \"x\""),
			"is_premium": raw(true), "tags": raw([]string{"a", "b"}), "embedding": raw([]float32{1, 0.5, -2, 3e-3}),
		},
		EventTime: at,
	}})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
}

func TestPushThenReadYourWrite(t *testing.T) {
	e := newEnv(t, testRegistry())
	pushUser(t, e, "u1", e.clk.Now())
	q := mustQuery(t, e.s, allRefs, []string{"user_id"}, [][]string{{"u1"}, {"u2"}})
	res := mustGet(t, e.s, q)
	want := []string{`12`, `0.25`, `"FR \"x\""`, `true`, `["a","b"]`, `[1,0.5,-2,0.003]`}
	for j, w := range want {
		c := res.Cell(0, j)
		if string(c.Value) != w || c.Status != StatusPresent || c.EventTime != e.clk.Now().UnixNano() {
			t.Errorf("u1 %s = %s %v %d, want %s PRESENT", allRefs[j], c.Value, c.Status, c.EventTime, w)
		}
	}
	// u2 has no row: clicks_7d has a default, the others are not found.
	if c := res.Cell(1, 0); c.Status != StatusDefault || c.Why != StatusNotFound || string(c.Value) != "0" {
		t.Errorf("u2 clicks_7d = %s %v/%v, want 0 DEFAULT/NOT_FOUND", c.Value, c.Status, c.Why)
	}
	if c := res.Cell(1, 1); c.Status != StatusNotFound || c.Value != nil {
		t.Errorf("u2 ctr_7d = %s %v, want null NOT_FOUND", c.Value, c.Status)
	}
	if res.Incomplete {
		t.Error("result marked incomplete")
	}

	// Overwrite one feature: the next read sees it although u1's row is in L1.
	testwait.For(t, 5*time.Second, "u1's row in L1", func() bool {
		_, ok := e.s.rows.get([]byte("tiercel:fv:user_stats:u1"), e.clk.Now().UnixMilli())
		return ok
	})
	if err := e.s.Push(context.Background(), "user_stats", []PushRow{{
		Entity: map[string]string{"user_id": "u1"}, Values: map[string][]byte{"clicks_7d": raw(13)}, EventTime: e.clk.Now(),
	}}); err != nil {
		t.Fatal(err)
	}
	res2 := mustGet(t, e.s, q)
	if c := res2.Cell(0, 0); string(c.Value) != "13" {
		t.Errorf("after push clicks_7d = %s, want 13", c.Value)
	}
	if c := res2.Cell(0, 2); c.Status != StatusPresent {
		t.Errorf("partial push lost country: %v", c.Status)
	}
}

func TestStatuses(t *testing.T) {
	e := newEnv(t, testRegistry())
	now := e.clk.Now()
	pushUser(t, e, "fresh", now.Add(-30*time.Minute))
	pushUser(t, e, "old", now.Add(-2*time.Hour))
	refs := []string{"user_stats:clicks_7d", "user_stats:ctr_7d"}
	q := mustQuery(t, e.s, refs, []string{"user_id"}, [][]string{{"fresh"}, {"old"}, {"none"}})
	type want struct {
		val     string
		st, why Status
	}
	check := func(res *Result, wants [][2]want) {
		t.Helper()
		for i, w := range wants {
			for j := range 2 {
				c := res.Cell(i, j)
				if string(c.Value) != w[j].val || c.Status != w[j].st || c.Why != w[j].why {
					t.Errorf("row %d %s = %s %v/%v, want %s %v/%v", i, refs[j], c.Value, c.Status, c.Why, w[j].val, w[j].st, w[j].why)
				}
			}
		}
	}
	check(mustGet(t, e.s, q), [][2]want{
		{{"12", StatusPresent, 0}, {"0.25", StatusPresent, 0}},
		{{"0", StatusDefault, StatusOutsideMaxAge}, {"", StatusOutsideMaxAge, 0}},
		{{"0", StatusDefault, StatusNotFound}, {"", StatusNotFound, 0}},
	})
	// max_age is enforced on read: the cached fresh row ages out too.
	e.clk.Advance(31 * time.Minute)
	check(mustGet(t, e.s, q), [][2]want{
		{{"0", StatusDefault, StatusOutsideMaxAge}, {"", StatusOutsideMaxAge, 0}},
		{{"0", StatusDefault, StatusOutsideMaxAge}, {"", StatusOutsideMaxAge, 0}},
		{{"0", StatusDefault, StatusNotFound}, {"", StatusNotFound, 0}},
	})
}

// Every row L1 misses, across views, is read in one pipeline of one MGET.
func TestOnePipelineForAllL2Misses(t *testing.T) {
	cfg := testRegistry()
	cfg.Entities = append(cfg.Entities, EntityConfig{Name: "shop", JoinKeys: []JoinKeyConfig{{Name: "shop_id"}}})
	cfg.Views = append(cfg.Views, ViewConfig{Name: "shop_stats", Entities: []string{"shop"},
		Features: []FeatureConfig{{Name: "orders", Type: "int64"}}})
	e := newEnv(t, cfg)
	for i := range 20 {
		pushUser(t, e, "u"+string(rune('a'+i)), e.clk.Now())
	}
	rows := make([][]string, 30)
	for i := range rows {
		rows[i] = []string{"u" + string(rune('a'+i)), "s1"}
	}
	q := mustQuery(t, e.s, append([]string{"shop_stats:orders"}, allRefs...), []string{"user_id", "shop_id"}, rows)
	if err := e.s.Push(context.Background(), "shop_stats", []PushRow{{Entity: map[string]string{"shop_id": "s1"},
		Values: map[string][]byte{"orders": raw(3)}}}); err != nil {
		t.Fatal(err)
	}
	p0, c0 := e.hc.pipelines.Load(), e.hc.cmds.Load()
	res := mustGet(t, e.s, q)
	// The shop row is one key: read once, whatever the number of entity rows.
	if p, c := e.hc.pipelines.Load()-p0, e.hc.cmds.Load()-c0; p != 1 || c != 1 {
		t.Errorf("Get sent %d pipelines of %d commands, want 1 MGET", p, c)
	}
	if c := res.Cell(29, 0); c.Status != StatusPresent || string(c.Value) != "3" {
		t.Errorf("shop orders = %s %v", c.Value, c.Status)
	}
	if c := res.Cell(0, 1); c.Status != StatusPresent {
		t.Errorf("ua clicks = %v", c.Status)
	}
	// Once the rows are in L1, Redis is not asked again.
	testwait.For(t, 5*time.Second, "every row in L1", func() bool {
		p0 := e.hc.pipelines.Load()
		mustGet(t, e.s, q)
		return e.hc.pipelines.Load() == p0
	})
	if st := e.s.Stats(); st.RedisPipelines < 1 || st.RowL1Hits == 0 {
		t.Errorf("stats %+v", st)
	}
}

// specRow encodes a stored row from the package doc's spec alone (the
// standard library's FNV-1a, not featureTag): what an external writer does.
// ts is Unix ns.
func specRow(ts int64, nameValues ...string) []byte {
	return specRowVersion(2, ts, nameValues...)
}

// specRowMs is a row of the first format, its event time in Unix ms: what
// Redis may hold from a writer of the previous release.
func specRowMs(ms int64, nameValues ...string) []byte {
	return specRowVersion(1, ms, nameValues...)
}

func specRowVersion(version byte, ts int64, nameValues ...string) []byte {
	b := binary.LittleEndian.AppendUint64([]byte{version}, uint64(ts))
	for i := 0; i < len(nameValues); i += 2 {
		h := fnv.New32a()
		h.Write([]byte(nameValues[i]))
		b = binary.LittleEndian.AppendUint32(b, h.Sum32())
		b = binary.AppendUvarint(b, uint64(len(nameValues[i+1])))
		b = append(b, nameValues[i+1]...)
	}
	return b
}

func TestExternalWriterPackedLayout(t *testing.T) {
	e := newEnv(t, testRegistry())
	ctx := context.Background()
	ts := e.clk.Now().UnixNano() - 1_000_000_001 // nanoseconds are kept
	// Any order; a feature the view no longer has is skipped.
	e.rdb.Set(ctx, "tiercel:fv:user_stats:ext%3A1", specRow(ts, "embedding", "[1, 2,3,4]", "gone", "1",
		"tags", `["x"]`, "is_premium", "false", "country", `"D\u00e9"`, "ctr_7d", "1e-3", "clicks_7d", "7"), 0)
	e.rdb.Set(ctx, "tiercel:fv:user_stats:bad", specRow(ts, "clicks_7d", "7.5", "ctr_7d", "NaN", "is_premium", "yes",
		"embedding", "[1,2]", "country", "\"\xff\"", "tags", `["a",1]`), 0)
	e.rdb.Set(ctx, "tiercel:fv:user_stats:garbage", "hello, world", 0)
	q := mustQuery(t, e.s, allRefs, []string{"user_id"}, [][]string{{"ext:1"}, {"bad"}, {"garbage"}})
	res := mustGet(t, e.s, q)
	want := []string{`7`, `1e-3`, `"D\u00e9"`, `false`, `["x"]`, `[1, 2,3,4]`}
	for j, w := range want {
		if c := res.Cell(0, j); string(c.Value) != w || c.Status != StatusPresent || c.EventTime != ts {
			t.Errorf("ext %s = %s %v %d, want %s PRESENT %d", allRefs[j], c.Value, c.Status, c.EventTime, w, ts)
		}
	}
	// Badly written values are absent (and counted), never a failed request.
	for i := 1; i <= 2; i++ {
		if c := res.Cell(i, 0); c.Status != StatusDefault {
			t.Errorf("row %d clicks_7d: %v", i, c.Status)
		}
		for j := 1; j < len(allRefs); j++ {
			if c := res.Cell(i, j); c.Status != StatusNotFound {
				t.Errorf("row %d %s: %v %s", i, allRefs[j], c.Status, c.Value)
			}
		}
	}
	if st := e.s.Stats(); st.BadStoredValues != 6 || st.BadStoredRows != 1 || res.Incomplete {
		t.Errorf("BadStoredValues = %d, BadStoredRows = %d, incomplete %v; want 6, 1, false", st.BadStoredValues, st.BadStoredRows, res.Incomplete)
	}
}

func TestPushRejectsEveryProblem(t *testing.T) {
	e := newEnv(t, testRegistry())
	err := e.s.Push(context.Background(), "user_stats", []PushRow{
		{Entity: map[string]string{"user_id": "u1"}, Values: map[string][]byte{
			"clicks_7d": raw("12"), "nope": raw(1), "embedding": raw([]float64{1}), "tags": raw([]any{"a", 1}),
		}},
		{Entity: map[string]string{"uid": "u2"}, Values: map[string][]byte{"ctr_7d": raw(0.1)}},
	})
	if KindOf(err) != BadRequest {
		t.Fatalf("err = %v, want BadRequest", err)
	}
	for _, w := range []string{
		`rows[0].values.clicks_7d: want int64, got a string`, `rows[0].values: unknown feature "nope"`,
		`rows[0].values.embedding: want float32_vector[4], got 1 elements`, `rows[0].values.tags: element 1: want string, got a number`,
		`rows[1].entity: missing join key "user_id"`, `rows[1].entity: view "user_stats" has no join key "uid"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if n, _ := e.rdb.DBSize(context.Background()).Result(); n != 0 {
		t.Errorf("a rejected push wrote %d keys", n)
	}
	f := func(view string, rows []PushRow, kind Kind) {
		t.Helper()
		if err := e.s.Push(context.Background(), view, rows); KindOf(err) != kind {
			t.Errorf("Push(%s) = %v, want %v", view, err, kind)
		}
	}
	f("nope", []PushRow{{}}, BadRequest)
	f("user_stats", nil, BadRequest)
	f("user_stats", make([]PushRow, 1001), TooLarge)
}

func TestMemoryView(t *testing.T) {
	e := newEnv(t, testRegistry())
	if err := e.s.Push(context.Background(), "item_stats", []PushRow{{
		Entity: map[string]string{"item_id": "42"}, Values: map[string][]byte{"price": raw(9.5)},
	}}); err != nil {
		t.Fatal(err)
	}
	p0 := e.hc.pipelines.Load()
	res := mustGet(t, e.s, mustQuery(t, e.s, []string{"item_stats:price"}, []string{"item_id"}, [][]string{{"42"}, {"7"}}))
	if c := res.Cell(0, 0); string(c.Value) != "9.5" || c.Status != StatusPresent {
		t.Errorf("price = %s %v", c.Value, c.Status)
	}
	if c := res.Cell(1, 0); c.Status != StatusNotFound {
		t.Errorf("absent item: %v", c.Status)
	}
	if e.hc.pipelines.Load() != p0 {
		t.Error("a memory view asked Redis")
	}
}

func TestRedisDownAnswersIncomplete(t *testing.T) {
	e := newEnv(t, testRegistry())
	pushUser(t, e, "u1", e.clk.Now())
	e.srv.Pause()
	defer e.srv.Resume()
	e.s.reg.cfg.RedisTimeout = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := e.s.Get(ctx, mustQuery(t, e.s, allRefs[:2], []string{"user_id"}, [][]string{{"u1"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	if !res.Incomplete || res.Cell(0, 0).Status != StatusDefault || res.Cell(0, 1).Status != StatusNotFound {
		t.Errorf("with Redis hung: incomplete=%v %v %v", res.Incomplete, res.Cell(0, 0).Status, res.Cell(0, 1).Status)
	}
}

func TestNewQueryRejects(t *testing.T) {
	e := newEnv(t, testRegistry())
	f := func(refs, keys []string, rows [][]string, kind Kind, wants ...string) {
		t.Helper()
		_, err := e.s.NewQuery(refs, keys, rows)
		if KindOf(err) != kind {
			t.Fatalf("NewQuery = %v, want kind %v", err, kind)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	f([]string{"user_stats:x", "nope:y", "bad", "user_stats:ctr_7d"}, []string{"user_id"}, [][]string{{"u"}}, BadRequest,
		`unknown feature "x"`, `unknown view "nope"`, `"bad" is not a view:feature ref`)
	f(nil, []string{"user_id"}, nil, BadRequest, "no features")
	f([]string{"user_stats:ctr_7d", "item_stats:price"}, []string{"user_id", "who"}, nil, BadRequest,
		`unknown join key "who"`, `view "item_stats" needs join key "item_id"`)
	f([]string{"item_stats:price"}, []string{"item_id"}, [][]string{{"x"}, {"1", "2"}}, BadRequest,
		`entity row 0: item_id: want int64, got "x"`, `entity row 1 has 2 values for 1 join keys`)
	f(make([]string, 501), nil, nil, TooLarge, "501 feature refs, at most 500")
	f([]string{"user_stats:ctr_7d"}, []string{"user_id"}, make([][]string, 1001), TooLarge, "1001 entity rows, at most 1000")
}
