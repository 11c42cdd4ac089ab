// Package demo is the embedded default of `tiercel serve`: a config that
// needs no Redis or Kafka, an in-process origin for its routes and the
// synthetic feature rows its memory view is seeded with, so a newcomer can
// start the gateway with one command.
//
// Its config and origin must never be used by a config file deployment:
// the demo signing key is public. Only the feature rows reach one, through
// features.seed_demo (the benchmark's configs use it). It may import
// features; features must never import it.
package demo

import (
	_ "embed"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Config is the embedded demo config. ${TIERCEL_DEMO_ORIGIN} is the address
// of the in-process origin.
//
//go:embed demo.yaml
var Config []byte

// Secret signs and verifies the demo's tokens. It is public: the demo is for
// trying Tiercel out, never for production.
const Secret = "tiercel-demo-secret-do-not-use-in-production"

// Origin is the demo upstream: a product catalogue whose products carry a
// version that PUT bumps, so cache freshness can be watched from curl.
type Origin struct {
	srv *fasthttp.Server
	ln  net.Listener
	wg  sync.WaitGroup

	mu       sync.Mutex
	versions map[string]int64
}

// StartOrigin serves the demo origin on a free loopback port.
func StartOrigin() (*Origin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &Origin{ln: ln, versions: map[string]int64{}}
	o.srv = &fasthttp.Server{Handler: o.handle, Name: "tiercel-demo-origin"}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		_ = o.srv.Serve(ln)
	}()
	return o, nil
}

// Addr is the origin's host:port.
func (o *Origin) Addr() string { return o.ln.Addr().String() }

// Close stops the origin.
func (o *Origin) Close() {
	_ = o.srv.Shutdown()
	o.wg.Wait()
}

type product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Version    int64  `json:"version"`
	ServedAt   string `json:"served_at"`
}

func (o *Origin) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if path == "/healthz" {
		ctx.SetBodyString("ok")
		return
	}
	id, ok := strings.CutPrefix(path, "/api/products/")
	if !ok || id == "" || strings.Contains(id, "/") {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"code":"not_found","message":"no such product"}}`)
		return
	}
	o.mu.Lock()
	if ctx.IsPut() || ctx.IsPost() {
		o.versions[id]++
	}
	v := o.versions[id] + 1
	o.mu.Unlock()
	p := product{ID: id, Name: "Product " + id, PriceCents: priceOf(id), Version: v, ServedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	body, _ := json.Marshal(p)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "max-age=30")
	// The version is the validator: a client holding it gets 304 from the
	// cache (If-None-Match) until an update bumps it.
	ctx.Response.Header.Set("ETag", `"`+id+`-v`+strconv.FormatInt(v, 10)+`"`)
	ctx.SetBody(body)
}

// priceOf gives each product a stable made-up price.
func priceOf(id string) int64 {
	var h int64 = 7
	for _, c := range id {
		h = h*31 + int64(c)
	}
	if h < 0 {
		h = -h
	}
	return 99 + h%100000
}
