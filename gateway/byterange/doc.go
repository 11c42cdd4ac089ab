// Package byterange answers byte-range requests (RFC 9110 §14) from a
// complete stored representation: it reads a GET's Range and If-Range field
// values and turns a whole 200 response into its 206 (one range, or a
// multipart/byteranges of several) or its 416, or leaves it alone.
//
// A cache never stores partial content here: it stores the whole 200 and
// slices it per request, so a range costs no upstream round trip and
// nothing a range request does changes what is stored.
//
// Decisions where the RFC leaves a choice:
//
//   - Ignored, served as the full 200 (§14.2 "a server MAY ignore the
//     Range header field"): a unit other than bytes, any syntactically
//     invalid range-spec (the whole field is then invalid, §14.1.1), more
//     than MaxRanges list elements, a method other than GET — HEAD
//     included: "GET is the only method for which range handling is
//     defined" and a server "MUST ignore" Range on the others (§14.2) —, an
//     If-Range that does not match (§13.1.5), and several ranges of a
//     content-coded representation (see Apply).
//   - Abuse (§14.2, §17.15; CVE-2011-3192, where "bytes=0-,5-0,5-1,..."
//     made Apache build hundreds of overlapping parts): at most MaxRanges
//     list elements, like nginx's max_ranges and Apache's MaxRanges; and
//     when any two satisfiable ranges overlap or touch, all are coalesced
//     (sorted and merged, §15.3.7.2 allows it "regardless of the order"),
//     so a 206 never carries a byte twice and its content is at most the
//     representation plus one part header per range. Ranges that neither
//     overlap nor touch keep the order they were asked in (§15.3.7.2
//     SHOULD).
//   - A zero-length representation: an int-range is unsatisfiable (416
//     "bytes */0"); a suffix-range with a non-zero length is satisfiable
//     (§14.1.2) but selects nothing a Content-Range could name, so the
//     Range is ignored and the empty 200 is the answer.
//   - The 416 has an empty body and Cache-Control: no-store: it answers
//     one request's Range, and a cache downstream that keys on the URL
//     alone must never store it (a caller may put its own error document
//     in the body).
//   - The multipart boundary is 128 random bits per response (crypto/rand,
//     26 base32 characters), checked not to occur in any part's content
//     or the part headers and drawn again if it does (RFC 2046 §5.1.1):
//     nobody can plant a fixed boundary in a stored object.
//
// It must never copy the representation for a single range, never modify
// the stored body it slices, never allocate on a single range, and knows
// nothing of servers, routes or the cache.
package byterange
