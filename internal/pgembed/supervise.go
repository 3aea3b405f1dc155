package pgembed

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// supervisor restarts the server when its process dies without Stop having asked: a crash, an
// OOM kill, an operator's kill -9. Clients see connection errors until it is back; the data
// survives, since PostgreSQL recovers from its write-ahead log at start.
type supervisor struct {
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// supervise watches the running process and restarts it with restart, with backoff, whenever
// it exits. Each exit and each restart is logged.
func (s *Server) supervise(cfg Config, restart func(ctx context.Context) error) {
	sup := &supervisor{quit: make(chan struct{}), done: make(chan struct{})}
	s.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sup.quit
		cancel()
	}()
	go func() {
		defer close(sup.done)
		defer cancel()
		for {
			p := s.proc.Load()
			select {
			case <-sup.quit:
				return
			case <-p.done:
			}
			select {
			case <-sup.quit:
				return // Stop ended it
			default:
			}
			died := time.Now()
			s.log.Error("embedded PostgreSQL exited; restarting it", "err", exitError(p.waitErr), "pid", p.cmd.Process.Pid)
			if cfg.OnExit != nil {
				cfg.OnExit(exitError(p.waitErr))
			}
			if !s.restart(ctx, restart, died) {
				return
			}
			if cfg.OnRestart != nil {
				cfg.OnRestart()
			}
		}
	}()
}

// restart starts the server again until it accepts connections or Stop is called. An early
// attempt may fail while the dead server's backends still hold its shared memory.
func (s *Server) restart(ctx context.Context, restart func(ctx context.Context) error, died time.Time) bool {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		err := restart(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("restart embedded PostgreSQL failed; trying again", "attempt", attempt, "err", err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		return false // stopped meanwhile
	}
	s.log.Info("embedded PostgreSQL restarted", "attempt", attempt, "down_for", time.Since(died).Round(time.Millisecond),
		"pid", s.proc.Load().cmd.Process.Pid)
	return true
}

func exitError(err error) error {
	if err == nil {
		return errors.New("exited with status 0")
	}
	return err
}

// stop ends supervision and waits for a restart under way to give up. It is safe on a nil
// supervisor (a server that never came up) and more than once.
func (sup *supervisor) stop() {
	if sup == nil {
		return
	}
	sup.stopOnce.Do(func() { close(sup.quit) })
	<-sup.done
}

// PID is the process id of the running postgres server, for operators' tools and tests.
func (s *Server) PID() int {
	return s.proc.Load().cmd.Process.Pid
}
