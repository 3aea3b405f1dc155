package main

import (
	"fmt"
	"time"

	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/server"
)

// securityFlags bound what one client can cost and what the service reveals.
type securityFlags struct {
	MaxInflightUploadBytes int64         `name:"max-inflight-upload-bytes" help:"Bytes of uploads held at once over gRPC and REST; more answers RESOURCE_EXHAUSTED / 429 (0: no bound)." default:"${max_inflight_upload_bytes}" env:"ANONJOB_MAX_INFLIGHT_UPLOAD_BYTES"`
	RateLimit              float64       `name:"rate-limit" help:"Requests per second each customer (API key) may make on average; more answer 429 with Retry-After / RESOURCE_EXHAUSTED (0: no limit)." default:"${rate_limit}" env:"ANONJOB_RATE_LIMIT"`
	RateBurst              int           `name:"rate-burst" help:"Requests a customer may make at once above --rate-limit." default:"${rate_burst}" env:"ANONJOB_RATE_BURST"`
	MetricsToken           string        `name:"metrics-token" help:"Bearer token GET /metrics requires (empty: open). Prefer the environment variable: flags show in process listings." env:"ANONJOB_METRICS_TOKEN"`
	CallbackAllowPort      []string      `name:"callback-allow-port" config:"CallbackAllowPorts" help:"A port or range (8000-8999) a callback_url may name besides 443 and 8443 (repeatable)." env:"ANONJOB_CALLBACK_ALLOW_PORT"`
	GRPCMaxStreams         uint32        `name:"grpc-max-concurrent-streams" config:"GRPCMaxConcurrentStreams" help:"Concurrent streams of one gRPC connection." default:"${grpc_max_concurrent_streams}" env:"ANONJOB_GRPC_MAX_CONCURRENT_STREAMS"`
	GRPCMaxConnIdle        time.Duration `name:"grpc-max-connection-idle" config:"GRPCMaxConnectionIdle" help:"Close a gRPC connection without calls after this long." default:"${grpc_max_connection_idle}" env:"ANONJOB_GRPC_MAX_CONNECTION_IDLE"`
	GRPCMaxConnAge         time.Duration `name:"grpc-max-connection-age" config:"GRPCMaxConnectionAge" help:"Ask gRPC clients to reconnect after this long (0: never); open calls get --grpc-max-connection-age-grace, then watches end and resume elsewhere." default:"0s" env:"ANONJOB_GRPC_MAX_CONNECTION_AGE"`
	GRPCMaxConnAgeGrace    time.Duration `name:"grpc-max-connection-age-grace" config:"GRPCMaxConnectionAgeGrace" help:"Time open calls get after --grpc-max-connection-age." default:"${grpc_max_connection_age_grace}" env:"ANONJOB_GRPC_MAX_CONNECTION_AGE_GRACE"`
}

func (f securityFlags) apply(cfg *server.Config) error {
	ports, err := netguard.ParsePorts(f.CallbackAllowPort)
	if err != nil {
		return fmt.Errorf("--callback-allow-port: %w", err)
	}
	cfg.CallbackAllowPorts = ports
	cfg.MaxInflightUploadBytes, cfg.RateLimit, cfg.RateBurst = f.MaxInflightUploadBytes, f.RateLimit, f.RateBurst
	cfg.MetricsToken = f.MetricsToken
	cfg.GRPCMaxConcurrentStreams, cfg.GRPCMaxConnectionIdle = f.GRPCMaxStreams, f.GRPCMaxConnIdle
	cfg.GRPCMaxConnectionAge, cfg.GRPCMaxConnectionAgeGrace = f.GRPCMaxConnAge, f.GRPCMaxConnAgeGrace
	return nil
}
