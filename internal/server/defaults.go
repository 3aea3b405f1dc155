package server

import (
	"log/slog"
	"time"

	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/watch"
	"github.com/anonjob/anonjob/service"
)

// Defaults of Config, and the defaults of anonjobd's flags, which read them.
const (
	// DefaultGRPCPort and DefaultHTTPPort are the ports of an empty GRPCAddr and HTTPAddr.
	DefaultGRPCPort = "9090"
	DefaultHTTPPort = "8080"
	// DefaultDataDir is the state folder, relative to the working directory.
	DefaultDataDir = "anonjob-data"
	// DefaultEngineAddr keeps the built-in engine, which has no TLS, on loopback.
	DefaultEngineAddr = "127.0.0.1:8090"
	// DefaultWebhookDeadline is how long a PROCESSING job waits for its webhook before the
	// engine is polled.
	DefaultWebhookDeadline = 2 * time.Minute
	// DefaultEngineDeadAfter is how long an engine may go unheard before its jobs go to
	// another engine.
	DefaultEngineDeadAfter = 30 * time.Second
	// DefaultDispatchConcurrency is how many uploads a replica has in flight at once, per
	// engine (each engine's told capacity bounds it further).
	DefaultDispatchConcurrency = 32
	// DefaultMaxUploadBytes bounds one image: 25 MiB.
	DefaultMaxUploadBytes = limits.DefaultMaxImageBytes
	// DefaultMaxDBConns is the database pool size.
	DefaultMaxDBConns = 32
	// DefaultHeartbeat is the interval of heartbeats on idle watch streams.
	DefaultHeartbeat = service.DefaultHeartbeat
	// DefaultEventRetention keeps a week of event history for resuming watchers.
	DefaultEventRetention = 7 * 24 * time.Hour
	// DefaultNotifyInterval is the most often a replica sends NOTIFY: often enough for
	// prompt watchers elsewhere, rare enough not to serialize writers on NOTIFY's lock.
	DefaultNotifyInterval = 5 * time.Millisecond
	// DefaultShutdownTimeout bounds a shutdown.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultShutdownGrace is how long an upload or a client webhook under way may go on once
	// shutdown begins; it leaves the rest of DefaultShutdownTimeout to the listeners and the
	// database. A shorter ShutdownTimeout gets four fifths of it.
	DefaultShutdownGrace = 8 * time.Second
	// DefaultKeyCacheTTL is how long a checked API key is trusted without a database read.
	DefaultKeyCacheTTL = 10 * time.Second
	// DefaultMaxWatchesPerCustomer bounds the concurrent watch streams of one customer.
	DefaultMaxWatchesPerCustomer = 100
	// DefaultWatchFanoutRate is the most watch batches a second the hub aims to hand out,
	// summed over the watchers.
	DefaultWatchFanoutRate = watch.DefaultFanoutRate
	// DefaultClaimLease is how long a claimed job stays reserved without renewal.
	DefaultClaimLease = 15 * time.Second
	// MinClaimLease is the shortest ClaimLease: it is renewed every third of it, and a
	// renewal is a database round trip.
	MinClaimLease = 300 * time.Millisecond
	// DefaultReadyInterval is how often readiness is checked.
	DefaultReadyInterval = time.Second
	// DefaultJobRetention keeps ended jobs for 30 days.
	DefaultJobRetention = 30 * 24 * time.Hour
	// DefaultCallbackTokenTTL is how long a provider callback token is accepted.
	DefaultCallbackTokenTTL = providerhook.DefaultTokenTTL
	// DefaultCallbackKeyRefresh is how often callback keys are re-read for a rotation.
	DefaultCallbackKeyRefresh = time.Minute
	// DefaultMaxInflightUploadBytes bounds the upload bytes held at once: 512 MiB.
	DefaultMaxInflightUploadBytes = 512 << 20
	// DefaultRateLimit and DefaultRateBurst are each customer's request rate (per second)
	// and burst.
	DefaultRateLimit = 100
	DefaultRateBurst = 200
	// DefaultGRPCMaxConcurrentStreams bounds the streams of one gRPC connection.
	DefaultGRPCMaxConcurrentStreams = 256
	// DefaultGRPCMaxConnectionIdle closes a gRPC connection without streams.
	DefaultGRPCMaxConnectionIdle = 15 * time.Minute
	// DefaultGRPCMaxConnectionAgeGrace is what open calls get once a connection is too old.
	DefaultGRPCMaxConnectionAgeGrace = time.Minute
	// DefaultGroupCommitBatch bounds the CreateJob calls one transaction writes.
	DefaultGroupCommitBatch = store.DefaultGroupCommitBatch
	// DefaultGroupCommitWriters and DefaultTransitionWriters bound the group transactions in
	// flight at once, of CreateJob calls and of job transitions.
	DefaultGroupCommitWriters = store.DefaultGroupCommitWriters
	DefaultTransitionWriters  = store.DefaultTransitionWriters
	// DefaultMaxImagePixels and DefaultEngineImageTimeout are the image limits' defaults.
	DefaultMaxImagePixels     = limits.DefaultMaxImagePixels
	DefaultEngineImageTimeout = limits.DefaultImageTimeout
)

// Defaults returns the configuration anonjobd runs with when told nothing: every default
// filled in (but ShutdownGrace, which follows ShutdownTimeout), and dispatch, job retention,
// the rate limit and the upload budget on.
func Defaults() Config {
	c := Config{
		Dispatch:               true,
		JobRetention:           DefaultJobRetention,
		MaxInflightUploadBytes: DefaultMaxInflightUploadBytes,
		RateLimit:              DefaultRateLimit,
		RateBurst:              DefaultRateBurst,
	}
	c = c.withDefaults()
	// Left to follow whatever ShutdownTimeout the caller sets.
	c.ShutdownGrace = 0
	return c
}

// withDefaults fills in the zero fields that stand for a default. Negative values stay, for
// Validate to refuse.
func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	str(&c.DataDir, DefaultDataDir)
	str(&c.EngineAddr, DefaultEngineAddr)
	set(&c.WebhookDeadline, DefaultWebhookDeadline)
	set(&c.EngineDeadAfter, DefaultEngineDeadAfter)
	if c.DispatchConcurrency == 0 {
		c.DispatchConcurrency = DefaultDispatchConcurrency
	}
	if c.GroupCommit.Batch == 0 {
		c.GroupCommit.Batch = DefaultGroupCommitBatch
	}
	if c.GroupCommit.Writers == 0 {
		c.GroupCommit.Writers = DefaultGroupCommitWriters
	}
	if c.GroupCommit.TransitionWriters == 0 {
		c.GroupCommit.TransitionWriters = DefaultTransitionWriters
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.MaxDBConns == 0 {
		c.MaxDBConns = DefaultMaxDBConns
	}
	set(&c.Heartbeat, DefaultHeartbeat)
	set(&c.EventRetention, DefaultEventRetention)
	set(&c.NotifyInterval, DefaultNotifyInterval)
	set(&c.ShutdownTimeout, DefaultShutdownTimeout)
	// A shorter timeout than the default gets a grace period in the same proportion.
	set(&c.ShutdownGrace, min(DefaultShutdownGrace, c.ShutdownTimeout*4/5))
	set(&c.KeyCacheTTL, DefaultKeyCacheTTL)
	if c.MaxWatchesPerCustomer == 0 {
		c.MaxWatchesPerCustomer = DefaultMaxWatchesPerCustomer
	}
	if c.WatchFanoutRate == 0 {
		c.WatchFanoutRate = DefaultWatchFanoutRate
	}
	set(&c.ClaimLease, DefaultClaimLease)
	set(&c.ReadyInterval, DefaultReadyInterval)
	if c.MaxImagePixels == 0 {
		c.MaxImagePixels = DefaultMaxImagePixels
	}
	set(&c.EngineImageTimeout, DefaultEngineImageTimeout)
	set(&c.CallbackTokenTTL, DefaultCallbackTokenTTL)
	set(&c.CallbackKeyRefresh, DefaultCallbackKeyRefresh)
	if c.GRPCMaxConcurrentStreams == 0 {
		c.GRPCMaxConcurrentStreams = DefaultGRPCMaxConcurrentStreams
	}
	set(&c.GRPCMaxConnectionIdle, DefaultGRPCMaxConnectionIdle)
	set(&c.GRPCMaxConnectionAgeGrace, DefaultGRPCMaxConnectionAgeGrace)
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}
