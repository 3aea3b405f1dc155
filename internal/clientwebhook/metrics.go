package clientwebhook

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts delivery outcomes.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewMetrics registers the delivery metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonjob_webhook_delivery_attempts_total",
			Help: "Client webhook delivery attempts, by the state they left the delivery in and the response code (0: none).",
		}, []string{"state", "code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anonjob_webhook_delivery_seconds",
			Help:    "Duration of client webhook delivery attempts.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	reg.MustRegister(m.attempts, m.latency)
	return m
}

func (m *Metrics) observe(state string, code int, took time.Duration) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(state, strconv.Itoa(code)).Inc()
	m.latency.Observe(took.Seconds())
}
