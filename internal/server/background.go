package server

import (
	"context"
	"time"
)

// startBackground starts the hub, the senders of work and wake-ups, and the housekeeping loops;
// release stops them.
func (s *Server) startBackground() {
	hubCtx, stopHub := context.WithCancel(context.Background())
	bgCtx, stopBg := context.WithCancel(context.Background())
	s.stopHub, s.stopBg = stopHub, stopBg
	go func() {
		defer close(s.hubDone)
		_ = s.Hub.Run(hubCtx, s.Store)
	}()
	s.bg.Go(func() { s.sender.Run(bgCtx) })
	if s.engines != nil {
		s.bg.Go(func() { s.engines.Run(bgCtx) }) // also deletes the images of ended jobs
	}
	s.bg.Go(func() { s.waker.Run(bgCtx) })
	s.bg.Go(func() { s.Store.Listen(bgCtx, s.Hub.Poke, s.cfg.Log) })
	s.bg.Go(func() { s.compactLoop(bgCtx) })
	checks := s.readinessChecks()
	s.bg.Go(func() { s.ready.run(bgCtx, checks) })
	go func() {
		select {
		case <-s.Hub.Ready():
			s.ready.check() // ready as soon as the hub is, not at the next round
		case <-s.hubDone:
		}
	}()
	s.bg.Go(func() { s.callbackKeyRefresh(bgCtx) })
	if s.cfg.JobRetention > 0 {
		s.bg.Go(func() { s.retentionLoop(bgCtx) })
	}
}

// compactLoop prunes event history older than the retention, hourly.
func (s *Server) compactLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if rev, err := s.Store.Compact(ctx, time.Now().Add(-s.cfg.EventRetention)); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("compact event history", "err", err)
		} else if err == nil && rev > 0 {
			s.cfg.Log.Debug("compacted event history", "revision", rev)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
