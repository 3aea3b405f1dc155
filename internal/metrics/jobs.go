package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonjob/anonjob/internal/store"
)

// JobStatser reads the job table's snapshot.
type JobStatser interface {
	JobStats(ctx context.Context) (store.JobStats, error)
}

// jobStatuses are reported even when no job has them, so a rate or an alert on a status never
// sees the series vanish.
var jobStatuses = [...]string{"QUEUED", "PROCESSING", "DONE", "FAILED", "CANCELLED"}

// JobsCollector reports jobs by status, the queue's length and the age of its oldest job. It
// runs one query per scrape at most every ttl, bounded by timeout, so frequent or concurrent
// scrapes cost the database one query.
type JobsCollector struct {
	src          JobStatser
	log          *slog.Logger
	ttl, timeout time.Duration
	now          func() time.Time
	jobs, queued *prometheus.Desc
	oldest       *prometheus.Desc

	mu   sync.Mutex
	last store.JobStats
	at   time.Time
	ok   bool
}

// NewJobsCollector reads src at most once a second, each read bounded to two seconds.
func NewJobsCollector(src JobStatser, log *slog.Logger) *JobsCollector {
	return &JobsCollector{
		src: src, log: log, ttl: time.Second, timeout: 2 * time.Second, now: time.Now,
		jobs:   prometheus.NewDesc("anonjob_jobs", "Jobs in the database by status.", []string{"status"}, nil),
		queued: prometheus.NewDesc("anonjob_jobs_queued", "Jobs waiting to be sent to the engine.", nil, nil),
		oldest: prometheus.NewDesc("anonjob_jobs_oldest_queued_age_seconds", "How long the oldest queued job has waited; 0 when none is queued.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *JobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.queued
	ch <- c.oldest
}

// Collect implements prometheus.Collector. When the database cannot answer the job families
// are left out of the scrape (their absence is the signal) rather than failing it whole.
func (c *JobsCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.read()
	if !ok {
		return
	}
	for _, s := range jobStatuses {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(st.ByStatus[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.ByStatus["QUEUED"]))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestQueued.Seconds())
}

func (c *JobsCollector) read() (store.JobStats, bool) {
	c.mu.Lock() // concurrent scrapes wait for one query rather than each running theirs
	defer c.mu.Unlock()
	if c.ok && c.now().Sub(c.at) < c.ttl {
		return c.last, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.src.JobStats(ctx)
	if err != nil {
		c.log.Warn("metrics: job stats", "err", err)
		c.ok = false
		return store.JobStats{}, false
	}
	c.last, c.at, c.ok = st, c.now(), true
	return st, true
}
