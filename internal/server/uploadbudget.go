package server

import (
	"context"

	"google.golang.org/grpc"

	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/inflight"
)

// uploadSlice is what an authenticated gRPC upload holds of the upload budget from the tap
// until its message is read: the transport buffers at most a stream's flow-control window
// (64 KiB to begin with) before the handler asks for the message. Holding the full receive
// limit instead made about 20 concurrent uploads fill the default 512 MiB, however small their
// images. Methods open without a key still hold the full limit at the tap: their senders are
// not known, so what they may send is bounded before it is read.
const uploadSlice = 64 << 10

// fit holds exactly the message's size once gRPC has read it: more if it is larger than the
// first slice, which fails when the budget is full (budgetUnary then refuses the call before
// its handler runs), less if it is smaller.
func (r *streamReservation) fit(n int64) {
	if !r.TryGrow(n) {
		r.over.Store(true)
		r.Release() // the call is refused: it holds nothing from here on
		return
	}
	r.Shrink(n)
}

// budgetUnary refuses an upload whose message did not fit into the upload budget, as the tap
// refuses one when not even its first slice fits.
func budgetUnary(uploads *inflight.Budget) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if r, _ := ctx.Value(reservationKey{}).(*streamReservation); r != nil && r.over.Load() {
			return nil, apierr.UploadsBusy(uploads.Max())
		}
		return handler(ctx, req)
	}
}
