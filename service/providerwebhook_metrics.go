package service

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// newWebhookCounter registers the count of webhooks received by outcome on reg; a nil reg
// counts nothing.
func newWebhookCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	if reg == nil {
		return nil
	}
	return promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Name: "anonjob_provider_webhooks_total",
		Help: "Provider webhooks received, by outcome: applied, duplicate, ignored, not_final, rejected (a bad payload or a failure) or forged (unknown job or bad token).",
	}, []string{"outcome"})
}

// count records one webhook; outcome is a WebhookOutcome name, "rejected" or "forged".
func (s *WebhookServer) count(outcome string) {
	if s.received == nil {
		return
	}
	s.received.WithLabelValues(strings.ToLower(strings.TrimPrefix(outcome, "WEBHOOK_OUTCOME_"))).Inc()
}
