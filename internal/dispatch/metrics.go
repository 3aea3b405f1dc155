package dispatch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonjob/anonjob/internal/celantur"
)

// Metrics times the uploads to the engine.
type Metrics struct {
	upload *prometheus.HistogramVec
}

// NewMetrics registers the dispatch families on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{upload: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "anonjob_dispatch_upload_seconds",
		Help: "Time to upload a job's image to the engine, by outcome (ok, throttled, error).",
		// An image of up to tens of MiB over a WAN link: from milliseconds to a minute.
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
	}, []string{"outcome"})}
	reg.MustRegister(m.upload)
	return m
}

// observeUpload records one upload; a nil m records nothing.
func (m *Metrics) observeUpload(took time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if _, ok := celantur.IsThrottled(err); ok {
		outcome = "throttled"
	} else if err != nil {
		outcome = "error"
	}
	m.upload.WithLabelValues(outcome).Observe(took.Seconds())
}
