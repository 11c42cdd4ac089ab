package gateway

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics owns the Prometheus registry. It is the only place that knows
// Prometheus: components keep atomic counters and expose Stats values, read
// here at scrape time.
type metrics struct {
	reg    *prometheus.Registry
	reqDur *prometheus.HistogramVec
	upDur  *prometheus.HistogramVec
}

// latencyBuckets reach down to 100µs: a cache hit takes tens of µs, and a
// histogram that starts at 5ms would say nothing about it.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reqDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tiercel_http_request_duration_seconds",
		Help:    "Time from reading a request to handing its response to the connection, by route, status and cache outcome (empty on uncached routes).",
		Buckets: latencyBuckets,
	}, []string{"route", "status", "cache"})
	m.upDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tiercel_upstream_request_duration_seconds",
		Help:    "Time an upstream pool took to answer, retries included, by upstream.",
		Buckets: latencyBuckets,
	}, []string{"upstream"})
	// The statsCollector is registered by New once the first generation
	// exists: registering describes it by collecting.
	m.reg.MustRegister(m.reqDur, m.upDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// routeMetrics caches one route's histogram children by status, so the hot
// path does no label hashing and no allocation.
type routeMetrics struct {
	name     string
	vec      *prometheus.HistogramVec
	byStatus [600 * int(numCacheLabels)]atomic.Pointer[observer]
}

type observer struct{ prometheus.Observer }

func (m *metrics) route(name string) *routeMetrics {
	return &routeMetrics{name: name, vec: m.reqDur}
}

func (r *routeMetrics) observe(status int, label cacheLabel, d time.Duration) {
	if status < 100 || status >= 600 {
		status = 599
	}
	slot := &r.byStatus[status*int(numCacheLabels)+int(label)]
	o := slot.Load()
	if o == nil {
		o = &observer{r.vec.WithLabelValues(r.name, strconv.Itoa(status), label.metricValue())}
		slot.Store(o)
	}
	o.Observe(d.Seconds())
}
