package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Reference servers re-measure, in the same run as Tiercel's rows, the
// anchors the issues' goals were set from (shared/PLATFORM.md: "fasthttp +
// one ristretto Get" at 1.01 of bare, "fasthttp + one go-redis GET per
// request" at 0.33). Those anchors were taken on a machine where bare
// fasthttp reached 217k req/s; where the kernel path costs more, every
// server slower than bare loses more, and only an anchor measured in the
// same run says how much of a ratio is the machine.
//
// Both answer GET /api/products/{id} for id in 1..keys with the entry the
// gateway rows would serve (a 1 KiB body) and ignore everything else in the
// request, the JWT header included. They do the least a real handler of
// their kind would: no auth, no rate limit, no cache headers.

// RefKind names a reference server.
type RefKind string

const (
	// RefRistretto answers from one ristretto Get of the path.
	RefRistretto RefKind = "ristretto"
	// RefRedisGet answers from one go-redis GET of the path per request
	// (the "plain" usage the L2 goal names), with the client options of
	// RefConfig.RedisURL: bench-wrk sets pool_size to its connection count,
	// which beats go-redis' default pool of 10 by 12-15% here (bench-wrk's
	// ref-redis-get row, both ways: bench/results/2026-11-22-refs).
	RefRedisGet RefKind = "redis-get"
)

// refKeyPrefix keeps the reference's Redis keys apart from a gateway's.
const refKeyPrefix = "ref:"

// Reference is a reference server: bare fasthttp plus one lookup.
type Reference struct {
	srv  *fasthttp.Server
	l1   *ristretto.Cache[uint64, []byte]
	rdb  *redis.Client
	body []byte
}

// RefConfig configures a Reference.
type RefConfig struct {
	Kind RefKind
	// Size is the body size (default 1024).
	Size int
	// Keys is how many ids are stored (default 50000).
	Keys int
	// RedisURL is required for RefRedisGet; its keys are written at start.
	// Client options go in its query (redis.ParseURL: pool_size, ...).
	RedisURL string
}

// NewReference stores the Keys entries and returns the server.
func NewReference(ctx context.Context, cfg RefConfig) (*Reference, error) {
	if cfg.Size < 0 || cfg.Keys < 0 {
		return nil, fmt.Errorf("reference size %d and keys %d must not be negative", cfg.Size, cfg.Keys)
	}
	defaults.Set(&cfg.Size, 1024)
	defaults.Set(&cfg.Keys, 50000)
	r := &Reference{body: bareBody(cfg.Size)}
	switch cfg.Kind {
	case RefRistretto:
		// Keyed by a hash of the path, as Tiercel's L1 is: a string key
		// would cost the reference an allocation per request. Unlike
		// Tiercel it does not compare the key on a hit: every id holds the
		// same body, so a collision could not change an answer.
		c, err := ristretto.NewCache(&ristretto.Config[uint64, []byte]{
			NumCounters: int64(10 * cfg.Keys), MaxCost: int64(4 * cfg.Keys * cfg.Size), BufferItems: 64,
			KeyToHash: func(h uint64) (uint64, uint64) { return h, 0 },
		})
		if err != nil {
			return nil, fmt.Errorf("cannot make the ristretto reference: %w", err)
		}
		r.l1 = c
		if err := r.fill(cfg.Keys, int64(cfg.Size)); err != nil {
			c.Close()
			return nil, err
		}
		r.srv = &fasthttp.Server{Handler: r.handleRistretto, Name: "ref-ristretto"}
	case RefRedisGet:
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("cannot use redis url %q: %w", cfg.RedisURL, err)
		}
		r.rdb = redis.NewClient(opt)
		if err := r.seed(ctx, cfg.Keys); err != nil {
			_ = r.rdb.Close()
			return nil, err
		}
		r.srv = &fasthttp.Server{Handler: r.handleRedis, Name: "ref-redis-get"}
	default:
		return nil, fmt.Errorf("unknown reference %q (want %s or %s)", cfg.Kind, RefRistretto, RefRedisGet)
	}
	return r, nil
}

func refPath(id int) string { return "/api/products/" + strconv.Itoa(id) }

// fill stores every key in the ristretto cache. Sets are asynchronous and
// dropped under contention, so it sets again what a Get does not find.
func (r *Reference) fill(keys int, cost int64) error {
	missing := make([]int, 0, keys)
	for i := 1; i <= keys; i++ {
		missing = append(missing, i)
	}
	for range 20 {
		for _, i := range missing {
			r.l1.Set(xxhash.Sum64String(refPath(i)), r.body, cost)
		}
		r.l1.Wait()
		left := missing[:0]
		for _, i := range missing {
			if _, ok := r.l1.Get(xxhash.Sum64String(refPath(i))); !ok {
				left = append(left, i)
			}
		}
		if missing = left; len(missing) == 0 {
			return nil
		}
	}
	return fmt.Errorf("cannot store the ristretto reference's keys: %d of %d missing", len(missing), keys)
}

// seed writes every key in pipelines of 1000.
func (r *Reference) seed(ctx context.Context, keys int) error {
	for lo := 1; lo <= keys; lo += 1000 {
		p := r.rdb.Pipeline()
		for i := lo; i < min(lo+1000, keys+1); i++ {
			p.Set(ctx, refKeyPrefix+refPath(i), r.body, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("cannot store the reference's keys: %w", err)
		}
	}
	return nil
}

func (r *Reference) handleRistretto(ctx *fasthttp.RequestCtx) {
	v, ok := r.l1.Get(xxhash.Sum64(ctx.Path()))
	if !ok {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(v)
}

func (r *Reference) handleRedis(ctx *fasthttp.RequestCtx) {
	v, err := r.rdb.Get(ctx, refKeyPrefix+string(ctx.Path())).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	case err != nil:
		ctx.SetStatusCode(fasthttp.StatusBadGateway)
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(v)
}

// Serve serves on ln until Shutdown.
func (r *Reference) Serve(ln net.Listener) error { return r.srv.Serve(ln) }

// Shutdown stops the server and closes what it holds.
func (r *Reference) Shutdown() error {
	err := r.srv.Shutdown()
	if r.l1 != nil {
		r.l1.Close()
	}
	if r.rdb != nil {
		err = errors.Join(err, r.rdb.Close())
	}
	return err
}
