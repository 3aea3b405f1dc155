package enginepool

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/store"
)

// member is one engine as this replica uses it: a client, and while dispatching, a
// dispatcher (with that engine's flow control) and a reconciler polling that engine's jobs.
type member struct {
	id      string
	baseURL string
	creds   celantur.Credentials
	client  *celantur.Client
	// usable: this replica gives the engine new work (active, and answering).
	usable atomic.Bool
	// reachable: this replica's last question to the engine was answered.
	reachable atomic.Bool
	// capacity is what the engine last told (0: unknown).
	capacity atomic.Int64

	dispatcher *dispatch.Dispatcher // nil when not dispatching
	stop       context.CancelFunc
	done       chan struct{}
}

func credentialsOf(e store.Engine) celantur.Credentials {
	if e.SecretIsToken {
		return celantur.Credentials{Token: e.Secret}
	}
	return celantur.Credentials{Username: e.Username, Password: e.Secret}
}

// view is the store as one engine's dispatcher and reconciler see it: claims for that engine,
// the jobs at that engine.
type view struct {
	Store
	p *Pool
	m *member
}

// ClaimQueued claims jobs for this engine while it is usable. An engine other than this
// replica's in-process one gets only jobs that have waited PreferWait while the in-process
// engine takes work and has room, so the in-process engine is preferred while it has room.
func (v view) ClaimQueued(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Claim, error) {
	if !v.m.usable.Load() {
		return nil, nil
	}
	var wait time.Duration
	if v.p.local != "" && v.m.id != v.p.local && v.p.localHasRoom(ctx) {
		wait = v.p.cfg.PreferWait
	}
	return v.Store.ClaimQueuedFor(ctx, owner, v.m.id, limit, lease, wait)
}

// ClaimPolls claims the overdue jobs of this engine.
func (v view) ClaimPolls(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Claim, error) {
	return v.Store.ClaimPollsAt(ctx, owner, v.m.id, v.p.first, limit, lease)
}

// CountProcessing counts the jobs at this engine, for its flow control.
func (v view) CountProcessing(ctx context.Context) (int, error) {
	return v.Store.CountProcessingAt(ctx, v.m.id)
}

// startMember makes the member of an engine row and, when dispatching, starts its dispatcher
// and reconciler under ctx.
func (p *Pool) startMember(ctx context.Context, e store.Engine) (*member, error) {
	creds := credentialsOf(e)
	client, err := p.newClient(e.BaseURL, creds)
	if err != nil {
		return nil, err
	}
	m := &member{id: e.ID, baseURL: e.BaseURL, creds: creds, client: client, done: make(chan struct{})}
	m.capacity.Store(int64(e.Capacity))
	// Heard lately (by any replica, or at its registration): up until this replica's own
	// first question says otherwise.
	m.reachable.Store(e.SinceHeartbeat >= 0 && e.SinceHeartbeat < p.cfg.DeadAfter)
	if !p.cfg.Dispatching {
		close(m.done)
		m.stop = func() {}
		return m, nil
	}
	cfg := p.cfg.Dispatch
	cfg.Capacity = 0 // asked of the engine
	switch {
	case e.ID == p.local && p.cfg.Local != nil:
		cfg.Capacity = p.cfg.Local.Capacity
	case e.Kind == store.EngineHosted:
		cfg.Capacity = e.Capacity // --provider-concurrency, or 0: found from its 429 answers
	}
	log := p.log.With("engine_id", e.ID)
	v := view{Store: p.store, p: p, m: m}
	m.dispatcher = dispatch.NewDispatcher(v, client, p.signer, cfg, log.With("component", "dispatcher"))
	rec := dispatch.NewReconciler(v, client, cfg, log.With("component", "reconciler"))
	mctx, stop := context.WithCancel(ctx)
	m.stop = stop
	go func() {
		defer close(m.done)
		finished := make(chan struct{})
		go func() { defer close(finished); rec.Run(mctx) }()
		m.dispatcher.Run(mctx)
		<-finished
	}()
	return m, nil
}
