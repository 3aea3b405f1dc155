package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/anonjob/anonjob/internal/store"
)

// readiness tells whether this replica can do its work: the database reachable with this
// binary's migrations applied, the engine reachable, the watch hub started. A loop checks
// every ReadyInterval; the embedded database's supervisor reports its exits at once. The
// verdict drives gRPC health (NOT_SERVING while not ready) and GET /readyz (and /healthz);
// GET /livez only says the process answers.
type readiness struct {
	log   *slog.Logger
	every time.Duration
	kick  chan struct{}

	mu       sync.Mutex
	problems map[string]string // check -> what is wrong; absent when fine
	// seq counts the calls of down; downAt is the count at each check's last one. A round
	// that began before a check went down must not clear it: it may have found the check
	// fine a moment before the failure.
	seq     uint64
	downAt  map[string]uint64
	ready   bool
	checked bool // the first round has run
	closed  bool
	health  *health.Server
}

func newReadiness(every time.Duration, log *slog.Logger) *readiness {
	return &readiness{log: log, every: every, kick: make(chan struct{}, 1),
		problems: map[string]string{"startup": "starting"}, downAt: map[string]uint64{}}
}

// attach makes the gRPC health server follow the verdict.
func (r *readiness) attach(h *health.Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = h
	r.publish()
}

// publish sets the gRPC status from the verdict. r.mu must be held.
func (r *readiness) publish() {
	if r.health == nil || r.closed {
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if r.ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	r.health.SetServingStatus("", st)
}

// set records the outcome of the checks in problems (all of them when full, from a round that
// began when seq was since), logs a change of verdict, and publishes it.
func (r *readiness) set(results map[string]string, full bool, since uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return // shutting down: not ready for good
	}
	old := r.problems
	if full {
		r.problems = map[string]string{}
		r.checked = true
	}
	for k, v := range results {
		if v == "" {
			delete(r.problems, k)
		} else {
			r.problems[k] = v
		}
	}
	if full {
		for k, at := range r.downAt {
			if why, ok := old[k]; ok && at > since {
				r.problems[k] = why // went down during the round: the next round decides
			}
		}
	}
	ready := r.checked && len(r.problems) == 0
	if ready != r.ready {
		if ready {
			r.log.Info("ready")
		} else {
			r.log.Warn("not ready", "problems", describe(r.problems))
		}
	}
	r.ready = ready
	r.publish()
}

func describe(problems map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(problems)) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + problems[k])
	}
	return b.String()
}

// down marks a check failed at once, before the next round, and has the loop check again soon.
func (r *readiness) down(check, why string) {
	r.mu.Lock()
	r.seq++
	r.downAt[check] = r.seq
	r.mu.Unlock()
	r.set(map[string]string{check: why}, false, 0)
	r.check()
}

// round is the seq a round of checks begins at.
func (r *readiness) round() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// check has the loop run a round now.
func (r *readiness) check() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// shutdown makes the verdict not ready for good.
func (r *readiness) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed, r.ready = true, false
	r.problems["shutdown"] = "shutting down"
}

// run checks every interval, or when kicked, until ctx ends.
func (r *readiness) run(ctx context.Context, checks map[string]func(context.Context) error) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		since := r.round()
		results := make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, c := range checks {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, max(r.every, 2*time.Second))
				defer cancel()
				err := c(cctx)
				mu.Lock()
				defer mu.Unlock()
				results[name] = ""
				if err != nil {
					results[name] = err.Error()
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		r.set(results, true, since)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// healthBody is what the probes answer: the same status words as gRPC health, and why.
type healthBody struct {
	Status   string            `json:"status"`
	Problems map[string]string `json:"problems,omitempty"`
}

// routes serves the probes in front of next. They need no key and stay out of the access log.
func (r *readiness) routes(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, healthBody{Status: "SERVING"})
	})
	ready := func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		body := healthBody{Status: "SERVING"}
		code := http.StatusOK
		if !r.ready {
			body = healthBody{Status: "NOT_SERVING", Problems: maps.Clone(r.problems)}
			code = http.StatusServiceUnavailable
		}
		r.mu.Unlock()
		writeHealth(w, code, body)
	}
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /healthz", ready) // the older name, kept
	mux.Handle("/", next)
	return mux
}

func writeHealth(w http.ResponseWriter, code int, body healthBody) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// Problems are said plainly: the probes need no key, so no error text (paths, hosts) leaks.
var (
	errDatabase = errors.New("database unreachable")
	errEngine   = errors.New("engine unreachable")
	errWatch    = errors.New("watch hub not started")
)

// readinessChecks are the checks of this server; details go to the log at debug level.
func (s *Server) readinessChecks() map[string]func(context.Context) error {
	want, verr := store.SchemaVersion()
	checks := map[string]func(context.Context) error{
		"database": func(ctx context.Context) error {
			if verr != nil {
				return verr
			}
			if err := s.Store.CheckSchema(ctx, want); err != nil {
				s.cfg.Log.Debug("readiness: database", "err", err)
				if errors.Is(err, store.ErrSchemaBehind) {
					return store.ErrSchemaBehind
				}
				return errDatabase
			}
			return nil
		},
		"watch": func(context.Context) error {
			select {
			case <-s.Hub.Ready():
				return nil
			default:
				return errWatch
			}
		},
	}
	if s.engines != nil {
		checks["engine"] = func(ctx context.Context) error {
			if err := s.engines.Check(ctx); err != nil {
				s.cfg.Log.Debug("readiness: engine", "err", err)
				return errEngine
			}
			return nil
		}
	}
	return checks
}
