// Package engine is anonjob's built-in anonymization engine: an HTTP server
// speaking the Celantur v1 protocol (sign-in, upload, status, downloads,
// list, delete, completion webhooks) that detects and hides faces, licence plates, persons
// and vehicles itself, so anonjob works with no hosted provider.
package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/detectors"
	"github.com/anonjob/anonjob/internal/limits"
)

// Config configures an Engine. DataDir, Username, Password and PublicURL
// are required.
type Config struct {
	DataDir   string // where files are kept
	Username  string // sign-in credentials accepted by POST /v1/signin
	Password  string
	PublicURL string // base URL used in *_link fields, e.g. "http://127.0.0.1:8090"
	// Workers is the number of images processed at once; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// QueueSize is how many accepted uploads may wait for a worker before
	// uploads are refused with 429; 0 means 16 per worker.
	QueueSize int
	// MaxUploadBytes bounds an upload body; 0 means Limits.MaxBytes.
	MaxUploadBytes int64
	// Limits bound each image: its pixels (checked at upload), its working memory and how
	// long it may take (checked while processing); zero fields are the defaults of package
	// limits, which the API reads too.
	Limits limits.Image

	Logger *slog.Logger

	// Retention is how long files are kept (their delete_time); 0 means 24h.
	Retention time.Duration
	// Detectors find faces, persons, vehicles and plates; nil ones open the installed set
	// (package detectors) from DetectorDir and ONNXRuntimeLib, with the thresholds.
	Detectors        *anonymize.Detectors
	DetectorDir      string
	ONNXRuntimeLib   string
	FaceThreshold    float64
	PersonThreshold  float64
	VehicleThreshold float64
	// WebhookClient posts completion webhooks; nil means a client with a
	// 10 s timeout that does not follow redirects.
	WebhookClient *http.Client
	// WebhookAttempts is the number of delivery attempts; 0 means 5.
	WebhookAttempts uint
	// WebhookInitialInterval is the first retry delay, doubling after each
	// attempt; 0 means 1 s.
	WebhookInitialInterval time.Duration
	// Metrics, if set, gets the engine's queue, worker and processing-time families.
	Metrics prometheus.Registerer

	// TracerProvider records each file's processing and webhook in the trace its upload
	// came with (traceparent); nil records none.
	TracerProvider trace.TracerProvider
}

// Engine is a running engine. Create it with New and stop it with Close.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	store     *store
	auth      *tokens
	detectors anonymize.Detectors
	owned     *detectors.Set // opened by New, closed by Close
	queue     chan string
	metrics   *metrics

	ctx    context.Context // cancelled by Close: stops webhooks and detection
	cancel context.CancelFunc

	mu      sync.Mutex // guards closed and sends on queue
	closed  bool
	stop    chan struct{} // closed by Close: workers take no new job
	workers sync.WaitGroup
	hooks   sync.WaitGroup // webhook deliveries and background resumption
}

// New opens (or creates) the data directory, loads the detector and starts
// the worker pool. Files left queued or processing by a previous run are
// processed again; ctx bounds the engine's background work like Close.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.DataDir == "" || cfg.Username == "" || cfg.Password == "" || cfg.PublicURL == "" {
		return nil, errors.New("engine: DataDir, Username, Password and PublicURL are required")
	}
	cfg = cfg.withDefaults()
	dets, owned, err := openDetectors(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	st, err := openStore(cfg.DataDir)
	if err != nil {
		if owned != nil {
			err = errors.Join(err, owned.Close())
		}
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "engine"),
		store:     st,
		auth:      newTokens(),
		detectors: dets,
		owned:     owned,
		queue:     make(chan string, cfg.QueueSize),
		stop:      make(chan struct{}),
	}
	e.metrics = newMetrics(cfg.Metrics, e)
	e.start(ctx)
	return e, nil
}

// withDefaults fills in the zero fields of c as Config documents them. Limits come before
// MaxUploadBytes, whose default is one of them.
func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 16 * c.Workers
	}
	c.Limits = c.Limits.WithDefaults()
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = c.Limits.MaxBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.WebhookClient == nil {
		c.WebhookClient = defaultWebhookClient()
	}
	if c.WebhookAttempts == 0 {
		c.WebhookAttempts = 5
	}
	if c.WebhookInitialInterval <= 0 {
		c.WebhookInitialInterval = time.Second
	}
	return c
}

func defaultWebhookClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		// A redirect could send the payload somewhere the caller did
		// not choose; the callback URL is used exactly as given.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// openDetectors returns the caller's detectors, or else opens the installed set; owned is
// the set opened here, which the engine must close, and nil for the caller's.
func openDetectors(cfg Config) (dets anonymize.Detectors, owned *detectors.Set, err error) {
	if cfg.Detectors != nil {
		return *cfg.Detectors, nil, nil
	}
	set, err := detectors.Open(detectors.Config{Dir: cfg.DetectorDir, ONNXRuntimeLib: cfg.ONNXRuntimeLib,
		FaceThreshold: cfg.FaceThreshold, PersonThreshold: cfg.PersonThreshold, VehicleThreshold: cfg.VehicleThreshold})
	if err != nil {
		return anonymize.Detectors{}, nil, err
	}
	return set.Detectors, set, nil
}

// start runs the workers and the background jobs, all stopped by ctx or Close.
func (e *Engine) start(ctx context.Context) {
	e.ctx, e.cancel = context.WithCancel(ctx)
	for range e.cfg.Workers {
		e.workers.Go(e.work)
	}
	e.hooks.Go(e.resume)
	e.hooks.Go(e.janitor)
}

// Close stops taking uploads, lets each worker finish the image it is on,
// and stops webhook retries. Files still queued stay queued on disk and
// are processed by the next engine opened on the same DataDir; webhooks
// not yet delivered are sent again then too.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.stop)
	e.mu.Unlock()
	e.workers.Wait()
	e.cancel()
	e.hooks.Wait()
	if e.owned != nil {
		return e.owned.Close()
	}
	return nil
}

// enqueue hands id to the workers without blocking; false means the queue
// is full (or the engine is closing).
func (e *Engine) enqueue(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	select {
	case e.queue <- id:
		return true
	default:
		return false
	}
}

// resume re-queues files a previous run left unfinished and re-sends
// webhooks it did not deliver. It waits for queue space rather than
// refusing, since these files were accepted already.
func (e *Engine) resume() {
	for _, id := range e.store.pending() {
		if _, err := e.store.update(id, func(r *record) { r.Status = statusQueued }); err != nil {
			e.log.Error("resume file", "file_id", id, "err", err)
			continue
		}
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if closed {
			return
		}
		select {
		case e.queue <- id:
		case <-e.stop:
			return
		}
	}
	for _, id := range e.store.undelivered() {
		e.hooks.Go(func() { e.deliver(id) })
	}
}

// janitor deletes files whose delete_time has passed.
func (e *Engine) janitor() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		for _, id := range e.store.expired(time.Now()) {
			if _, err := e.store.remove(id); err != nil {
				e.log.Error("delete expired file", "file_id", id, "err", err)
			}
		}
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
	}
}
