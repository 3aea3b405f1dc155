package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/telemetry"
)

type engineCmd struct {
	Addr      string `help:"Listen address." default:"${engine_addr}" env:"ANONJOB_ENGINE_ADDR"`
	DataDir   string `name:"data-dir" help:"Folder for uploaded and produced files." default:"anonjob-engine-data" env:"ANONJOB_ENGINE_DATA_DIR"`
	PublicURL string `name:"public-url" help:"Base URL of the *_link fields; default http://<addr>." env:"ANONJOB_ENGINE_PUBLIC_URL"`
	Workers   int    `help:"Images processed at once; 0: one per CPU." env:"ANONJOB_ENGINE_WORKERS"`

	ShutdownTimeout time.Duration `name:"shutdown-timeout" help:"How long requests under way get at shutdown." default:"${shutdown_timeout}" env:"ANONJOB_ENGINE_SHUTDOWN_TIMEOUT"`
	detectorFlags
	imageFlags
}

// imageFlags are the limits of one image, shared by serve (the API and the built-in engine)
// and engine.
type imageFlags struct {
	MaxImagePixels     int64         `name:"max-image-pixels" help:"Largest image accepted, in pixels (width times height), by the API and the built-in engine alike." default:"${max_image_pixels}" env:"ANONJOB_MAX_IMAGE_PIXELS"`
	EngineImageTimeout time.Duration `name:"engine-image-timeout" help:"How long the built-in engine may work on one image before it fails it." default:"${engine_image_timeout}" env:"ANONJOB_ENGINE_IMAGE_TIMEOUT"`
}

func (f imageFlags) limits() (limits.Image, error) {
	if f.MaxImagePixels <= 0 {
		return limits.Image{}, fmt.Errorf("--max-image-pixels %d: want a positive number", f.MaxImagePixels)
	}
	if f.EngineImageTimeout <= 0 {
		return limits.Image{}, fmt.Errorf("--engine-image-timeout %v: want a positive duration", f.EngineImageTimeout)
	}
	return limits.Image{MaxPixels: f.MaxImagePixels, Timeout: f.EngineImageTimeout}, nil
}

// detectorFlags are the built-in engine's detector settings, shared by serve and engine.
type detectorFlags struct {
	DetectorDir      string  `name:"detector-dir" help:"Models and cascades of the built-in engine (scripts/install-detector-data.sh); empty: /usr/local/share/anonjob/detectors." env:"ANONJOB_DETECTOR_DIR"`
	ONNXRuntimeLib   string  `name:"onnxruntime-lib" help:"ONNX Runtime shared library of the built-in engine; empty: libonnxruntime.so.1 in --detector-dir." env:"ANONJOB_ONNXRUNTIME_LIB"`
	FaceThreshold    float64 `name:"face-threshold" help:"Score (0-1) a face needs in the built-in engine; lower masks more. 0: the default, 0.25." env:"ANONJOB_FACE_THRESHOLD"`
	PersonThreshold  float64 `name:"person-threshold" help:"Score (0-1) a person needs in the built-in engine; lower masks more. 0: the default, 0.17." env:"ANONJOB_PERSON_THRESHOLD"`
	VehicleThreshold float64 `name:"vehicle-threshold" help:"Score (0-1) a vehicle needs in the built-in engine (it is also where plates are searched closely); lower masks more. 0: the default, 0.2." env:"ANONJOB_VEHICLE_THRESHOLD"`
}

// Run serves the engine alone. Sign-in accepts ANONJOB_ENGINE_USERNAME and
// ANONJOB_ENGINE_PASSWORD, read from the environment only so they never show in process lists.
func (c *engineCmd) Run(log *slog.Logger) error {
	user, pass := os.Getenv("ANONJOB_ENGINE_USERNAME"), os.Getenv("ANONJOB_ENGINE_PASSWORD")
	if user == "" || pass == "" {
		return errors.New("set ANONJOB_ENGINE_USERNAME and ANONJOB_ENGINE_PASSWORD: the credentials POST /v1/signin accepts")
	}
	lim, err := c.limits()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	public := c.PublicURL
	if public == "" {
		public = "http://" + lis.Addr().String()
	}
	log = slog.New(telemetry.LogHandler(log.Handler()))
	tel, err := telemetry.New(ctx, "anonjob-engine")
	if err != nil {
		_ = lis.Close()
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(fctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	eng, err := engine.New(ctx, engine.Config{DataDir: c.DataDir, Username: user, Password: pass,
		PublicURL: public, Workers: c.Workers, DetectorDir: c.DetectorDir, ONNXRuntimeLib: c.ONNXRuntimeLib,
		FaceThreshold: c.FaceThreshold, PersonThreshold: c.PersonThreshold, VehicleThreshold: c.VehicleThreshold,
		Limits: lim, Logger: log, TracerProvider: tel.TracerProvider()})
	if err != nil {
		_ = lis.Close()
		return err
	}
	srv := engine.NewHTTPServer(tel.HTTPHandler(eng.Handler(), "engine", "/v1/capacity"))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("engine listening", "addr", lis.Addr().String(), "public_url", public)
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if cerr := eng.Close(); err == nil || errors.Is(err, http.ErrServerClosed) {
		err = cerr
	}
	return err
}
