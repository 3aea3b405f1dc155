// Command anonjobd is the anonjob server: the job API over gRPC and REST, the provider webhook
// receiver, and (with no --database-url) its own embedded PostgreSQL.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/server"
)

type cli struct {
	LogLevel  slog.Level `help:"Log level: debug, info, warn or error." default:"info" env:"ANONJOB_LOG_LEVEL"`
	LogFormat string     `help:"Log format: text or json." default:"text" enum:"text,json" env:"ANONJOB_LOG_FORMAT"`

	Serve   serveCmd   `cmd:"" default:"withargs" help:"Run the server (the default command)."`
	Engine  engineCmd  `cmd:"" help:"Run only the built-in anonymization engine, a Celantur v1 compatible HTTP server."`
	Keys    keysCmd    `cmd:"" help:"Manage API keys: create, list, revoke."`
	Engines enginesCmd `cmd:"" help:"Manage the engines the replicas share: list, add, drain, remove."`

	CallbackKey callbackKeyCmd `cmd:"" name:"callback-key" help:"Manage the key that signs the engine's callback URLs."`
}

type serveCmd struct {
	GRPCAddr            string        `name:"grpc-addr" help:"gRPC listen address; default 127.0.0.1:${grpc_port}, or :${grpc_port} with TLS." env:"ANONJOB_GRPC_ADDR"`
	HTTPAddr            string        `name:"http-addr" help:"HTTP (REST gateway and webhooks) listen address; default 127.0.0.1:${http_port}, or :${http_port} with TLS." env:"ANONJOB_HTTP_ADDR"`
	TLSCert             string        `name:"tls-cert" help:"PEM certificate (chain) for gRPC and HTTP; with --tls-key both serve TLS only. Reloaded when the file changes." env:"ANONJOB_TLS_CERT"`
	TLSKey              string        `name:"tls-key" help:"PEM private key of --tls-cert." env:"ANONJOB_TLS_KEY"`
	AllowInsecureListen bool          `name:"allow-insecure-listen" help:"Let gRPC and HTTP listen beyond loopback without TLS (a network you trust)." env:"ANONJOB_ALLOW_INSECURE_LISTEN"`
	DatabaseURL         string        `name:"database-url" help:"PostgreSQL URL; empty runs an embedded PostgreSQL in --data-dir." env:"DATABASE_URL"`
	DataDir             string        `name:"data-dir" help:"Folder for the embedded PostgreSQL and other state." default:"${data_dir}" env:"ANONJOB_DATA_DIR"`
	PGBinDir            string        `name:"pg-bin-dir" help:"PostgreSQL binaries for the embedded server; empty searches /usr/lib/postgresql and PATH." env:"ANONJOB_PG_BIN_DIR"`
	PublicURL           string        `name:"public-url" help:"Base URL the engine reaches this service at, for webhook callbacks; default http://localhost:<http port>." env:"ANONJOB_PUBLIC_URL"`
	ProviderURL         []string      `name:"provider-url" config:"ProviderURL,ProviderURLs" help:"Base URL of a Celantur v1 compatible engine (repeatable: several engines); none runs the built-in engine on --engine-addr. Credentials come from CELANTUR_USERNAME and CELANTUR_PASSWORD, or CELANTUR_TOKEN." env:"ANONJOB_PROVIDER_URL"`
	EnginePublicURL     string        `name:"engine-public-url" help:"URL the other replicas reach the built-in engine of this process at, under which it is registered; default http://<engine-addr>. A loopback URL is refused while a replica on another host shares the database." env:"ANONJOB_ENGINE_PUBLIC_URL"`
	EngineDeadAfter     time.Duration `name:"engine-dead-after" help:"How long an engine may go unanswering before it gets no new work and its processing jobs go to another engine." default:"${engine_dead_after}" env:"ANONJOB_ENGINE_DEAD_AFTER"`
	ProviderConcurrency int           `name:"provider-concurrency" help:"Jobs the engine at --provider-url takes at once (its workers and queue); 0 asks the engine, or finds it from its 429 answers." env:"ANONJOB_PROVIDER_CONCURRENCY"`
	EngineAddr          string        `name:"engine-addr" help:"Listen address of the built-in engine." default:"${engine_addr}" env:"ANONJOB_ENGINE_ADDR"`
	Dispatch            bool          `name:"dispatch" help:"Hand queued jobs to the engine and poll it for overdue ones (--no-dispatch: only accept and track jobs)." default:"true" negatable:"" env:"ANONJOB_DISPATCH"`
	InputRetention      time.Duration `name:"input-retention" help:"How long a job's image is kept after the job ended; 0 deletes it then. Until its job ends an image is always kept, for another engine if its engine dies." default:"0s" env:"ANONJOB_INPUT_RETENTION"`
	WebhookDeadline     time.Duration `name:"webhook-deadline" help:"How long a processing job waits for the engine's webhook before the engine is polled." default:"${webhook_deadline}" env:"ANONJOB_WEBHOOK_DEADLINE"`

	MaxUploadBytes        int64         `name:"max-upload-bytes" help:"Largest image accepted." default:"${max_upload_bytes}" env:"ANONJOB_MAX_UPLOAD_BYTES"`
	GroupCommitBatch      int           `name:"group-commit-batch" config:"GroupCommit.Batch" help:"Most CreateJob calls written in one transaction (1: each alone)." default:"${group_commit_batch}" env:"ANONJOB_GROUP_COMMIT_BATCH"`
	GroupCommitWriters    int           `name:"group-commit-writers" config:"GroupCommit.Writers" help:"CreateJob group transactions in flight at once; the calls that arrive meanwhile form the next group." default:"${group_commit_writers}" env:"ANONJOB_GROUP_COMMIT_WRITERS"`
	TransitionWriters     int           `name:"group-commit-transition-writers" config:"GroupCommit.TransitionWriters" help:"Job-transition group transactions (dispatch records, webhooks) in flight at once." default:"${transition_writers}" env:"ANONJOB_GROUP_COMMIT_TRANSITION_WRITERS"`
	MaxDBConns            int32         `name:"max-db-conns" help:"Database connection pool size." default:"${max_db_conns}" env:"ANONJOB_MAX_DB_CONNS"`
	Heartbeat             time.Duration `name:"heartbeat" help:"Interval of heartbeats on idle watch streams." default:"${heartbeat}" env:"ANONJOB_HEARTBEAT"`
	EventRetention        time.Duration `name:"event-retention" help:"How long job events are kept for resuming watchers." default:"${event_retention}" env:"ANONJOB_EVENT_RETENTION"`
	JobRetention          time.Duration `name:"job-retention" help:"How long a job is kept after it ended (done, failed or cancelled), with its webhook deliveries and their attempts; 0 keeps jobs forever." default:"${job_retention}" env:"ANONJOB_JOB_RETENTION"`
	CallbackAllowCIDR     []string      `name:"callback-allow-cidr" config:"CallbackAllowCIDRs" help:"A network a callback_url may lead to although private, loopback or link-local (repeatable; for tests and private deployments)." env:"ANONJOB_CALLBACK_ALLOW_CIDR"`
	KeyCacheTTL           time.Duration `name:"key-cache-ttl" help:"How long a checked API key is trusted before it is read again; a revoked key stops working within it." default:"${key_cache_ttl}" env:"ANONJOB_KEY_CACHE_TTL"`
	MaxWatchesPerCustomer int           `name:"max-watches-per-customer" help:"Concurrent watch streams one customer may hold." default:"${max_watches_per_customer}" env:"ANONJOB_MAX_WATCHES_PER_CUSTOMER"`
	WatchFanoutRate       float64       `name:"watch-fanout-rate" help:"Most watch batches a second handed out, summed over all watch streams: with many watchers a stream of commits is read less often, in larger batches (the gap between reads stays within 10ms and 100ms). Raise it on a machine with more cores." default:"${watch_fanout_rate}" env:"ANONJOB_WATCH_FANOUT_RATE"`
	ReplicaID             string        `name:"replica-id" help:"Stable name of this replica, unique among the live ones: at start it releases the job claims it held when it died. Empty: kept in --data-dir with the embedded database, else new per run." env:"ANONJOB_REPLICA_ID"`
	ClaimLease            time.Duration `name:"claim-lease" help:"How long a claimed job stays reserved without renewal (work under way renews it every third): bounds how soon a dead replica's jobs go to another." default:"${claim_lease}" env:"ANONJOB_CLAIM_LEASE"`
	CORSOrigin            []string      `name:"cors-origin" config:"CORSOrigins" help:"A browser origin (https://host[:port]) allowed to call the REST API from another origin, preflight included (repeatable; none by default)." env:"ANONJOB_CORS_ORIGINS"`
	SecretsKeyFile        string        `name:"secrets-key-file" help:"File with the key (64 hex digits) that encrypts secrets in the database; default with the embedded database: DATA_DIR/secrets.key, written the first time." env:"ANONJOB_SECRETS_KEY_FILE"`
	CallbackTokenTTL      time.Duration `name:"callback-token-ttl" help:"How long the token in a callback URL handed to the engine is accepted." default:"${callback_token_ttl}" env:"ANONJOB_CALLBACK_TOKEN_TTL"`
	securityFlags
	dispatchFlags
	detectorFlags
	imageFlags

	ShutdownTimeout time.Duration `name:"shutdown-timeout" help:"Bound of a shutdown: in-flight calls, uploads and webhooks under way, and every background loop end within it." default:"${shutdown_timeout}" env:"ANONJOB_SHUTDOWN_TIMEOUT"`
	ShutdownGrace   time.Duration `name:"shutdown-grace" help:"How long an engine upload or a client webhook under way may go on once shutdown begins, rather than be cut off and repeated; shorter than --shutdown-timeout. 0: ${shutdown_grace}, or four fifths of a shorter --shutdown-timeout." default:"0s" env:"ANONJOB_SHUTDOWN_GRACE"`
}

func (c *serveCmd) Run(log *slog.Logger) error {
	cfg, err := c.config(log)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return asFlags(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		return asFlags(err)
	}
	err = srv.Wait(ctx)
	log.Info("shutting down")
	srv.Close()
	return err
}

// config is the server's configuration from the flags; the server validates it.
func (c *serveCmd) config(log *slog.Logger) (server.Config, error) {
	cfg := server.Defaults()
	cfg.GRPCAddr, cfg.HTTPAddr = c.GRPCAddr, c.HTTPAddr
	cfg.DatabaseURL, cfg.DataDir, cfg.PGBinDir = c.DatabaseURL, c.DataDir, c.PGBinDir
	cfg.PublicURL, cfg.ProviderConcurrency = c.PublicURL, c.ProviderConcurrency
	if len(c.ProviderURL) > 0 {
		cfg.ProviderURL, cfg.ProviderURLs = c.ProviderURL[0], c.ProviderURL[1:]
	}
	cfg.EnginePublicURL, cfg.EngineDeadAfter = c.EnginePublicURL, c.EngineDeadAfter
	// Credentials only from the environment: flags show in process listings.
	cfg.ProviderCredentials = celantur.Credentials{Username: os.Getenv("CELANTUR_USERNAME"),
		Password: os.Getenv("CELANTUR_PASSWORD"), Token: os.Getenv("CELANTUR_TOKEN")}
	cfg.EngineAddr, cfg.DetectorDir, cfg.Dispatch, cfg.InputRetention = c.EngineAddr, c.DetectorDir, c.Dispatch, c.InputRetention
	cfg.WebhookDeadline = c.WebhookDeadline
	cfg.ONNXRuntimeLib, cfg.FaceThreshold = c.ONNXRuntimeLib, c.FaceThreshold
	cfg.PersonThreshold, cfg.VehicleThreshold = c.PersonThreshold, c.VehicleThreshold
	cfg.KeyCacheTTL, cfg.MaxWatchesPerCustomer = c.KeyCacheTTL, c.MaxWatchesPerCustomer
	cfg.WatchFanoutRate = c.WatchFanoutRate
	cfg.GroupCommit.Batch, cfg.GroupCommit.Writers = c.GroupCommitBatch, c.GroupCommitWriters
	cfg.GroupCommit.TransitionWriters = c.TransitionWriters
	cfg.JobRetention = c.JobRetention
	cfg.MaxImagePixels, cfg.EngineImageTimeout = c.MaxImagePixels, c.EngineImageTimeout
	cfg.ReplicaID, cfg.ClaimLease = c.ReplicaID, c.ClaimLease
	cfg.SecretsKeyFile, cfg.CallbackTokenTTL = c.SecretsKeyFile, c.CallbackTokenTTL
	cfg.TLSCert, cfg.TLSKey, cfg.AllowInsecureListen = c.TLSCert, c.TLSKey, c.AllowInsecureListen
	allow, err := netguard.ParseCIDRs(c.CallbackAllowCIDR)
	if err != nil {
		return cfg, fmt.Errorf("--callback-allow-cidr: %w", err)
	}
	cfg.CallbackAllowCIDRs = allow
	cfg.CORSOrigins = c.CORSOrigin
	cfg.DispatchConcurrency = c.DispatchConcurrency
	if err := c.securityFlags.apply(&cfg); err != nil {
		return cfg, err
	}
	cfg.MaxUploadBytes, cfg.MaxDBConns = c.MaxUploadBytes, c.MaxDBConns
	cfg.Heartbeat, cfg.EventRetention, cfg.ShutdownTimeout = c.Heartbeat, c.EventRetention, c.ShutdownTimeout
	cfg.ShutdownGrace = c.ShutdownGrace
	cfg.Log = log
	return cfg, nil
}

func main() {
	var c cli
	k := kong.Parse(&c, kong.Name("anonjobd"), defaultVars(),
		kong.Description("anonjob tracks image-anonymization jobs: gRPC and REST API, PostgreSQL job table, resumable watch streams."),
		kong.UsageOnError())
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(h)
	if err := k.Run(log); err != nil {
		log.Error("anonjobd failed", "err", err)
		fmt.Fprintln(os.Stderr, "anonjobd:", err)
		os.Exit(1)
	}
}
