package enginepool

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the pool's families: whether each engine answers this replica, and the jobs
// handed over from dead engines.
type metrics struct {
	up       *prometheus.GaugeVec
	handedOf *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		up: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anonjob_pool_engine_up",
			Help: "1 when the engine answered this replica's last heartbeat question, else 0, by engine id.",
		}, []string{"engine"}),
		handedOf: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anonjob_pool_jobs_handed_over_total",
			Help: "Processing jobs of a dead engine this replica queued again for another engine, by the dead engine's id.",
		}, []string{"engine"}),
	}
}

func (m *metrics) setUp(engine string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(engine).Set(v)
}

func (m *metrics) forget(engine string) {
	if m != nil {
		m.up.DeleteLabelValues(engine)
	}
}

func (m *metrics) handedOver(engine string, n int) {
	if m != nil && n > 0 {
		m.handedOf.WithLabelValues(engine).Add(float64(n))
	}
}
