package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/anonjob/anonjob/internal/httpapi"
)

// A FieldError is a Config field whose value Validate refuses, and the limit it breaks.
// Field and any field named in Problem are Config field names, for a caller to map to its
// own (anonjobd maps them to flags).
type FieldError struct {
	Field   string
	Value   string // the refused value, as written in Error
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Field, e.Value, e.Problem)
}

// Validate reports every field of c that Start would refuse, as FieldErrors joined with
// errors.Join: values out of range, and settings that contradict one another. Zero fields
// are checked as the defaults they stand for.
func (c Config) Validate() error {
	d := c.withDefaults()
	return errors.Join(slices.Concat(
		c.addrErrors(d),
		c.listenSecurityErrors(d),
		c.urlErrors(),
		c.limitErrors(d),
		c.durationErrors(),
		c.originErrors(),
		c.timeoutErrors(d),
		c.uploadBudgetErrors(d),
	)...)
}

func (c Config) addrErrors(d Config) []error {
	var v validator
	v.addr("GRPCAddr", c.GRPCAddr)
	v.addr("HTTPAddr", c.HTTPAddr)
	v.addr("EngineAddr", d.EngineAddr)
	return v.errs
}

// listenSecurityErrors refuses a half-given TLS pair, and plain listeners off loopback
// unless AllowInsecureListen says the network is trusted.
func (c Config) listenSecurityErrors(d Config) []error {
	var v validator
	if (c.TLSCert == "") != (c.TLSKey == "") {
		field, val := "TLSKey", c.TLSKey
		if c.TLSCert == "" {
			field, val = "TLSCert", c.TLSCert
		}
		v.fail(field, strconv.Quote(val), "TLSCert and TLSKey go together: give both or neither")
	}
	if c.AllowInsecureListen {
		return v.errs
	}
	if c.TLSCert == "" {
		for _, a := range []struct{ field, addr string }{{"GRPCAddr", c.GRPCAddr}, {"HTTPAddr", c.HTTPAddr}} {
			if a.addr != "" && offLoopback(a.addr) {
				v.fail(a.field, strconv.Quote(a.addr), "not a loopback address and there is no TLS: "+
					"give TLSCert and TLSKey, or AllowInsecureListen for a network you trust")
			}
		}
	}
	// The built-in engine speaks plain HTTP with a password of this run.
	if c.ProviderURL == "" && len(c.ProviderURLs) == 0 && c.Dispatch && offLoopback(d.EngineAddr) {
		v.fail("EngineAddr", strconv.Quote(d.EngineAddr), "not a loopback address and the built-in engine "+
			"has no TLS: keep it on loopback, or give AllowInsecureListen")
	}
	return v.errs
}

func (c Config) urlErrors() []error {
	var v validator
	v.url("PublicURL", c.PublicURL, false)
	// An engine's URL may be plain http between machines on a network the operator trusts:
	// the built-in engine has no TLS.
	v.url("ProviderURL", c.ProviderURL, c.AllowInsecureListen)
	for i, u := range c.ProviderURLs {
		v.url(fmt.Sprintf("ProviderURLs[%d]", i), u, c.AllowInsecureListen)
	}
	v.url("EnginePublicURL", c.EnginePublicURL, c.AllowInsecureListen)
	return v.errs
}

// limitErrors checks the counts, sizes, rates and scores, each on its own.
func (c Config) limitErrors(d Config) []error {
	var v validator
	v.atLeast("DispatchConcurrency", int64(c.DispatchConcurrency), 0, "want 1 or more (0: the default)")
	v.atLeast("ProviderConcurrency", int64(c.ProviderConcurrency), 0, "0 (ask the engine) or more")
	for _, f := range []struct {
		name  string
		score float64
	}{{"FaceThreshold", c.FaceThreshold}, {"PersonThreshold", c.PersonThreshold}, {"VehicleThreshold", c.VehicleThreshold}} {
		if f.score < 0 || f.score > 1 {
			v.fail(f.name, fmt.Sprint(f.score), "want a score from 0 to 1 (0: the default)")
		}
	}
	v.atLeast("GroupCommit.Batch", int64(c.GroupCommit.Batch), 0, "want 1 or more (0: the default)")
	v.atLeast("GroupCommit.Writers", int64(c.GroupCommit.Writers), 0, "want 1 or more (0: the default)")
	v.atLeast("GroupCommit.TransitionWriters", int64(c.GroupCommit.TransitionWriters), 0, "want 1 or more (0: the default)")
	v.atLeast("MaxUploadBytes", d.MaxUploadBytes, 0, "want 1 or more (0: the default)")
	v.atLeast("MaxDBConns", int64(d.MaxDBConns), 0, "want 1 or more (0: the default)")
	v.atLeast("MaxWatchesPerCustomer", int64(d.MaxWatchesPerCustomer), 0, "want 1 or more (0: the default)")
	if r := d.WatchFanoutRate; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		v.fail("WatchFanoutRate", fmt.Sprint(d.WatchFanoutRate), "want batches per second above 0 (0: the default)")
	}
	v.atLeast("MaxImagePixels", d.MaxImagePixels, 0, "want 1 or more (0: the default)")
	v.atLeast("MaxInflightUploadBytes", c.MaxInflightUploadBytes, 0, "want 0 (no bound) or more")
	v.atLeast("RateBurst", int64(c.RateBurst), 0, "want 0 or more")
	if c.RateLimit < 0 {
		v.fail("RateLimit", fmt.Sprint(c.RateLimit), "want 0 (no limit) or more")
	}
	return v.errs
}

func (c Config) durationErrors() []error {
	var v validator
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"InputRetention", c.InputRetention}, {"WebhookDeadline", c.WebhookDeadline},
		{"EngineDeadAfter", c.EngineDeadAfter},
		{"Heartbeat", c.Heartbeat}, {"EventRetention", c.EventRetention},
		{"NotifyInterval", c.NotifyInterval}, {"ShutdownTimeout", c.ShutdownTimeout},
		{"ShutdownGrace", c.ShutdownGrace}, {"KeyCacheTTL", c.KeyCacheTTL},
		{"ClaimLease", c.ClaimLease}, {"ReadyInterval", c.ReadyInterval},
		{"JobRetention", c.JobRetention}, {"EngineImageTimeout", c.EngineImageTimeout},
		{"CallbackTokenTTL", c.CallbackTokenTTL}, {"CallbackKeyRefresh", c.CallbackKeyRefresh},
		{"GRPCMaxConnectionIdle", c.GRPCMaxConnectionIdle}, {"GRPCMaxConnectionAge", c.GRPCMaxConnectionAge},
		{"GRPCMaxConnectionAgeGrace", c.GRPCMaxConnectionAgeGrace},
	} {
		if f.d < 0 {
			v.fail(f.name, f.d.String(), "must not be negative")
		}
	}
	return v.errs
}

func (c Config) originErrors() []error {
	var v validator
	for i, o := range c.CORSOrigins {
		if err := httpapi.CheckOrigin(o); err != nil {
			v.fail(fmt.Sprintf("CORSOrigins[%d]", i), strconv.Quote(o), "want an origin such as https://console.example.com (scheme, host, optional port; no path)")
		}
	}
	return v.errs
}

// timeoutErrors checks the waits that have a floor, and those that must fit one another.
func (c Config) timeoutErrors(d Config) []error {
	var v validator
	for i, w := range c.DeliverySchedule {
		if w <= 0 {
			v.fail(fmt.Sprintf("DeliverySchedule[%d]", i), w.String(), "want a positive wait")
		}
	}
	if c.EngineDeadAfter > 0 && c.EngineDeadAfter < time.Second {
		v.fail("EngineDeadAfter", c.EngineDeadAfter.String(), "want at least 1s (0: the default)")
	}
	if d.ClaimLease > 0 && d.ClaimLease < MinClaimLease {
		v.fail("ClaimLease", d.ClaimLease.String(), fmt.Sprintf("want at least %s (it is renewed every third of it)", MinClaimLease))
	}
	if d.ShutdownTimeout > 0 && d.ShutdownGrace >= d.ShutdownTimeout {
		v.fail("ShutdownGrace", d.ShutdownGrace.String(), fmt.Sprintf("must be shorter than ShutdownTimeout (%s), which bounds the whole shutdown", d.ShutdownTimeout))
	}
	if d.WebhookDeadline > 0 && d.CallbackTokenTTL > 0 && d.CallbackTokenTTL < d.WebhookDeadline {
		v.fail("CallbackTokenTTL", d.CallbackTokenTTL.String(), fmt.Sprintf("must not be shorter than WebhookDeadline (%s): "+
			"the engine's webhooks would be refused before the job is polled", d.WebhookDeadline))
	}
	return v.errs
}

func (c Config) uploadBudgetErrors(d Config) []error {
	var v validator
	if b, need := c.MaxInflightUploadBytes, d.MaxUploadBytes+maxMessageOverhead; b > 0 && d.MaxUploadBytes > 0 && b < need {
		v.fail("MaxInflightUploadBytes", fmt.Sprint(b), fmt.Sprintf("must hold one upload: at least %d (MaxUploadBytes plus 64 KiB)", need))
	}
	return v.errs
}

// maxMessageOverhead is what a gRPC upload message carries besides the image.
const maxMessageOverhead = 64 << 10

type validator struct{ errs []error }

func (v *validator) fail(field, value, problem string) {
	v.errs = append(v.errs, &FieldError{Field: field, Value: value, Problem: problem})
}

func (v *validator) atLeast(field string, n, least int64, want string) {
	if n < least {
		v.fail(field, strconv.FormatInt(n, 10), want)
	}
}

// addr checks a listen address: host:port with a port from 0 (any) to 65535.
func (v *validator) addr(field, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(field, strconv.Quote(addr), "want host:port")
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.fail(field, strconv.Quote(addr), "want a port from 0 to 65535")
	}
}

// offLoopback reports whether a well-formed listen address binds beyond loopback (a malformed
// one is refused on its own).
func offLoopback(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil && !loopbackAddr(addr)
}

// url checks a base URL: absolute http or https, and https unless on loopback or plainOK.
func (v *validator) url(field, raw string, plainOK bool) {
	if raw == "" {
		return
	}
	p, err := url.Parse(raw)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		v.fail(field, strconv.Quote(raw), "must be an absolute http or https URL")
		return
	}
	if p.Scheme != "https" && !loopbackHost(p.Hostname()) && !plainOK {
		v.fail(field, strconv.Quote(raw), "must be https unless it is a loopback address")
	}
}
