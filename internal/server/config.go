// Package server wires anonjobd together: database, migrations, watch hub, gRPC server and the
// HTTP gateway, and runs them until shutdown.
package server

import (
	"log/slog"
	"time"
)

// Config is everything anonjobd can be told.
type Config struct {
	GRPCAddr    string // e.g. ":9090"
	HTTPAddr    string // e.g. ":8080"
	DatabaseURL string // empty: run the embedded PostgreSQL in DataDir
	DataDir     string
	PGBinDir    string // PostgreSQL binaries for the embedded server; empty: search
	// PublicURL is the base URL the provider reaches this service at, for callback URLs.
	PublicURL   string
	ProviderURL string

	MaxUploadBytes  int64
	MaxDBConns      int32
	Heartbeat       time.Duration // idle watch streams get a message this often
	EventRetention  time.Duration // event history kept for resuming watchers
	NotifyInterval  time.Duration // the most often a replica sends NOTIFY
	ShutdownTimeout time.Duration

	Log *slog.Logger
}

// Defaults returns the configuration anonjobd runs with when told nothing.
func Defaults() Config {
	return Config{
		GRPCAddr:        ":9090",
		HTTPAddr:        ":8080",
		DataDir:         "anonjob-data",
		MaxUploadBytes:  25 << 20,
		MaxDBConns:      32,
		Heartbeat:       15 * time.Second,
		EventRetention:  7 * 24 * time.Hour,
		NotifyInterval:  5 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		Log:             slog.Default(),
	}
}
