package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/enginepool"
	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// startProvider sets up the engine pool: this replica's configured engines (those of
// --provider-url, or else the built-in engine, started in process on EngineAddr with
// credentials made up for this run and registered under EnginePublicURL) join the engines in
// the database, and with dispatch on the pool runs a dispatcher and a reconciler per engine
// (started by startBackground).
func (s *Server) startProvider(ctx context.Context) error {
	pcfg := enginepool.Config{DeadAfter: s.cfg.EngineDeadAfter, Dispatching: s.cfg.Dispatch,
		InputRetention: s.cfg.InputRetention, Metrics: s.Metrics, Log: s.cfg.Log.With("component", "engines"),
		WrapTransport: s.tel.Transport}
	creds := s.cfg.ProviderCredentials
	for _, u := range s.providerURLs() {
		pcfg.External = append(pcfg.External, enginepool.Endpoint{URL: u, Credentials: creds, Capacity: s.cfg.ProviderConcurrency})
	}
	if s.cfg.EnginePublicURL != "" && (len(pcfg.External) > 0 || !s.cfg.Dispatch) {
		return errors.New("EnginePublicURL names the built-in engine in this process, which runs only with Dispatch on and no ProviderURL")
	}
	if len(pcfg.External) == 0 && s.cfg.Dispatch {
		base, creds, err := s.startEngine(ctx)
		if err != nil {
			return err
		}
		pcfg.Local = &enginepool.Endpoint{URL: base, Credentials: creds, Capacity: s.engine.Capacity()}
	}
	public, err := url.Parse(s.cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("public url: %w", err)
	}
	// Images stay until their job ends: any engine may die and its jobs go to another.
	pcfg.Dispatch = dispatch.Config{PublicURL: public, KeepInput: true, WebhookDeadline: s.cfg.WebhookDeadline,
		Concurrency: s.cfg.DispatchConcurrency, Owner: s.cfg.ReplicaID, Lease: s.cfg.ClaimLease, Metrics: dispatch.NewMetrics(s.Metrics),
		Tracer: s.tel.TracerProvider(), Grace: s.cfg.ShutdownGrace}
	s.engines = enginepool.New(s.Store, s.Signer, pcfg)
	return s.engines.Register(ctx)
}

// providerURLs are the external engines this replica is configured with.
func (s *Server) providerURLs() []string {
	var out []string
	if s.cfg.ProviderURL != "" {
		out = append(out, s.cfg.ProviderURL)
	}
	return append(out, s.cfg.ProviderURLs...)
}

func (s *Server) startEngine(ctx context.Context) (string, celantur.Credentials, error) {
	creds := celantur.Credentials{Username: "anonjobd", Password: randomSecret()}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.cfg.EngineAddr)
	if err != nil {
		return "", creds, fmt.Errorf("listen on EngineAddr: %w", err)
	}
	base := "http://" + lis.Addr().String()
	if s.cfg.EnginePublicURL != "" {
		base = strings.TrimRight(s.cfg.EnginePublicURL, "/")
	}
	eng, err := engine.New(ctx, engine.Config{
		DataDir: filepath.Join(s.cfg.DataDir, "engine"), Username: creds.Username, Password: creds.Password,
		PublicURL: base, Logger: s.cfg.Log, DetectorDir: s.cfg.DetectorDir, ONNXRuntimeLib: s.cfg.ONNXRuntimeLib,
		FaceThreshold: s.cfg.FaceThreshold, PersonThreshold: s.cfg.PersonThreshold, VehicleThreshold: s.cfg.VehicleThreshold,
		Limits: s.imageLimits(), WebhookClient: s.engineWebhookClient(),
		Metrics: s.Metrics, TracerProvider: s.tel.TracerProvider(),
	})
	if errors.Is(err, onnxrt.ErrUnavailable) {
		_ = lis.Close()
		return "", creds, fmt.Errorf("built-in engine: %w, or turn Dispatch off", err)
	}
	if err != nil {
		_ = lis.Close()
		return "", creds, fmt.Errorf("built-in engine: %w (install its detector data with "+
			"scripts/install-detector-data.sh, or give a ProviderURL, or turn Dispatch off)", err)
	}
	s.engine = eng
	s.engineHTTP = engine.NewHTTPServer(s.tel.HTTPHandler(eng.Handler(), "engine", "/v1/capacity"))
	go func() { s.serveErr <- s.engineHTTP.Serve(lis) }()
	s.cfg.Log.Info("built-in engine listening", "addr", lis.Addr().String(), "public_url", base)
	return base, creds, nil
}

// imageLimits is the one set of image limits the API and the built-in engine both read.
func (s *Server) imageLimits() limits.Image {
	return limits.Image{MaxBytes: s.cfg.MaxUploadBytes, MaxPixels: s.cfg.MaxImagePixels,
		Timeout: s.cfg.EngineImageTimeout}.WithDefaults()
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
