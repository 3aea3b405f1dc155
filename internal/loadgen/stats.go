package loadgen

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Samples is a set of latencies. Percentiles come from the sorted samples themselves (nearest
// rank), so they are exact rather than bucketed.
type Samples []time.Duration

// Merge concatenates sample sets (one per worker, say) and sorts the result.
func Merge(parts ...Samples) Samples {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	all := make(Samples, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all
}

// Percentile returns the nearest-rank p-th percentile of sorted samples, 0 when empty.
func (s Samples) Percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	rank := int(p / 100 * float64(len(s)))
	if float64(rank) < p/100*float64(len(s)) {
		rank++ // ceil
	}
	return s[min(max(rank, 1), len(s))-1]
}

// Max returns the largest of sorted samples, 0 when empty.
func (s Samples) Max() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// Summary is the usual line: p50, p90, p99 and max of sorted samples.
func (s Samples) Summary() string {
	if len(s) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", Ms(s.Percentile(50)), Ms(s.Percentile(90)),
		Ms(s.Percentile(99)), Ms(s.Max()))
}

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// PerSecond is n per d, 0 when d is not positive.
func PerSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Collector gathers sample sets from concurrent workers. The zero value is ready to use.
type Collector struct {
	mu    sync.Mutex
	parts []Samples
}

// Add records one worker's samples; it is safe for concurrent use.
func (c *Collector) Add(s Samples) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parts = append(c.parts, s)
}

// Merged returns everything added so far, sorted.
func (c *Collector) Merged() Samples {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Merge(c.parts...)
}
