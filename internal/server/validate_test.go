package server_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/server"
)

// fieldErrors are the fields err refuses.
func fieldErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*server.FieldError); ok { //nolint:errorlint // each joined error itself, not a chain
			out = append(out, fe.Field)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	slices.Sort(out)
	return out
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		set  func(*server.Config)
		want []string // refused fields; none: valid
		says string   // the limit the message names
	}{
		"defaults":   {set: func(*server.Config) {}},
		"zero value": {set: func(c *server.Config) { *c = server.Config{} }},
		"ports 0 and 65535": {set: func(c *server.Config) {
			c.GRPCAddr, c.HTTPAddr, c.EngineAddr = "127.0.0.1:0", "localhost:65535", "[::1]:8090"
		}},
		"port too big":        {set: func(c *server.Config) { c.HTTPAddr = "127.0.0.1:65536" }, want: []string{"HTTPAddr"}, says: "0 to 65535"},
		"named port":          {set: func(c *server.Config) { c.GRPCAddr = "127.0.0.1:grpc" }, want: []string{"GRPCAddr"}, says: "0 to 65535"},
		"no port":             {set: func(c *server.Config) { c.EngineAddr = "127.0.0.1" }, want: []string{"EngineAddr"}, says: "host:port"},
		"negative durations":  {set: func(c *server.Config) { c.Heartbeat, c.JobRetention = -time.Second, -time.Hour }, want: []string{"Heartbeat", "JobRetention"}, says: "negative"},
		"short lease":         {set: func(c *server.Config) { c.ClaimLease = 100 * time.Millisecond }, want: []string{"ClaimLease"}, says: "300ms"},
		"grace past timeout":  {set: func(c *server.Config) { c.ShutdownTimeout, c.ShutdownGrace = time.Second, 2*time.Second }, want: []string{"ShutdownGrace"}, says: "shorter than ShutdownTimeout (1s)"},
		"grace fits timeout":  {set: func(c *server.Config) { c.ShutdownTimeout, c.ShutdownGrace = time.Second, 0 }},
		"token before poll":   {set: func(c *server.Config) { c.CallbackTokenTTL = time.Minute }, want: []string{"CallbackTokenTTL"}, says: "WebhookDeadline (2m0s)"},
		"budget below upload": {set: func(c *server.Config) { c.MaxInflightUploadBytes = 1 << 20 }, want: []string{"MaxInflightUploadBytes"}, says: "at least 26279936"},
		"no budget":           {set: func(c *server.Config) { c.MaxInflightUploadBytes = 0 }},
		"negative counts": {set: func(c *server.Config) {
			c.ProviderConcurrency, c.MaxDBConns, c.RateBurst, c.GroupCommit.Batch = -1, -1, -1, -1
		}, want: []string{"GroupCommit.Batch", "MaxDBConns", "ProviderConcurrency", "RateBurst"}},
		"fan-out rate":         {set: func(c *server.Config) { c.WatchFanoutRate = math.Inf(1) }, want: []string{"WatchFanoutRate"}, says: "above 0"},
		"NaN fan-out":          {set: func(c *server.Config) { c.WatchFanoutRate = math.NaN() }, want: []string{"WatchFanoutRate"}, says: "above 0"},
		"negative fan-out":     {set: func(c *server.Config) { c.WatchFanoutRate = -1 }, want: []string{"WatchFanoutRate"}, says: "above 0"},
		"face threshold":       {set: func(c *server.Config) { c.FaceThreshold = 1.5 }, want: []string{"FaceThreshold"}, says: "0 to 1"},
		"cert without key":     {set: func(c *server.Config) { c.TLSCert = "x.pem" }, want: []string{"TLSKey"}, says: "both or neither"},
		"clear off loopback":   {set: func(c *server.Config) { c.GRPCAddr = ":9090" }, want: []string{"GRPCAddr"}, says: "AllowInsecureListen"},
		"allowed off loopback": {set: func(c *server.Config) { c.GRPCAddr, c.AllowInsecureListen = ":9090", true }},
		"engine off loopback":  {set: func(c *server.Config) { c.EngineAddr = "0.0.0.0:8090" }, want: []string{"EngineAddr"}, says: "loopback"},
		"engine elsewhere":     {set: func(c *server.Config) { c.EngineAddr, c.ProviderURL = "0.0.0.0:8090", "https://engine.example.com" }},
		"relative url":         {set: func(c *server.Config) { c.PublicURL = "/callbacks" }, want: []string{"PublicURL"}, says: "absolute"},
		"clear provider":       {set: func(c *server.Config) { c.ProviderURL = "http://engine.example.com" }, want: []string{"ProviderURL"}, says: "https"},
		"origin with a path":   {set: func(c *server.Config) { c.CORSOrigins = []string{"https://ok.example", "https://x.example/ui"} }, want: []string{"CORSOrigins[1]"}, says: "origin"},
		"bad schedule":         {set: func(c *server.Config) { c.DeliverySchedule = []time.Duration{time.Second, 0} }, want: []string{"DeliverySchedule[1]"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := server.Defaults()
			c.set(&cfg)
			err := cfg.Validate()
			if got := fieldErrors(err); !slices.Equal(got, c.want) {
				t.Fatalf("refused %v, want %v (%v)", got, c.want, err)
			}
			if c.says != "" && !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q does not say %q", err, c.says)
			}
		})
	}
}
