package byterange

import "github.com/valyala/fasthttp"

var (
	reqRange   = []byte(fasthttp.HeaderRange)
	reqIfRange = []byte(fasthttp.HeaderIfRange)
)

// ApplyRequest is Apply with the method, Range and If-Range of req. Both
// fields are single-valued: two lines of either are no one range-set (or
// validator), and the Range is ignored, which is always safe. Without a
// Range it costs one header lookup.
func ApplyRequest(resp *fasthttp.Response, req *fasthttp.RequestHeader) Outcome {
	rng := req.PeekCanonical(reqRange)
	if len(rng) > 0 && (len(req.PeekAll(fasthttp.HeaderRange)) > 1 || len(req.PeekAll(fasthttp.HeaderIfRange)) > 1) {
		rng = nil
	}
	var ifRange []byte
	if len(rng) > 0 {
		ifRange = req.PeekCanonical(reqIfRange)
	}
	return Apply(resp, req.Method(), rng, ifRange)
}
