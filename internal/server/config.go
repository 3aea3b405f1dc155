// Package server wires anonjobd together: database, migrations, watch hub, gRPC server and the
// HTTP gateway, and runs them until shutdown.
package server

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/store"
)

// Config is everything anonjobd can be told. As with net/http, a zero field means its
// documented default (the Default* constants), except the few whose zero is a choice of its
// own (Dispatch off, JobRetention forever, RateLimit and MaxInflightUploadBytes unbounded):
// Defaults returns the configuration anonjobd runs with when told nothing. Start calls
// Validate.
type Config struct {
	// GRPCAddr is the gRPC listen address, e.g. ":9090". Empty: port DefaultGRPCPort, on
	// loopback only without TLS.
	GRPCAddr string
	// HTTPAddr is the REST gateway's and webhooks' listen address, e.g. ":8080". Empty: port
	// DefaultHTTPPort, on loopback only without TLS.
	HTTPAddr string
	// DatabaseURL is the PostgreSQL to use. Empty: run the embedded PostgreSQL in DataDir.
	DatabaseURL string
	// DataDir holds the embedded PostgreSQL, the built-in engine's files and other state.
	// Empty: DefaultDataDir.
	DataDir string
	// PGBinDir holds the PostgreSQL binaries for the embedded server. Empty: searched for.
	PGBinDir string
	// PublicURL is the base URL the provider reaches this service at, for callback URLs.
	// Empty: the HTTP listener's own address.
	PublicURL string
	// ProviderURL is a Celantur v1 compatible engine. Empty: run the built-in engine on
	// EngineAddr.
	ProviderURL string
	// ProviderURLs are further external engines, besides ProviderURL.
	ProviderURLs []string
	// EnginePublicURL is the URL the other replicas reach the built-in engine in process at,
	// under which it is registered. Empty: http://EngineAddr (loopback: one host only).
	EnginePublicURL string
	// EngineDeadAfter is how long an engine may go unheard before it gets no new work and its
	// jobs go to another engine. 0: DefaultEngineDeadAfter.
	EngineDeadAfter time.Duration
	// ProviderCredentials sign in to the engines at ProviderURL and ProviderURLs.
	ProviderCredentials celantur.Credentials
	// ProviderConcurrency is how many jobs the engine at ProviderURL takes at once. 0 asks it
	// (anonjob's engine tells), or else finds it from its 429 answers. The built-in engine in
	// process tells its own.
	ProviderConcurrency int
	// EngineAddr is the built-in engine's listen address. Empty: DefaultEngineAddr.
	EngineAddr string
	// DetectorDir holds the built-in engine's models and cascades. Empty: the installed ones.
	DetectorDir string
	// ONNXRuntimeLib is the built-in engine's ONNX Runtime library. Empty: the one in
	// DetectorDir.
	ONNXRuntimeLib string
	// FaceThreshold is the score (0 to 1) a face needs in the built-in engine. 0: the
	// engine's default.
	FaceThreshold float64
	// PersonThreshold is the score (0 to 1) a person needs in the built-in engine. 0: the
	// engine's default.
	PersonThreshold float64
	// VehicleThreshold is the score (0 to 1) a vehicle needs in the built-in engine. 0: the
	// engine's default.
	VehicleThreshold float64
	// DispatchConcurrency is how many uploads this replica has in flight at once, per engine.
	// 0: DefaultDispatchConcurrency.
	DispatchConcurrency int
	// Dispatch runs the dispatcher and reconciler, which hand jobs to the engine. Off (the
	// zero value; Defaults turns it on), this replica only accepts and tracks jobs.
	Dispatch bool
	// InputRetention is how long a job's image is kept after the job ended. 0 (the default)
	// deletes it then. Until its job ends an image is always kept: its engine may die and the
	// job go to another.
	InputRetention time.Duration
	// WebhookDeadline is how long a PROCESSING job waits for its webhook before the engine is
	// polled. 0: DefaultWebhookDeadline.
	WebhookDeadline time.Duration

	// GroupCommit bounds how concurrent CreateJob and transition calls share transactions;
	// zero fields mean store.DefaultGroupCommitBatch, store.DefaultGroupCommitWriters and
	// store.DefaultTransitionWriters.
	GroupCommit store.GroupCommit

	// MaxUploadBytes bounds one image. 0: DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// MaxDBConns is the database connection pool size. 0: DefaultMaxDBConns.
	MaxDBConns int32
	// Heartbeat is how often idle watch streams get a message. 0: DefaultHeartbeat.
	Heartbeat time.Duration
	// EventRetention is how long event history is kept for resuming watchers. 0:
	// DefaultEventRetention.
	EventRetention time.Duration
	// NotifyInterval is the most often a replica sends NOTIFY. 0: DefaultNotifyInterval.
	NotifyInterval time.Duration
	// ShutdownTimeout bounds Close: in-flight calls, work under way and every background
	// loop end within it. 0: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ShutdownGrace is how long an engine upload or a client webhook already under way may
	// go on once shutdown begins, rather than be cut off and repeated elsewhere; recording
	// its outcome comes within it too. It must be shorter than ShutdownTimeout. 0:
	// DefaultShutdownGrace, or four fifths of a ShutdownTimeout shorter than 10s.
	ShutdownGrace time.Duration
	// KeyCacheTTL is how long a checked API key is trusted without a database read: a revoked
	// key stops working within it. 0: DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
	// CallbackAllowCIDRs are networks a callback_url may lead to although they are private,
	// loopback or link-local (tests, private deployments); plain http is then allowed too.
	// Empty: none.
	CallbackAllowCIDRs []netip.Prefix
	// DeliverySchedule overrides the retry waits of client webhooks (tests). Empty: the
	// client webhook sender's default.
	DeliverySchedule []time.Duration
	// MaxWatchesPerCustomer bounds the concurrent WatchJobs streams of one customer. 0:
	// DefaultMaxWatchesPerCustomer.
	MaxWatchesPerCustomer int
	// WatchFanoutRate is the most watch batches a second the hub aims to hand out, summed over
	// all watchers: with many watchers, a stream of commits is read less often and sent in
	// larger batches (the gap between reads stays within 10ms and 100ms). 0: DefaultWatchFanoutRate.
	WatchFanoutRate float64
	// ReplicaID names this replica in the claims it takes; at start it releases the claims
	// recorded under it (left by a crash). Empty: kept in DataDir with the embedded database,
	// else made up per run. Two live processes must never share one.
	ReplicaID string
	// ClaimLease is how long a claimed job stays reserved without renewal: it bounds how soon
	// another replica takes over a dead one's jobs. It is renewed every third of it, so at
	// least MinClaimLease. 0: DefaultClaimLease.
	ClaimLease time.Duration
	// ReadyInterval is how often readiness (database, engine) is checked. 0:
	// DefaultReadyInterval.
	ReadyInterval time.Duration

	// JobRetention is how long a job is kept after it ended (DONE, FAILED or CANCELLED),
	// with its deliveries, their attempts and its webhook receipts. 0 keeps jobs forever;
	// Defaults sets DefaultJobRetention.
	JobRetention time.Duration

	// MaxImagePixels bounds an image's width times height, in the API and the built-in
	// engine alike. 0: limits.DefaultMaxImagePixels.
	MaxImagePixels int64
	// EngineImageTimeout is how long the built-in engine may work on one image before it
	// fails it. 0: limits.DefaultImageTimeout.
	EngineImageTimeout time.Duration
	// CORSOrigins are the browser origins allowed to call the REST API from another origin.
	// Empty allows none.
	CORSOrigins []string

	// TLSCert and TLSKey are PEM files: with them gRPC and HTTP serve TLS only, and the pair is
	// reloaded when the files change. Both or neither; empty: no TLS.
	TLSCert, TLSKey string
	// AllowInsecureListen lets gRPC and HTTP listen beyond loopback without TLS. Default off.
	AllowInsecureListen bool
	// SecretsKeyFile holds the key that seals secrets at rest. Empty: DATA_DIR/secrets.key
	// with the embedded database, none (secrets in clear) with another.
	SecretsKeyFile string
	// CallbackTokenTTL is how long a provider callback token is accepted; it must not be
	// shorter than WebhookDeadline. 0: DefaultCallbackTokenTTL.
	CallbackTokenTTL time.Duration
	// CallbackKeyRefresh is how often the callback keys are re-read to pick up a rotation.
	// 0: DefaultCallbackKeyRefresh.
	CallbackKeyRefresh time.Duration
	// CallbackAllowPorts are ports a callback_url may name besides 443 and 8443. Empty: none.
	CallbackAllowPorts []netguard.PortRange
	// MaxInflightUploadBytes bounds the bytes of uploads held at once over gRPC and REST;
	// an upload beyond it is refused with RESOURCE_EXHAUSTED / 429. It must hold one upload.
	// 0: no bound; Defaults sets DefaultMaxInflightUploadBytes.
	MaxInflightUploadBytes int64
	// RateLimit is the requests per second each customer may make on average, RateBurst at
	// once. RateLimit 0 turns the limit off; Defaults sets DefaultRateLimit and
	// DefaultRateBurst. RateBurst 0: one request.
	RateLimit float64
	RateBurst int
	// MetricsToken, if set, is the bearer token GET /metrics requires. Empty: open.
	MetricsToken string
	// GRPCMaxConcurrentStreams bounds the streams of one gRPC connection. 0:
	// DefaultGRPCMaxConcurrentStreams.
	GRPCMaxConcurrentStreams uint32
	// GRPCMaxConnectionIdle closes a connection without streams for that long (0:
	// DefaultGRPCMaxConnectionIdle); GRPCMaxConnectionAge (0: none) asks a client to
	// reconnect after that long, giving its calls GRPCMaxConnectionAgeGrace (0:
	// DefaultGRPCMaxConnectionAgeGrace) to finish.
	GRPCMaxConnectionIdle     time.Duration
	GRPCMaxConnectionAge      time.Duration
	GRPCMaxConnectionAgeGrace time.Duration

	// Log receives the server's log. nil: slog.Default().
	Log *slog.Logger
}
