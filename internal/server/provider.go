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

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// startProvider connects to the engine: the one at ProviderURL, or else the built-in engine,
// started in process on EngineAddr with credentials made up for this run. With dispatch on,
// it also makes the dispatcher and the reconciler (started by startBackground).
func (s *Server) startProvider(ctx context.Context) error {
	providerURL, creds, capacity := s.cfg.ProviderURL, s.cfg.ProviderCredentials, s.cfg.ProviderConcurrency
	if providerURL == "" {
		if !s.cfg.Dispatch {
			return nil // nothing will reach an engine: do not start one
		}
		var err error
		if providerURL, creds, err = s.startEngine(ctx); err != nil {
			return err
		}
		capacity = s.engine.Capacity()
	}
	client, err := celantur.New(celantur.Config{BaseURL: providerURL, Credentials: creds,
		Logger: s.cfg.Log})
	if err != nil {
		return fmt.Errorf("ProviderURL: %w", err)
	}
	s.provider = client
	if !s.cfg.Dispatch {
		return nil
	}
	public, err := url.Parse(s.cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("public url: %w", err)
	}
	dcfg := dispatch.Config{PublicURL: public, KeepInput: s.cfg.InputRetention > 0, WebhookDeadline: s.cfg.WebhookDeadline,
		Capacity: capacity, Owner: s.cfg.ReplicaID, Lease: s.cfg.ClaimLease, Metrics: dispatch.NewMetrics(s.Metrics),
		Grace: s.cfg.ShutdownGrace}
	s.dispatcher = dispatch.NewDispatcher(s.Store, client, s.Signer, dcfg, s.cfg.Log.With("component", "dispatcher"))
	s.reconciler = dispatch.NewReconciler(s.Store, client, dcfg, s.cfg.Log.With("component", "reconciler"))
	return nil
}

func (s *Server) startEngine(ctx context.Context) (string, celantur.Credentials, error) {
	creds := celantur.Credentials{Username: "anonjobd", Password: randomSecret()}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.cfg.EngineAddr)
	if err != nil {
		return "", creds, fmt.Errorf("listen on EngineAddr: %w", err)
	}
	base := "http://" + lis.Addr().String()
	eng, err := engine.New(ctx, engine.Config{
		DataDir: filepath.Join(s.cfg.DataDir, "engine"), Username: creds.Username, Password: creds.Password,
		PublicURL: base, Logger: s.cfg.Log, DetectorDir: s.cfg.DetectorDir, ONNXRuntimeLib: s.cfg.ONNXRuntimeLib,
		FaceThreshold: s.cfg.FaceThreshold, Limits: s.imageLimits(), WebhookClient: s.engineWebhookClient(),
		Metrics: s.Metrics,
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
	s.engineHTTP = engine.NewHTTPServer(eng.Handler())
	go func() { s.serveErr <- s.engineHTTP.Serve(lis) }()
	s.cfg.Log.Info("built-in engine listening", "addr", lis.Addr().String())
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
