package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// resumableWatch runs a watch and hands every message to onMsg. When the stream breaks (a
// disconnect, a server restart, a watcher cut off as too slow) it reconnects from the last
// revision it saw, so onMsg gets every event once, in order, across reconnections.
// It returns when ctx ends, onMsg fails, or the server refuses the watch for good.
func resumableWatch(ctx context.Context, client anonjobv1.JobServiceClient, req *anonjobv1.WatchJobsRequest,
	onMsg func(*anonjobv1.WatchJobsResponse) error, onBreak func(err error, resume int64)) error {
	last := req.GetSinceRevision()
	delay := 100 * time.Millisecond
	for {
		r := proto.Clone(req).(*anonjobv1.WatchJobsRequest)
		r.SinceRevision = last
		err := func() error {
			stream, err := client.WatchJobs(ctx, r)
			if err != nil {
				return err
			}
			for {
				msg, err := stream.Recv()
				if err != nil {
					return err
				}
				delay = 100 * time.Millisecond // the stream works: reset the backoff
				for _, ev := range msg.GetEvents() {
					last = max(last, ev.GetRevision())
				}
				last = max(last, msg.GetRevision())
				if err := onMsg(msg); err != nil {
					return &stopError{err}
				}
			}
		}()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if stop := (*stopError)(nil); errors.As(err, &stop) {
			return stop.err
		}
		if !resumable(err) {
			return err
		}
		if onBreak != nil {
			onBreak(err, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// resumable tells a broken stream from a refusal: a wrong key, a bad filter or a compacted
// revision will not heal by trying again.
func resumable(err error) bool {
	if errors.Is(err, io.EOF) {
		return true // the server ended the stream without a reason: it is going away
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown, codes.DeadlineExceeded:
		return true
	}
	return false
}

func describeBreak(err error, resume int64) string {
	return fmt.Sprintf("watch interrupted (%s); resuming from revision %d", describe(err), resume)
}
