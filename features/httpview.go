package features

import (
	"context"
	"time"
)

// readHTTP is filled in with http views.
func (s *Store) readHTTP(ctx context.Context, res *Result, misses []miss, now time.Time) {
	s.markUnread(res, misses, now.UnixMilli())
}
