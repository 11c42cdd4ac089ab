package features

import (
	"context"
	"testing"

	"github.com/tiercel/tiercel/internal/testredis"
)

// A pipeline that was answered, some of whose rows are error replies (a
// hash where a row is read with GET, as on a cluster: WRONGTYPE), is one
// pipeline that went through, not one failure per bad row. Counting both
// per row made failures outnumber pipelines, and the exported ok count
// (pipelines - failures) wrap around to 1.8e19. A single node reads rows
// with one MGET, which answers nil for a key of another type.
func testClusterRowErrors(t *testing.T, cl *testredis.Cluster) {
	cfg := testRegistry()
	cfg.KeyPrefix = "re:"
	s := newClusterStore(t, cl, cfg)
	rdb := cl.Client()
	ctx := context.Background()
	ids := []string{"s1", "s2", "s3"}
	for _, id := range ids {
		if err := rdb.HSet(ctx, rowKey(cfg.KeyPrefix, "user_stats")(id), "f", "not a row").Err(); err != nil {
			t.Fatal(err)
		}
	}
	q := mustQuery(t, s, allRefs[:2], []string{"user_id"}, [][]string{{"s1"}, {"s2"}, {"s3"}})
	res := mustGet(t, s, q)
	if c := res.Cell(0, 0); c.Status != StatusDefault || !res.Incomplete {
		t.Errorf("a row of the wrong type: %v, incomplete %v; want DEFAULT, incomplete", c.Status, res.Incomplete)
	}
	st := s.Stats()
	if st.RedisPipelines != 1 || st.RedisFailures > st.RedisPipelines {
		t.Fatalf("RedisPipelines = %d, RedisFailures = %d: want 1 pipeline and failures <= pipelines", st.RedisPipelines, st.RedisFailures)
	}
	// WRONGTYPE is the writer's fault: Redis answered, the pipeline did
	// not fail, and the breaker stays closed.
	if st.RedisFailures != 0 || st.RowErrors != 3 {
		t.Errorf("RedisFailures = %d, RowErrors = %d; want 0, 3", st.RedisFailures, st.RowErrors)
	}
	if d := dependency(t, s, "features:redis"); d.Breaker != "closed" {
		t.Errorf("breaker %s after data errors", d.Breaker)
	}
}
