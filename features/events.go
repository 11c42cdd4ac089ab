package features

// ModelTag is the cache tag every cached prediction of a model carries:
// invalidating it (an invalidation event naming the model) drops them all,
// whatever their inputs or version.
func ModelTag(model string) string { return "model:" + model }

// DropL1 forgets every row this process holds in memory (redis views'
// L1 copies), so that after a long disconnect from the invalidation stream
// rows are read again from Redis. Memory views are the store itself and are
// kept.
func (s *Store) DropL1() { s.rows.clear() }
