// Package metrics builds the Prometheus registry that anonjobd serves at /metrics and the
// collectors that read state on scrape rather than on every request.
package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process collectors. One registry is
// made per server and passed through wiring, so two servers in one process (tests, replicas)
// never share or clash over the global default.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// PoolCollector reports a pgxpool's statistics. pool.Stat is a cheap in-memory snapshot, so it
// is read on each scrape.
type PoolCollector struct {
	pool                                                  *pgxpool.Pool
	acquired, idle, total, max, constructing              *prometheus.Desc
	acquireCount, acquireDuration, emptyAcquire, canceled *prometheus.Desc
	newConns, lifetimeDestroy, idleDestroy                *prometheus.Desc
}

// NewPoolCollector describes pool's statistics under the pgxpool_ prefix.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc("pgxpool_"+name, help, nil, nil) }
	return &PoolCollector{
		pool:            pool,
		acquired:        d("acquired_conns", "Connections currently acquired from the pool."),
		idle:            d("idle_conns", "Idle connections in the pool."),
		total:           d("total_conns", "Connections in the pool (acquired, idle and being built)."),
		max:             d("max_conns", "The pool's maximum size."),
		constructing:    d("constructing_conns", "Connections being established."),
		acquireCount:    d("acquires_total", "Successful acquires from the pool."),
		acquireDuration: d("acquire_duration_seconds_total", "Time spent in successful acquires."),
		emptyAcquire:    d("empty_acquires_total", "Acquires that had to wait for a connection."),
		canceled:        d("canceled_acquires_total", "Acquires cancelled by their context."),
		newConns:        d("new_conns_total", "Connections opened."),
		lifetimeDestroy: d("max_lifetime_destroys_total", "Connections closed for exceeding their lifetime."),
		idleDestroy:     d("max_idle_destroys_total", "Connections closed for being idle too long."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.constructing, c.acquireCount,
		c.acquireDuration, c.emptyAcquire, c.canceled, c.newConns, c.lifetimeDestroy, c.idleDestroy} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.acquired, float64(s.AcquiredConns()))
	g(c.idle, float64(s.IdleConns()))
	g(c.total, float64(s.TotalConns()))
	g(c.max, float64(s.MaxConns()))
	g(c.constructing, float64(s.ConstructingConns()))
	n(c.acquireCount, float64(s.AcquireCount()))
	n(c.acquireDuration, s.AcquireDuration().Seconds())
	n(c.emptyAcquire, float64(s.EmptyAcquireCount()))
	n(c.canceled, float64(s.CanceledAcquireCount()))
	n(c.newConns, float64(s.NewConnsCount()))
	n(c.lifetimeDestroy, float64(s.MaxLifetimeDestroyCount()))
	n(c.idleDestroy, float64(s.MaxIdleDestroyCount()))
}
