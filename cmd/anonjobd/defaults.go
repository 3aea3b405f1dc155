package main

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/anonjob/anonjob/internal/server"
)

// defaultVars are the flags' defaults, read from server's constants through kong's ${name}
// interpolation, so that the flags and server.Defaults cannot drift apart.
func defaultVars() kong.Vars {
	d := func(v time.Duration) string { return v.String() }
	return kong.Vars{
		"data_dir":                      server.DefaultDataDir,
		"engine_addr":                   server.DefaultEngineAddr,
		"webhook_deadline":              d(server.DefaultWebhookDeadline),
		"engine_dead_after":             d(server.DefaultEngineDeadAfter),
		"dispatch_concurrency":          fmt.Sprint(server.DefaultDispatchConcurrency),
		"max_upload_bytes":              fmt.Sprint(server.DefaultMaxUploadBytes),
		"group_commit_batch":            fmt.Sprint(server.DefaultGroupCommitBatch),
		"group_commit_writers":          fmt.Sprint(server.DefaultGroupCommitWriters),
		"transition_writers":            fmt.Sprint(server.DefaultTransitionWriters),
		"max_db_conns":                  fmt.Sprint(server.DefaultMaxDBConns),
		"heartbeat":                     d(server.DefaultHeartbeat),
		"event_retention":               d(server.DefaultEventRetention),
		"job_retention":                 d(server.DefaultJobRetention),
		"key_cache_ttl":                 d(server.DefaultKeyCacheTTL),
		"max_watches_per_customer":      fmt.Sprint(server.DefaultMaxWatchesPerCustomer),
		"watch_fanout_rate":             fmt.Sprint(server.DefaultWatchFanoutRate),
		"claim_lease":                   d(server.DefaultClaimLease),
		"callback_token_ttl":            d(server.DefaultCallbackTokenTTL),
		"shutdown_timeout":              d(server.DefaultShutdownTimeout),
		"shutdown_grace":                d(server.DefaultShutdownGrace),
		"max_inflight_upload_bytes":     fmt.Sprint(server.DefaultMaxInflightUploadBytes),
		"rate_limit":                    fmt.Sprint(server.DefaultRateLimit),
		"rate_burst":                    fmt.Sprint(server.DefaultRateBurst),
		"grpc_max_concurrent_streams":   fmt.Sprint(server.DefaultGRPCMaxConcurrentStreams),
		"grpc_max_connection_idle":      d(server.DefaultGRPCMaxConnectionIdle),
		"grpc_max_connection_age_grace": d(server.DefaultGRPCMaxConnectionAgeGrace),
		"max_image_pixels":              fmt.Sprint(server.DefaultMaxImagePixels),
		"engine_image_timeout":          d(server.DefaultEngineImageTimeout),
		"grpc_port":                     server.DefaultGRPCPort,
		"http_port":                     server.DefaultHTTPPort,
	}
}

// configFlags names the flag of each server.Config field that has one, for errors: read from
// serveCmd's fields, each the flag of the Config field of its own name or of the ones its config
// tag names, so that a new flag cannot be missed here.
func configFlags() map[string]string {
	config := reflect.TypeFor[server.Config]()
	flags := map[string]string{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[serveCmd]()) {
		name, ok := f.Tag.Lookup("name")
		if !ok || f.Anonymous {
			continue
		}
		fields := []string{f.Name}
		if tag, ok := f.Tag.Lookup("config"); ok {
			fields = strings.Split(tag, ",")
		} else if _, ok := config.FieldByName(f.Name); !ok {
			continue
		}
		for _, field := range fields {
			flags[field] = "--" + name
		}
	}
	return flags
}

// flagError is an error of the server whose Config field names are told as flags.
type flagError struct{ err error }

func (e flagError) Error() string {
	flags := configFlags()
	// Longest first, so that GRPCMaxConnectionAgeGrace is not read as GRPCMaxConnectionAge.
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, regexp.QuoteMeta(n))
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	fields := regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\b`)
	return fields.ReplaceAllStringFunc(e.err.Error(), func(n string) string { return flags[n] })
}

func (e flagError) Unwrap() error { return e.err }

// asFlags tells err in flag names; nil stays nil.
func asFlags(err error) error {
	if err == nil || errors.As(err, new(flagError)) {
		return err
	}
	return flagError{err}
}
