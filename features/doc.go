// Package features serves ML feature values and model predictions: the
// feature registry (entities, views, typed features, max age, defaults),
// batched lookups of many entities × features through the two-tier cache,
// and prediction caching keyed by model@version and a hash of the input.
//
// It must never import fasthttp or any HTTP server code: the gateway adapts
// it to HTTP. Its implementation lands with the features issue.
package features
