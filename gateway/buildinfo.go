package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiercel/tiercel/internal/buildinfo"
)

// buildInfoGauge is tiercel_build_info{version,revision,goversion} 1: the
// usual way to see, and join on, which build each replica runs.
func buildInfoGauge() prometheus.Collector {
	bi := buildinfo.Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "tiercel_build_info",
		Help:        "Always 1; the labels say which build runs: version, commit (revision) and Go version.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	g.Set(1)
	return g
}
