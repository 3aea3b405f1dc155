// Package server wires anonjobd together: database, migrations, watch hub, gRPC server and the
// HTTP gateway, and runs them until shutdown.
package server

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/store"
)

// Config is everything anonjobd can be told.
type Config struct {
	GRPCAddr    string // e.g. ":9090"; empty: port 9090, on loopback only without TLS
	HTTPAddr    string // e.g. ":8080"; empty: port 8080, on loopback only without TLS
	DatabaseURL string // empty: run the embedded PostgreSQL in DataDir
	DataDir     string
	PGBinDir    string // PostgreSQL binaries for the embedded server; empty: search
	// PublicURL is the base URL the provider reaches this service at, for callback URLs.
	PublicURL string
	// ProviderURL is a Celantur v1 compatible engine; empty runs the built-in engine on
	// EngineAddr.
	ProviderURL string
	// ProviderURLs are further external engines, besides ProviderURL.
	ProviderURLs []string
	// EnginePublicURL is the URL the other replicas reach the built-in engine in process at,
	// under which it is registered; empty: http://EngineAddr (loopback: one host only).
	EnginePublicURL string
	// EngineDeadAfter is how long an engine may go unheard before it gets no new work and its
	// jobs go to another engine; 0: 30s.
	EngineDeadAfter     time.Duration
	ProviderCredentials celantur.Credentials
	// ProviderConcurrency is how many jobs the engine at ProviderURL takes at once; 0 asks it
	// (anonjob's engine tells), or else finds it from its 429 answers. The built-in engine in
	// process tells its own.
	ProviderConcurrency int
	EngineAddr          string
	DetectorDir         string  // the built-in engine's models and cascades; empty: the installed ones
	ONNXRuntimeLib      string  // the built-in engine's ONNX Runtime library; empty: the one in DetectorDir
	FaceThreshold       float64 // score a face needs in the built-in engine; 0: the default
	PersonThreshold     float64 // score a person needs in the built-in engine; 0: the default
	VehicleThreshold    float64 // score a vehicle needs in the built-in engine; 0: the default
	// DispatchConcurrency is how many uploads this replica has in flight at once; 0 takes the
	// dispatcher's default (8; anonjobd's --dispatch-concurrency defaults to 32).
	DispatchConcurrency int
	// Dispatch runs the dispatcher and reconciler, which hand jobs to the engine. Off, this
	// replica only accepts and tracks jobs.
	Dispatch bool
	// InputRetention is how long a job's image is kept after the job ended; 0 deletes it then.
	// Until its job ends an image is always kept: its engine may die and the job go to another.
	InputRetention time.Duration
	// WebhookDeadline is how long a PROCESSING job waits for its webhook before the engine is
	// polled.
	WebhookDeadline time.Duration

	// GroupCommit bounds how concurrent CreateJob calls share a transaction; zero fields mean
	// store.DefaultGroupCommitBatch and store.DefaultGroupCommitWriters.
	GroupCommit store.GroupCommit

	MaxUploadBytes  int64
	MaxDBConns      int32
	Heartbeat       time.Duration // idle watch streams get a message this often
	EventRetention  time.Duration // event history kept for resuming watchers
	NotifyInterval  time.Duration // the most often a replica sends NOTIFY
	ShutdownTimeout time.Duration
	// KeyCacheTTL is how long a checked API key is trusted without a database read: a revoked
	// key stops working within it.
	KeyCacheTTL time.Duration
	// CallbackAllowCIDRs are networks a callback_url may lead to although they are private,
	// loopback or link-local (tests, private deployments); plain http is then allowed too.
	CallbackAllowCIDRs []netip.Prefix
	// DeliverySchedule overrides the retry waits of client webhooks (tests); empty: the default.
	DeliverySchedule []time.Duration
	// MaxWatchesPerCustomer bounds the concurrent WatchJobs streams of one customer.
	MaxWatchesPerCustomer int
	// ReplicaID names this replica in the claims it takes; at start it releases the claims
	// recorded under it (left by a crash). Empty: kept in DataDir with the embedded database,
	// else made up per run. Two live processes must never share one.
	ReplicaID string
	// ClaimLease is how long a claimed job stays reserved without renewal: it bounds how soon
	// another replica takes over a dead one's jobs.
	ClaimLease time.Duration
	// ReadyInterval is how often readiness (database, engine) is checked.
	ReadyInterval time.Duration

	// JobRetention is how long a job is kept after it ended (DONE, FAILED or CANCELLED),
	// with its deliveries, their attempts and its webhook receipts; 0 keeps jobs forever.
	JobRetention time.Duration

	// MaxImagePixels bounds an image's width times height, in the API and the built-in
	// engine alike; 0: limits.DefaultMaxImagePixels.
	MaxImagePixels int64
	// EngineImageTimeout is how long the built-in engine may work on one image before it
	// fails it; 0: limits.DefaultImageTimeout.
	EngineImageTimeout time.Duration
	// CORSOrigins are the browser origins allowed to call the REST API from another origin;
	// empty allows none.
	CORSOrigins []string

	// TLSCert and TLSKey are PEM files: with them gRPC and HTTP serve TLS only, and the pair is
	// reloaded when the files change.
	TLSCert, TLSKey string
	// AllowInsecureListen lets gRPC and HTTP listen beyond loopback without TLS.
	AllowInsecureListen bool
	// SecretsKeyFile holds the key that seals secrets at rest; empty: DATA_DIR/secrets.key with
	// the embedded database, none (secrets in clear) with another.
	SecretsKeyFile string
	// CallbackTokenTTL is how long a provider callback token is accepted; 0: a day.
	CallbackTokenTTL time.Duration
	// CallbackKeyRefresh is how often the callback keys are re-read to pick up a rotation;
	// 0: a minute.
	CallbackKeyRefresh time.Duration
	// CallbackAllowPorts are ports a callback_url may name besides 443 and 8443.
	CallbackAllowPorts []netguard.PortRange
	// MaxInflightUploadBytes bounds the bytes of uploads held at once over gRPC and REST;
	// an upload beyond it is refused with RESOURCE_EXHAUSTED / 429. 0: no bound.
	MaxInflightUploadBytes int64
	// RateLimit is the requests per second each customer may make on average, RateBurst at
	// once; 0 turns the limit off.
	RateLimit float64
	RateBurst int
	// MetricsToken, if set, is the bearer token GET /metrics requires.
	MetricsToken string
	// GRPCMaxConcurrentStreams bounds the streams of one gRPC connection.
	GRPCMaxConcurrentStreams uint32
	// GRPCMaxConnectionIdle closes a connection without streams for that long;
	// GRPCMaxConnectionAge (0: none) asks a client to reconnect after that long, giving its
	// calls GRPCMaxConnectionAgeGrace to finish.
	GRPCMaxConnectionIdle     time.Duration
	GRPCMaxConnectionAge      time.Duration
	GRPCMaxConnectionAgeGrace time.Duration

	Log *slog.Logger
}

// Defaults returns the configuration anonjobd runs with when told nothing.
func Defaults() Config {
	return Config{
		EngineAddr:      "127.0.0.1:8090",
		Dispatch:        true,
		WebhookDeadline: 2 * time.Minute,
		DataDir:         "anonjob-data",
		MaxUploadBytes:  25 << 20,
		MaxDBConns:      32,
		Heartbeat:       15 * time.Second,
		EventRetention:  7 * 24 * time.Hour,
		NotifyInterval:  5 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		KeyCacheTTL:     10 * time.Second,
		ClaimLease:      15 * time.Second,
		ReadyInterval:   time.Second,

		MaxWatchesPerCustomer: 100,
		JobRetention:          30 * 24 * time.Hour,
		MaxImagePixels:        limits.DefaultMaxImagePixels,
		EngineImageTimeout:    limits.DefaultImageTimeout,
		Log:                   slog.Default(),

		MaxInflightUploadBytes:    512 << 20,
		RateLimit:                 100,
		RateBurst:                 200,
		GRPCMaxConcurrentStreams:  256,
		GRPCMaxConnectionIdle:     15 * time.Minute,
		GRPCMaxConnectionAgeGrace: time.Minute,
	}
}
