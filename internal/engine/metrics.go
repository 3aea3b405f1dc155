package engine

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's families; the zero value (no registry) records into collectors
// nobody reads, so the hot path has no nil checks.
type metrics struct {
	busy    atomic.Int64
	process *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, e *Engine) *metrics {
	m := &metrics{process: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "anonjob_engine_process_seconds",
		Help: "Time the built-in engine took to detect and anonymize one image, by outcome (done, failed).",
		// From a thumbnail on a fast core to a large image at the per-image deadline.
		Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
	}, []string{"outcome"})}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.process,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "anonjob_engine_queue_length", Help: "Images accepted by the built-in engine and waiting for a worker.",
		}, func() float64 { return float64(len(e.queue)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "anonjob_engine_queue_capacity", Help: "Images the built-in engine's queue holds before it refuses uploads.",
		}, func() float64 { return float64(cap(e.queue)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "anonjob_engine_workers_busy", Help: "Built-in engine workers processing an image.",
		}, func() float64 { return float64(m.busy.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "anonjob_engine_workers", Help: "Built-in engine workers.",
		}, func() float64 { return float64(e.cfg.Workers) }),
	)
	return m
}

func (m *metrics) observe(outcome string, took time.Duration) {
	m.process.WithLabelValues(outcome).Observe(took.Seconds())
}
