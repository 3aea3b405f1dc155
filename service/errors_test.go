package service

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/job"
)

// Store errors reach the client with their canonical code and reason, wrapped or not.
func TestToStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{job.ErrNotFound, codes.NotFound, apierr.JobNotFound},
		{fmt.Errorf("transition job: %w", job.ErrBusy), codes.Unavailable, apierr.JobBusy},
		{job.ErrRequestIDReused, codes.AlreadyExists, apierr.RequestIDReused},
		{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{fmt.Errorf("something else"), codes.Internal, ""},
	} {
		st, _ := status.FromError(toStatus(context.Background(), slog.New(slog.DiscardHandler), tc.err))
		if st.Code() != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, st.Code(), tc.code)
		}
		reason := ""
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		if reason != tc.reason {
			t.Errorf("%v: reason %q, want %q", tc.err, reason, tc.reason)
		}
		if _, retry := apierr.RetryDelay(st); retry != (tc.code == codes.Unavailable) {
			t.Errorf("%v: retry delay given %v, want it only for UNAVAILABLE", tc.err, retry)
		}
	}
}
