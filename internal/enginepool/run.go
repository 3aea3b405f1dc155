package enginepool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/store"
)

// handOverBatch bounds the jobs one statement hands over.
const handOverBatch = 100

// Run keeps the pool up to date until ctx ends: every Every it re-reads the engines, asks each
// whether it is up (recording a heartbeat when it answers), hands the jobs of dead engines to
// the others and deletes the images of ended jobs. At the end it stops every engine's
// dispatcher and reconciler and waits for the uploads under way.
func (p *Pool) Run(ctx context.Context) {
	p.mu.Lock()
	p.run = ctx
	p.mu.Unlock()
	close(p.started)
	t := time.NewTicker(p.cfg.Every)
	defer t.Stop()
	for {
		p.round(ctx)
		select {
		case <-ctx.Done():
			p.stopAll()
			return
		case <-t.C:
		}
	}
}

func (p *Pool) stopAll() {
	p.mu.Lock()
	ms := make([]*member, 0, len(p.members))
	for _, m := range p.members {
		ms = append(ms, m)
	}
	p.members = map[string]*member{}
	p.mu.Unlock()
	for _, m := range ms {
		m.stop()
		<-m.done
	}
}

// round is one pass of Run.
func (p *Pool) round(ctx context.Context) {
	if err := p.store.ReplicaSeen(ctx, p.cfg.Dispatch.Owner, p.cfg.Host); err != nil && ctx.Err() == nil {
		p.log.Warn("record replica", "err", err)
	}
	engines, err := p.sync(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("read engines", "err", err)
		}
		return
	}
	p.probeAll(ctx, engines)
	if !p.cfg.Dispatching {
		return
	}
	var dead []string
	for _, e := range engines {
		m := p.member(e.ID)
		if m != nil && m.reachable.Load() {
			continue
		}
		unheard := e.SinceHeartbeat
		if unheard < 0 {
			unheard = time.Since(e.CreateTime)
		}
		if unheard > p.cfg.DeadAfter && e.Processing > 0 {
			dead = append(dead, e.ID)
		}
	}
	if len(dead) > 0 {
		p.handOver(ctx, dead)
	}
	if n, err := p.store.DeleteEndedInputs(ctx, time.Now().Add(-p.cfg.InputRetention), 1000); err != nil && ctx.Err() == nil {
		p.log.Warn("delete images of ended jobs", "err", err)
	} else if n > 0 {
		p.log.Debug("deleted images of ended jobs", "count", n)
	}
}

// handOver queues again the jobs of dead engines, batch by batch.
func (p *Pool) handOver(ctx context.Context, dead []string) {
	total := 0
	for _, id := range dead {
		n := p.handOverOne(ctx, id)
		total += n
	}
	if total > 0 {
		p.log.Warn("engine dead; its jobs go to other engines", "engines", dead, "jobs", total,
			"dead_after", p.cfg.DeadAfter)
	}
}

// handOverOne queues again the jobs of one dead engine and returns how many it moved.
func (p *Pool) handOverOne(ctx context.Context, engine string) int {
	total := 0
	for {
		n, err := p.store.HandOver(ctx, []string{engine}, handOverBatch)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("hand over jobs of a dead engine", "engine_id", engine, "err", err)
			}
			break
		}
		total += n
		p.metrics.handedOver(engine, n)
		if n < handOverBatch {
			break
		}
	}
	return total
}

// sync reads the engines and makes the members match them.
func (p *Pool) sync(ctx context.Context) ([]store.Engine, error) {
	engines, err := p.store.ListEngines(ctx)
	if err != nil {
		return nil, err
	}
	<-p.started
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []store.Engine
	for _, e := range engines {
		if e.Host != "" && e.Host != p.cfg.Host && IsLoopback(e.BaseURL) {
			continue // a loopback address of another host: not this replica's to reach
		}
		seen[e.ID] = true
		out = append(out, e)
		m := p.members[e.ID]
		if m != nil && (m.baseURL != e.BaseURL || m.creds != credentialsOf(e)) {
			m.stop() // moved or new credentials: start afresh
			delete(p.members, e.ID)
			m = nil
		}
		if m == nil {
			if m, err = p.startMember(p.run, e); err != nil {
				p.log.Warn("engine", "engine_id", e.ID, "err", err)
				continue
			}
			p.members[e.ID] = m
		}
		m.usable.Store(m.reachable.Load() && e.State == store.EngineActive)
	}
	for id, m := range p.members {
		if !seen[id] {
			m.stop()
			delete(p.members, id)
			p.metrics.forget(id)
			p.log.Info("engine removed", "engine_id", id)
		}
	}
	p.publishPokes()
	return out, nil
}

// publishPokes refreshes the dispatchers Poke wakes; p.mu is held.
func (p *Pool) publishPokes() {
	ds := make([]*dispatch.Dispatcher, 0, len(p.members))
	for _, m := range p.members {
		if m.dispatcher != nil {
			ds = append(ds, m.dispatcher)
		}
	}
	p.pokes.Store(&ds)
}

// probeAll asks every engine at once whether it is up.
func (p *Pool) probeAll(ctx context.Context, engines []store.Engine) {
	var wg sync.WaitGroup
	for _, e := range engines {
		m := p.member(e.ID)
		if m == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, capacity, ok := Probe(ctx, m.client)
			was := m.reachable.Swap(ok)
			p.metrics.setUp(e.ID, ok)
			if capacity > 0 {
				m.capacity.Store(int64(capacity))
			}
			if ok {
				if err := p.store.EngineHeartbeat(ctx, e.ID, capacity); err != nil && ctx.Err() == nil {
					p.log.Warn("engine heartbeat", "engine_id", e.ID, "err", err)
				}
				if p.cfg.Dispatching {
					p.deleteAbandoned(ctx, m)
				}
			}
			m.usable.Store(ok && e.State == store.EngineActive)
			switch {
			case was && !ok:
				p.log.Warn("engine does not answer; no new work for it", "engine_id", e.ID)
			case !was && ok:
				p.log.Info("engine answers", "engine_id", e.ID, "state", e.State, "capacity", capacity)
				if e.State == store.EngineActive && m.dispatcher != nil {
					m.dispatcher.Poke()
				}
			}
		}()
	}
	wg.Wait()
}

func (p *Pool) member(id string) *member {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.members[id]
}

// localHasRoom reports whether the in-process engine takes work and holds fewer jobs than
// its capacity (an unknown capacity counts as room).
func (p *Pool) localHasRoom(ctx context.Context) bool {
	m := p.member(p.local)
	if m == nil || !m.usable.Load() {
		return false
	}
	capacity := m.capacity.Load()
	if capacity <= 0 {
		return true
	}
	n, err := p.store.CountProcessingAt(ctx, p.local)
	return err != nil || int64(n) < capacity
}

// ErrNoEngine reports a job whose engine is not (or no longer) among the engines.
var ErrNoEngine = errors.New("the job's engine is not registered")

// engineOf is the member holding a job's file.
func (p *Pool) engineOf(ctx context.Context, jobID string) (*member, error) {
	id, err := p.store.EngineOfJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = p.first
	}
	if m := p.member(id); m != nil {
		return m, nil
	}
	// Added since the last round, perhaps.
	select {
	case <-p.started:
		if _, err := p.sync(ctx); err != nil {
			return nil, err
		}
	default:
	}
	if m := p.member(id); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("engine %q: %w", id, ErrNoEngine)
}

// Download streams a result file from the engine that has the job, whichever replica asks.
func (p *Pool) Download(ctx context.Context, jobID, fileID, kind string) (io.ReadCloser, string, int64, error) {
	m, err := p.engineOf(ctx, jobID)
	if err != nil {
		return nil, "", 0, err
	}
	return m.client.Download(ctx, fileID, kind)
}

// DeleteFile deletes a job's file at the engine that has it.
func (p *Pool) DeleteFile(ctx context.Context, jobID, fileID string) error {
	m, err := p.engineOf(ctx, jobID)
	if err != nil {
		return err
	}
	return m.client.Delete(ctx, fileID)
}

// Check tells readiness whether an engine answers this replica: the in-process one if there
// is one, else any. A replica configured with no engine (it only serves the API) depends on
// none.
func (p *Pool) Check(ctx context.Context) error {
	if p.cfg.Local == nil && len(p.cfg.External) == 0 {
		return nil
	}
	if p.local != "" {
		if m := p.member(p.local); m != nil {
			if _, _, ok := Probe(ctx, m.client); ok {
				return nil
			}
			return errors.New("the in-process engine does not answer")
		}
	}
	p.mu.Lock()
	ms := make([]*member, 0, len(p.members))
	for _, m := range p.members {
		ms = append(ms, m)
	}
	started := len(ms) > 0
	p.mu.Unlock()
	for _, m := range ms {
		if m.reachable.Load() {
			return nil
		}
	}
	if !started {
		return errors.New("no engine known yet")
	}
	return errors.New("no engine answers")
}

// deleteAbandoned deletes, at an engine that answers again, the files given up there when it
// was dead, so that it does not work on (or, hosted, bill for) jobs another engine has.
func (p *Pool) deleteAbandoned(ctx context.Context, m *member) {
	files, err := p.store.UndeletedAbandoned(ctx, m.id, 20)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("files given up at an engine", "engine_id", m.id, "err", err)
		}
		return
	}
	for _, f := range files {
		if err := m.client.Delete(ctx, f.FileID); err != nil && !celantur.IsNotFound(err) {
			p.log.Warn("delete a file given up at an engine", "engine_id", m.id, "job_id", f.JobID, "file_id", f.FileID, "err", err)
			return
		}
		if err := p.store.AbandonedDeleted(ctx, f); err != nil {
			p.log.Warn("record a deleted file", "engine_id", m.id, "err", err)
			return
		}
		p.log.Info("deleted a file given up at an engine that answers again", "engine_id", m.id, "job_id", f.JobID, "file_id", f.FileID)
	}
}
