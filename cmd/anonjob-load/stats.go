package main

import (
	"fmt"
	"slices"
	"time"
)

// samples is a set of latencies. Percentiles come from the sorted samples themselves (nearest
// rank), so they are exact rather than bucketed.
type samples []time.Duration

// merge concatenates per-worker sample sets and sorts the result.
func merge(parts ...samples) samples {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	all := make(samples, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all
}

// percentile returns the nearest-rank p-th percentile of sorted samples, 0 when empty.
func (s samples) percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	rank := int(p / 100 * float64(len(s)))
	if float64(rank) < p/100*float64(len(s)) {
		rank++ // ceil
	}
	return s[min(max(rank, 1), len(s))-1]
}

// summary is the usual line: p50, p90, p99 and max of sorted samples.
func (s samples) summary() string {
	if len(s) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(s.percentile(50)), ms(s.percentile(90)),
		ms(s.percentile(99)), ms(s[len(s)-1]))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
