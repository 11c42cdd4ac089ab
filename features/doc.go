// Package features serves ML feature values and model predictions: the
// feature registry (entities, views, typed features, max age, defaults),
// batched lookups of many entities × features through the two-tier cache,
// writes (Push), and predictions cached by model@version and a hash of the
// input vector, with a fallback ladder when the model is down.
//
// It must never import fasthttp or any HTTP server code, nor the gateway:
// the gateway adapts it to HTTP with thin handlers that pass the request
// body to ServeNative, ServeFeast, ServePredict (or Push) and write the
// bytes back, mapping an *Error's Kind to a status (BadRequest 400,
// TooLarge 413, NotFound 404, Unavailable 503). Upstream feature servers and
// model servers are called with net/http's client: it is context-aware,
// which is how a request's deadline reaches them, and fasthttp stays out of
// this layer.
//
// # Reads
//
// Get answers a Query: for every (view, entity) row, L1 first; then ONE
// Redis pipeline for every redis-view row L1 missed, across views (one
// MGET of the stored rows, a GET per row on a cluster); then,
// per http view, the missing rows are fetched through the shared cache
// (L1, L2) and whatever neither tier has is asked from the upstream in ONE
// batched /get-online-features call. Rows of redis and memory views are
// kept in L1 only (Redis is their L2) for RowTTL; http rows in L1 and L2
// for their source TTL. Each value comes back with a status (PRESENT,
// NOT_FOUND, OUTSIDE_MAX_AGE, DEFAULT) and its row's event time. max_age
// is enforced on every read.
//
// # Degradation
//
// A read or a prediction never fails because a dependency did: each call
// gets what is left of the caller's deadline, capped by the view's or
// model's budget (and redis_timeout, a source's timeout); every dependency
// has a circuit breaker (breaker.go) that, once open, answers at once
// without a network call. Values a source did not give in time are
// NOT_FOUND or DEFAULT (the result marked incomplete, counted by view and
// reason); prediction rows fall back to the entity's last good prediction
// (stale), then the model's default, flagged per row.
//
// # Redis layout (for external writers)
//
// A redis view's row is one Redis string:
//
//	key    {prefix}fv:{view}:{entity key}      prefix defaults to "tiercel:"
//	value  byte       2                        format version
//	       int64 LE   event time, Unix ns      0: unknown
//	       then per feature present, any order (view order reads fastest):
//	       uint32 LE  FNV-1a 32 of the feature's name (UTF-8)
//	       uvarint    n                        protobuf's base-128 varint
//	       n bytes    the value as JSON of the feature's type
//
// The entity key is the row's join key values in the view's declaration
// order, as text (int64 in decimal, strings as they are), '%' and ':'
// percent-escaped (%25, %3A), joined by ':'. Value JSON by type: int64 an
// integer, float64 a number, string a string, bool true or false, list<T>
// an array of T, float32_vector[N] an array of N numbers; never null
// (leave the feature out). A value that is not JSON of its type is absent
// (counted in Stats.BadStoredValues); a value at the key that is not a
// stored row of version 1 or 2, or whose event time is before the epoch (or
// past 2262 in ns), reads as an empty row (Stats.BadStoredRows).
//
// The event time is in nanoseconds, as Feast keeps it (a protobuf
// Timestamp in its own Redis store, pandas' ns), and comes back to the
// nanosecond. Version 1, the first format, is the same row with the event
// time in Unix ms: such rows, from a writer of the previous release or a
// pipeline not yet updated, are read (ms × 1e6), and a merge writes the
// header of the row written, so a row becomes version 2 at its next push.
// Readers tell the two apart by the version byte alone. During a rolling
// upgrade, a replica of the previous release reads version 2 rows as empty
// and its pushes replace them instead of merging: finish the upgrade
// before external writers switch, and expect misses until it is done.
// Features the view does not declare are skipped, so writers and readers
// of different registry versions get along. Push and upsert events merge
// into the row atomically (a Lua script: the features written replace
// theirs, the others stay, the event time becomes the write's); an
// external writer either writes whole rows with SET or does the same.
// Writers other than Push must invalidate the rows (InvalidateRows, or an
// invalidation event) or wait out RowTTL. For example, in Python:
//
//	def uvarint(n):
//	    out = b""
//	    while n >= 0x80:
//	        out, n = out + bytes([n & 0x7f | 0x80]), n >> 7
//	    return out + bytes([n])
//
//	# ts_ns: nanoseconds since the epoch, e.g. pandas.Timestamp(t).value,
//	# time.time_ns(), or (dt - datetime(1970, 1, 1, tzinfo=timezone.utc))
//	# // timedelta(microseconds=1) * 1000 for a datetime (microseconds).
//	def row(ts_ns, values):                      # {"clicks_7d": 12, ...}
//	    out = bytes([2]) + struct.pack("<q", ts_ns)
//	    for name, v in values.items():
//	        j = json.dumps(v, separators=(",", ":")).encode()
//	        h = 0x811c9dc5
//	        for c in name.encode():
//	            h = ((h ^ c) * 0x01000193) & 0xffffffff
//	        out += struct.pack("<I", h) + uvarint(len(j)) + j
//	    return out
//
// The memory source holds stored rows in process: the embedded demo,
// which has no Redis, pushes to it (internal/demo's SeedFeatures, run by
// the gateway when the config says seed_demo: true).
//
// # POST /v1/features
//
// Request: {"features":["user_stats:clicks_7d",...],"entities":[{"user_id":"u1"},...]}.
// Every entity object must carry the same join keys (string keys as JSON
// strings, int64 keys as JSON integers). Response, one result per entity in
// request order, arrays aligned with "features":
//
//	{"features":["user_stats:clicks_7d"],
//	 "results":[{"entity":{"user_id":"u1"},"values":[12],"statuses":["PRESENT"],
//	             "event_timestamps":["2024-05-01T10:00:00Z"]}],
//	 "incomplete":false}
//
// Missing values are null; timestamps are RFC 3339 UTC, in protobuf's JSON
// form of a Timestamp: Z and 0, 3, 6 or 9 fraction digits, the fewest that
// keep the event time exact (the epoch when unknown).
//
// # POST /get-online-features (Feast)
//
// Feast's request ({"features":[...]} or {"feature_service":"name"},
// "entities" as columns, "full_feature_names") and response: entity columns
// first in request order, then one result per ref, column-oriented, as
// Feast's feature servers return them. A DEFAULT value reports the status
// it stands in for (NOT_FOUND or OUTSIDE_MAX_AGE), since Feast clients know
// no DEFAULT.
//
// # POST /v1/models/{name}/predict
//
// Request: {"entities":[{"user_id":"u1"}]} (inputs read through Get) or
// {"inputs":[[0.1,2,...]]} (raw vectors of the model's width). Response:
//
//	{"model":"churn","version":"1","predictions":[{"entity":{"user_id":"u1"},
//	 "value":0.27,"source":"cache"}],"incomplete":false}
//
// source is cache, model, stale (the entity's last good prediction while
// the model is unavailable) or default (the model's declared default). A
// row with none of these fails the request with an Unavailable error. The
// prediction key is {prefix}pred:{model}@{version}:{hash of the input
// vector}: a changed feature can never return an old prediction, and a new
// version starts a new key space.
package features
