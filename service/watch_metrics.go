package service

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/anonjob/anonjob/internal/watch"
)

// watchMetrics are the watch stream families; a nil *watchMetrics records nothing.
type watchMetrics struct {
	open    prometheus.Gauge
	cutOffs *prometheus.CounterVec
}

// newWatchMetrics registers the watch stream families on reg; a nil reg counts nothing.
func newWatchMetrics(reg prometheus.Registerer) *watchMetrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &watchMetrics{
		open: f.NewGauge(prometheus.GaugeOpts{Name: "anonjob_watch_streams_open", Help: "WatchJobs streams open."}),
		cutOffs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anonjob_watch_cutoffs_total",
			Help: "Watch streams the server ended, by reason: too_slow (fell behind), shutting_down, error.",
		}, []string{"reason"}),
	}
}

func (m *watchMetrics) opened(delta float64) {
	if m != nil {
		m.open.Add(delta)
	}
}

func (m *watchMetrics) cutOff(err error) {
	if m == nil {
		return
	}
	reason := "error"
	switch {
	case errors.Is(err, watch.ErrTooSlow):
		reason = "too_slow"
	case errors.Is(err, watch.ErrClosed):
		reason = "shutting_down"
	}
	m.cutOffs.WithLabelValues(reason).Inc()
}
