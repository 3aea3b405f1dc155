// Package enginepool is the set of anonymization engines the replicas share: each engine is a
// row in PostgreSQL, and every replica runs a dispatcher and a reconciler per engine (each
// with the flow control of that engine alone), sends a job's downloads and deletions to the
// engine recorded for it, checks that the engines answer, and hands the jobs of a dead engine
// to the others.
package enginepool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/store"
)

// Store is the storage the pool needs: the dispatcher's, and the engines'.
type Store interface {
	dispatch.Store
	UpsertEngine(ctx context.Context, e store.Engine, heartbeat bool) error
	ListEngines(ctx context.Context) ([]store.Engine, error)
	EngineHeartbeat(ctx context.Context, id string, capacity int) error
	ReplicaSeen(ctx context.Context, id, host string) error
	LiveReplicas(ctx context.Context, within time.Duration) ([]store.ReplicaHost, error)
	ClaimQueuedFor(ctx context.Context, owner, engineID string, limit int, lease, wait time.Duration) ([]store.Claim, error)
	CountProcessingAt(ctx context.Context, engineID string) (int, error)
	ClaimPollsAt(ctx context.Context, owner, engineID, defaultEngine string, limit int, lease time.Duration) ([]store.Claim, error)
	EngineOfJob(ctx context.Context, jobID string) (string, error)
	HandOver(ctx context.Context, engines []string, limit int) (int, error)
	DeleteEndedInputs(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	UndeletedAbandoned(ctx context.Context, engineID string, limit int) ([]store.AbandonedFile, error)
	AbandonedDeleted(ctx context.Context, f store.AbandonedFile) error
}

// Endpoint is an engine this replica is configured with: its in-process engine, or one of
// --provider-url.
type Endpoint struct {
	URL         string
	Credentials celantur.Credentials
	// Capacity is what the engine holds at once (--provider-concurrency; the in-process
	// engine's own); 0 asks the engine.
	Capacity int
}

// Config tunes the pool. Zero values take the defaults noted.
type Config struct {
	// Local is the engine in this process, registered under its public URL; nil without one.
	Local *Endpoint
	// External are the engines of --provider-url, registered (or updated) at start.
	External []Endpoint
	// Host names this machine: an engine under a loopback URL is used only by replicas on its
	// host (default: the host name).
	Host string
	// DeadAfter is how long an engine may go unheard before it gets no new work and its jobs
	// go to other engines (default 30s).
	DeadAfter time.Duration
	// Every is how often the engines are re-read and asked whether they are up (default a
	// fifth of DeadAfter, at most 5s).
	Every time.Duration
	// PreferWait is how long a queued job is left for the in-process engine before this
	// replica's other engines may take it (default 250ms).
	PreferWait time.Duration
	// Dispatch is the dispatchers' and reconcilers' configuration; its Owner is this replica.
	Dispatch dispatch.Config
	// Dispatching runs dispatchers and reconcilers; off, the pool only serves files.
	Dispatching bool
	// InputRetention keeps the image of an ended job this long (0: deleted once it ended).
	InputRetention time.Duration
	// Metrics registers the pool's families (engines up, jobs handed over); nil: none.
	Metrics prometheus.Registerer
	Log     *slog.Logger
	// WrapTransport, if set, wraps every engine client's HTTP transport (tracing).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

func (c Config) withDefaults() Config {
	if c.DeadAfter <= 0 {
		c.DeadAfter = 30 * time.Second
	}
	if c.Every <= 0 {
		c.Every = min(c.DeadAfter/5, 5*time.Second)
	}
	if c.PreferWait <= 0 {
		c.PreferWait = 250 * time.Millisecond
	}
	if c.Host == "" {
		c.Host = HostName()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// HostName is what identifies this machine among the replicas: its host name, which
// containers sharing a network namespace (a Kubernetes pod) share, and others do not.
func HostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown-host"
	}
	return h
}

// Pool runs the engines of one replica. Its methods are safe for concurrent use.
type Pool struct {
	store   Store
	signer  dispatch.CallbackSigner
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	local   string // id of the in-process engine, "" without one
	first   string // the engine jobs recorded before engines were belong to

	mu      sync.Mutex
	members map[string]*member
	pokes   atomic.Pointer[[]*dispatch.Dispatcher]
	run     context.Context // set by Run; members started before it wait for it
	started chan struct{}
}

// New makes a pool; call Register, then Run.
func New(s Store, signer dispatch.CallbackSigner, cfg Config) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{store: s, signer: signer, cfg: cfg, log: cfg.Log, members: map[string]*member{}, started: make(chan struct{}),
		metrics: newMetrics(cfg.Metrics)}
	empty := []*dispatch.Dispatcher{}
	p.pokes.Store(&empty)
	return p
}

// EngineID is the id an engine is registered under: its URL's host and path, so that every
// replica configured with one URL names it alike, and a restarted replica finds its row.
func EngineID(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("engine URL %q: want http(s)://host[:port][/path]", base)
	}
	return u.Host + strings.TrimRight(u.Path, "/"), nil
}

// IsLoopback reports whether a URL's host is a loopback address or localhost.
func IsLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ErrLoopbackEngine refuses an in-process engine registered under a loopback URL while a
// replica on another host would have to reach it.
var ErrLoopbackEngine = errors.New("the engine's public URL is loopback, but a replica on another host uses the same database")

// Register records this replica and its configured engines in the database. An in-process
// engine under a loopback URL is refused while a live replica runs on another host.
func (p *Pool) Register(ctx context.Context) error {
	owner := p.cfg.Dispatch.Owner
	if err := p.store.ReplicaSeen(ctx, owner, p.cfg.Host); err != nil {
		return err
	}
	if l := p.cfg.Local; l != nil {
		if IsLoopback(l.URL) {
			live, err := p.store.LiveReplicas(ctx, p.cfg.DeadAfter)
			if err != nil {
				return err
			}
			for _, r := range live {
				if r.ID != owner && r.Host != p.cfg.Host {
					return fmt.Errorf("--engine-public-url %s: %w (replica %s on host %s); give the engine an address every replica reaches",
						l.URL, ErrLoopbackEngine, r.ID, r.Host)
				}
			}
		}
		id, err := p.register(ctx, *l, store.EngineBuiltIn, owner)
		if err != nil {
			return fmt.Errorf("--engine-public-url: %w", err)
		}
		p.local, p.first = id, id
	}
	for _, e := range p.cfg.External {
		id, err := p.register(ctx, e, "", "")
		if err != nil {
			return fmt.Errorf("--provider-url: %w", err)
		}
		if p.first == "" {
			p.first = id
		}
	}
	return nil
}

// register upserts one engine. kind "" finds it out: an engine that tells its capacity is
// anonjob's own.
func (p *Pool) register(ctx context.Context, ep Endpoint, kind, replica string) (string, error) {
	id, err := EngineID(ep.URL)
	if err != nil {
		return "", err
	}
	client, err := p.newClient(ep.URL, ep.Credentials)
	if err != nil {
		return "", err
	}
	capacity, answered := ep.Capacity, false
	if kind == "" || capacity == 0 {
		k, n, ok := Probe(ctx, client)
		answered = ok
		if kind == "" {
			kind = k
		}
		if capacity == 0 {
			capacity = n
		}
	}
	e := store.Engine{ID: id, BaseURL: strings.TrimRight(ep.URL, "/"), Kind: kind, Capacity: capacity, ReplicaID: replica}
	if IsLoopback(ep.URL) {
		e.Host = p.cfg.Host
	}
	e.Username, e.Secret = ep.Credentials.Username, ep.Credentials.Password
	if ep.Credentials.Token != "" {
		e.Secret, e.SecretIsToken = ep.Credentials.Token, true
	}
	if err := p.store.UpsertEngine(ctx, e, answered || replica != ""); err != nil {
		return "", err
	}
	p.log.Info("engine registered", "engine_id", id, "url", e.BaseURL, "kind", kind, "capacity", capacity)
	return id, nil
}

// Probe asks an engine for its capacity, briefly: the kind it looks like (anonjob's engine
// tells its capacity, a hosted one does not), the capacity if told, and whether it answered.
func Probe(ctx context.Context, c *celantur.Client) (kind string, capacity int, ok bool) {
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n, err := c.Capacity(pctx)
	var ae *celantur.APIError
	switch {
	case err == nil:
		return store.EngineBuiltIn, n, true
	case errors.Is(err, celantur.ErrCapacityUnknown):
		return store.EngineHosted, 0, true
	case errors.As(err, &ae):
		// Any other answer short of refusing our credentials or failing shows it up.
		ok = ae.StatusCode < 500 && ae.StatusCode != http.StatusUnauthorized && ae.StatusCode != http.StatusForbidden
	}
	return store.EngineHosted, 0, ok
}

func (p *Pool) newClient(base string, creds celantur.Credentials) (*celantur.Client, error) {
	c, err := celantur.New(celantur.Config{BaseURL: base, Credentials: creds, Logger: p.log,
		WrapTransport: p.cfg.WrapTransport})
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", base, err)
	}
	return c, nil
}

// Poke says new jobs may be queued, to every engine's dispatcher. It never blocks.
func (p *Pool) Poke() {
	for _, d := range *p.pokes.Load() {
		d.Poke()
	}
}
