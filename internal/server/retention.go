package server

import (
	"context"
	"time"
)

// Retention works in small batches with a pause between them: each batch is one short
// transaction, so it holds few locks, one pooled connection, and never the xmin that watch
// hubs wait on for long.
const (
	retentionBatch = 500
	retentionPause = 200 * time.Millisecond
)

// retentionLoop deletes the jobs that ended longer than the job retention ago, at start and
// then every 1/24 of the retention (at least a minute apart, at most an hour).
func (s *Server) retentionLoop(ctx context.Context) {
	t := time.NewTicker(min(max(s.cfg.JobRetention/24, time.Minute), time.Hour))
	defer t.Stop()
	for {
		s.deleteOldJobs(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) deleteOldJobs(ctx context.Context) {
	cutoff := time.Now().Add(-s.cfg.JobRetention)
	total := 0
	for {
		n, err := s.Store.DeleteEndedJobs(ctx, cutoff, retentionBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("delete jobs past their retention", "err", err)
			}
			return
		}
		total += n
		if n < retentionBatch {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retentionPause):
		}
	}
	if total == 0 {
		return
	}
	s.cfg.Log.Info("deleted jobs past their retention", "count", total, "ended_before", cutoff.UTC())
	// Their events are behind the history's floor now: prune them too.
	if _, err := s.Store.Compact(ctx, time.Now().Add(-s.cfg.EventRetention)); err != nil && ctx.Err() == nil {
		s.cfg.Log.Warn("compact event history", "err", err)
	}
}
