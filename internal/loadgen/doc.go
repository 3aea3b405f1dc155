// Package loadgen is the load-generating machinery shared by the anonjob-load command and the
// server benchmarks: a closed loop of workers, an open-loop event driver, a fan-out of
// WatchJobs streams, the raw insert baseline and exact latency percentiles. It measures and
// returns figures; reporting them is up to the caller.
package loadgen
