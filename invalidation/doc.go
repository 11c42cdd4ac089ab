// Package invalidation keeps caches fresh: the versioned event schema
// (invalidate by key, tag, entity or model; upsert feature values), the
// Kafka consumer that applies every event on every replica, and a producer
// other Go services can import.
//
// It must never stall on a bad message and never import HTTP server code.
// Its implementation lands with the Kafka invalidation issue.
package invalidation
