package gateway

import (
	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/gateway/httpcache"
)

// storedOf returns e's stored response, decoded once per entry in this
// process.
func storedOf(e *cache.Entry) (*httpcache.Stored, error) {
	if sr, ok := e.Local().(*httpcache.Stored); ok {
		return sr, nil
	}
	sr, err := httpcache.DecodeStored(e.Value)
	if err != nil {
		return nil, err
	}
	e.SetLocal(sr)
	return sr, nil
}
