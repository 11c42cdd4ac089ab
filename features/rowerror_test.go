package features

import (
	"context"
	"testing"
)

// A pipeline that was answered, some of whose rows are error replies (a
// string where the hash layout expects a hash: WRONGTYPE), is one pipeline
// that went through, not one failure per bad row. Counting both per row
// made failures outnumber pipelines, and the exported ok count
// (pipelines - failures) wrap around to 1.8e19.
func TestRowErrorRepliesAreNotPipelineFailures(t *testing.T) {
	cfg := testRegistry()
	cfg.Views[0].Source.Layout = "hash"
	e := newEnv(t, cfg)
	ctx := context.Background()
	for _, id := range []string{"s1", "s2", "s3"} {
		if err := e.rdb.Set(ctx, "tiercel:fv:user_stats:"+id, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	q := mustQuery(t, e.s, allRefs[:2], []string{"user_id"}, [][]string{{"s1"}, {"s2"}, {"s3"}})
	res := mustGet(t, e.s, q)
	if c := res.Cell(0, 0); c.Status != StatusDefault || !res.Incomplete {
		t.Errorf("a row of the wrong type: %v, incomplete %v; want DEFAULT, incomplete", c.Status, res.Incomplete)
	}
	st := e.s.Stats()
	if st.RedisPipelines != 1 || st.RedisFailures > st.RedisPipelines {
		t.Fatalf("RedisPipelines = %d, RedisFailures = %d: want 1 pipeline and failures <= pipelines", st.RedisPipelines, st.RedisFailures)
	}
	// WRONGTYPE is the writer's fault: Redis answered, the pipeline did
	// not fail, and the breaker stays closed.
	if st.RedisFailures != 0 || st.RowErrors != 3 {
		t.Errorf("RedisFailures = %d, RowErrors = %d; want 0, 3", st.RedisFailures, st.RowErrors)
	}
	if d := dependency(t, e.s, "features:redis"); d.Breaker != "closed" {
		t.Errorf("breaker %s after data errors", d.Breaker)
	}
}
