package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/telemetry"
)

// work is one worker of the pool: it processes queued files until Close.
func (e *Engine) work() {
	for {
		// Checked first so a closing engine takes no new job even when the
		// queue is not empty.
		select {
		case <-e.stop:
			return
		default:
		}
		select {
		case <-e.stop:
			return
		case id := <-e.queue:
			e.process(id)
		}
	}
}

// process runs one file through detection and anonymization.
func (e *Engine) process(id string) {
	rec, err := e.store.note(id, func(r *record) { r.Status = statusProcessing })
	if err != nil {
		e.log.Info("skip file", "file_id", id, "reason", err) // deleted while queued
		return
	}
	start := time.Now()
	ctx, span := telemetry.StartQueued(e.ctx, e.cfg.TracerProvider, rec.Traceparent, "engine process", telemetry.FileID(id))
	defer span.End()
	e.metrics.busy.Add(1)
	res, err := e.run(ctx, rec)
	telemetry.Fail(span, err)
	e.metrics.busy.Add(-1)
	if err != nil && e.ctx.Err() != nil {
		// Shutting down: the file is picked up again by the next start.
		if _, uerr := e.store.update(id, func(r *record) { r.Status = statusQueued }); uerr != nil {
			e.log.Error("requeue file", "file_id", id, "err", uerr)
		}
		return
	}
	if err != nil {
		e.log.Warn("file failed", "file_id", id, "err", err, "duration", time.Since(start))
		msg := "internal error while processing"
		switch {
		case errors.Is(err, anonymize.ErrNotImage):
			msg = err.Error()
		case errors.Is(err, context.DeadlineExceeded):
			msg = fmt.Sprintf("processing took longer than the deadline of %v per image; "+
				"nothing was anonymized (a smaller image, or a longer --engine-image-timeout, may pass)", e.cfg.Limits.Timeout)
		}
		e.metrics.observe("failed", time.Since(start))
		e.finishLater(id, statusFailed, msg)
		return
	}
	stages := make([]any, 0, len(res.Stages))
	for _, s := range res.Stages {
		stages = append(stages, slog.Duration(s.Name, s.Duration))
	}
	e.log.Info("file done", "file_id", id, "detections", len(res.Detections),
		"width", res.Size.X, "height", res.Size.Y, "duration", time.Since(start), slog.Group("stages", stages...))
	e.metrics.observe("done", time.Since(start))
	e.finishLater(id, statusDone, "")
}

// finishLater runs finish off the worker, which takes the next image at once: writing the
// record cost a tiny image about a tenth of its worker's time. The record's own lock keeps its
// writes in order, and Close waits for it as for a webhook.
func (e *Engine) finishLater(id, status, msg string) {
	e.hooks.Go(func() { e.finish(id, status, msg) })
}

// run processes rec and stores its artefacts.
func (e *Engine) run(ctx context.Context, rec record) (*anonymize.Result, error) {
	data, err := e.store.readArtefact(rec.ID, fileOriginal)
	if err != nil {
		return nil, err
	}
	// The deadline bounds what one image may cost: detection stops at it (ONNX Runtime runs
	// are terminated, cascade scans check the context).
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Limits.Timeout)
	defer cancel()
	res, err := anonymize.Process(ctx, e.detectors, data, anonymize.Request{
		Method: anonymize.Method(rec.Method), Faces: rec.Faces, Plates: rec.Plates,
		Persons: rec.Persons, Vehicles: rec.Vehicles, Quality: rec.Quality,
		Limits: e.cfg.Limits,
	})
	if err != nil {
		return nil, err
	}
	for _, a := range []struct {
		name string
		data []byte
	}{
		{fileAnonymized, res.Anonymized},
		{fileBinaryMask, res.BinaryMask},
		{fileInstanceMask, res.InstanceMask},
		{fileMetadata, res.Metadata},
	} {
		if err := e.store.writeArtefact(rec.ID, a.name, a.data); err != nil {
			return nil, fmt.Errorf("store result: %w", err)
		}
	}
	return res, nil
}

// finish records the final status and starts the webhook delivery.
func (e *Engine) finish(id, status, msg string) {
	rec, err := e.store.update(id, func(r *record) {
		r.Status = status
		r.Error = msg
	})
	if err != nil {
		e.log.Info("file gone before it finished", "file_id", id, "err", err)
		return
	}
	if rec.WebhookURL != "" {
		e.hooks.Go(func() { e.deliver(id) })
	}
}
