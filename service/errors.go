package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/watch"
)

func statusError(c codes.Code, reason, msg string, meta map[string]string, field string) error {
	return apierr.New(c, reason, msg, meta, field)
}

func invalidField(field, reason, msg string) error { return apierr.InvalidField(field, reason, msg) }

// callerOf returns the authenticated customer of a call. Every API call has one: the
// authentication interceptor sees to it; without it, nothing is answered.
func callerOf(ctx context.Context) (string, error) {
	if c := auth.CustomerFrom(ctx); c != "" {
		return c, nil
	}
	return "", status.Error(codes.Unauthenticated, "missing or invalid API key: send authorization: Bearer <key>")
}

// callerOfJob is callerOf for a call on one job: it also checks that id, the value of the
// request's field, is a job id. The caller comes first, so an unauthenticated call learns
// nothing about its arguments.
func callerOfJob(ctx context.Context, field, id string) (string, error) {
	customer, err := callerOf(ctx)
	if err != nil {
		return "", err
	}
	if !job.ValidID(id) {
		return "", invalidJobID(field)
	}
	return customer, nil
}

// invalidJobID is the error for a field that should hold a job id and does not.
func invalidJobID(field string) error {
	return invalidField(field, "INVALID_ID", "must be a job id (a UUID)")
}

// toStatus maps domain and watch errors to canonical codes. Anything unexpected is logged and
// reported as INTERNAL without its text, which may hold database details.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	var fe *job.FieldError
	var te *job.TransitionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return invalidField(fe.Field, fe.Reason, fe.Msg)
	case errors.As(err, &te):
		return statusError(codes.FailedPrecondition, apierr.InvalidTransition, te.Error(),
			map[string]string{"from": string(te.From), "to": string(te.To)}, "")
	case errors.Is(err, job.ErrNotFound):
		return statusError(codes.NotFound, apierr.JobNotFound, "job not found", nil, "")
	case errors.Is(err, job.ErrBusy):
		// UNAVAILABLE, not ABORTED: over HTTP that is 503, which the engine (and any
		// webhook sender) retries; 409 would read as final.
		return apierr.Busy(apierr.JobBusy, "the job is being changed by another write; nothing changed, try again in a second", time.Second)
	case errors.Is(err, job.ErrRequestIDReused):
		return statusError(codes.AlreadyExists, apierr.RequestIDReused,
			"request_id was already used for a different request", nil, "request_id")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	log.ErrorContext(ctx, "request failed", "err", err)
	return status.Error(codes.Internal, "internal error")
}

// watchStatus maps the end of a watch to a status; resumable ones carry the revision to resume
// from.
func watchStatus(ctx context.Context, log *slog.Logger, err error, resume int64) error {
	meta := map[string]string{"resume_revision": strconv.FormatInt(resume, 10)}
	var fe *watch.FutureError
	switch {
	case errors.As(err, &fe):
		return statusError(codes.OutOfRange, apierr.RevisionInFuture,
			fmt.Sprintf("since_revision: %d is past the current revision %d; watch from a revision a list or watch gave you",
				fe.Since, fe.Current),
			map[string]string{"current_revision": strconv.FormatInt(fe.Current, 10)}, "since_revision")
	case errors.Is(err, watch.ErrCompacted):
		return statusError(codes.OutOfRange, apierr.RevisionCompacted,
			fmt.Sprintf("%v; list jobs again and watch from the list's revision", err), nil, "since_revision")
	case errors.Is(err, watch.ErrTooSlow):
		return statusError(codes.ResourceExhausted, apierr.WatcherTooSlow,
			"watcher fell too far behind; resume from resume_revision", meta, "")
	case errors.Is(err, watch.ErrClosed):
		return statusError(codes.Unavailable, apierr.ShuttingDown,
			"server is shutting down; resume from resume_revision on another replica", meta, "")
	}
	return toStatus(ctx, log, err)
}
