package cache

import "errors"

var (
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("cache is closed")

	// ErrInvalidEntry is returned when a FillFunc returns no entry and no
	// error, an entry whose times cannot be encoded, its old entry itself,
	// or an entry marked Revalidated without an old one.
	ErrInvalidEntry = errors.New("invalid entry")

	// ErrCorrupt is returned by decode for malformed input.
	ErrCorrupt = errors.New("corrupt entry encoding")

	// ErrUnknownFormat is returned by decode for an encoding written by
	// another format version; the cache treats it as a miss.
	ErrUnknownFormat = errors.New("unknown entry format version")

	// ErrL2Unavailable is returned by the Invalidate methods when Redis could
	// not be updated (breaker open or queue full); the local part was applied.
	ErrL2Unavailable = errors.New("l2 unavailable")

	// ErrL2Pending is returned by the Invalidate methods when their ctx
	// ended before the L2 part was done: it goes on in the background
	// under Config.InvalidateTimeout (Invalidation.Done tells how it ends),
	// and until it is confirmed this process treats the L2 entries of the
	// keys and tags as misses. The local part was applied.
	ErrL2Pending = errors.New("l2 invalidation pending")

	// ErrFenced is returned by Fetch when every fill it waited for was
	// overtaken by an invalidation, so none could be served.
	ErrFenced = errors.New("fill overtaken by invalidations")
)
