package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/inflight"
	"github.com/anonjob/anonjob/internal/ratelimit"
)

// gatewayHeader carries a secret made at start by which the gRPC server knows the calls of
// its own REST gateway: their rate and upload bytes were already counted over HTTP, so they
// are not counted twice. The key is still checked.
const gatewayHeader = "x-anonjob-gateway"

// gate decides about a gRPC stream before its first message is read. gRPC reads a whole
// message (up to the server-wide receive limit) before any interceptor runs, so checks that
// must come before the body run here, as the InTapHandle: on the connection's transport
// goroutine, holding its lock, hence only cached key checks and non-blocking counters.
type gate struct {
	authn   *auth.Authenticator
	limiter *ratelimit.Limiter
	uploads *inflight.Budget
	// maxMsg is the server-wide receive limit: what the transport may buffer for a message.
	maxMsg  int64
	mark    string
	lookup  time.Duration // bound on the database read of a key not yet cached
	nowFunc func() time.Time
}

func newGatewayMark() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// reservationKey holds a stream's share of the upload budget in its context.
type reservationKey struct{}

type streamReservation struct {
	*inflight.Reservation
	keep bool // client-streaming: every message may be large, so keep it all
	grow bool // an upload that holds a first slice until its size is known (see fit)
	over atomic.Bool
}

// tap is the grpc.InTapHandle. A key that is not cached costs one read by primary key, once
// per --key-cache-ttl; it stalls only the caller's own connection, and refusals are cached
// too, so forged keys do not reach the database again.
func (g *gate) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	method := info.FullMethodName
	internal := g.fromGateway(info.Header)
	exempt := g.authn.Exempt(method)
	if !exempt {
		var header string
		if vals := info.Header.Get("authorization"); len(vals) == 1 {
			header = vals[0]
		}
		lctx, cancel := context.WithTimeout(ctx, g.lookup)
		customer, err := g.authn.CheckAuthorization(lctx, header)
		cancel()
		if err != nil {
			return nil, err
		}
		if !internal {
			if ok, wait := g.limiter.Allow(customer, g.nowFunc()); !ok {
				return nil, apierr.RateLimitedFor(wait)
			}
		}
	}
	// Every method open without a key may be sent a message of the full receive limit: hold
	// that much of the budget until the message is in, then what it really was until the call
	// ends. An upload, past its key check and rate limit, holds a first slice and then its
	// message's size (see uploadSlice).
	if internal || (!exempt && method != anonjobv1.JobService_CreateJob_FullMethodName) {
		return ctx, nil
	}
	want := g.maxMsg
	if !exempt {
		want = min(want, uploadSlice)
	}
	res, ok := g.uploads.TryReserve(want)
	if !ok {
		return nil, apierr.UploadsBusy(g.uploads.Max())
	}
	if res == nil {
		return ctx, nil
	}
	context.AfterFunc(ctx, res.Release) // the transport cancels a stream's context when it ends
	return context.WithValue(ctx, reservationKey{}, &streamReservation{Reservation: res,
		keep: strings.HasPrefix(method, "/grpc.reflection."), grow: !exempt}), nil
}

func (g *gate) fromGateway(md metadata.MD) bool {
	for _, v := range md.Get(gatewayHeader) {
		if subtle.ConstantTimeCompare([]byte(v), []byte(g.mark)) == 1 {
			return true
		}
	}
	return false
}

// payloadStats shrinks a stream's reservation to the size of the message it was sent.
type payloadStats struct{}

func (payloadStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (payloadStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (payloadStats) HandleConn(context.Context, stats.ConnStats) {}

func (payloadStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	p, ok := s.(*stats.InPayload)
	if !ok {
		return
	}
	r, _ := ctx.Value(reservationKey{}).(*streamReservation)
	switch {
	case r == nil || r.keep:
	case r.grow:
		r.fit(int64(p.Length))
	default:
		r.Shrink(int64(p.Length))
	}
}

// methodLimits are the receive limits of each method. gRPC has one receive limit per server,
// the largest (an upload); a smaller method's limit is checked on the decoded message. That
// message was read already, but only on a stream the gate let through: authenticated, rate
// limited, and, for uploads and methods open without a key, counted in the upload budget.
type methodLimits struct {
	upload, webhook, other int64
}

func (l methodLimits) of(method string) int64 {
	switch {
	case method == anonjobv1.JobService_CreateJob_FullMethodName:
		return l.upload
	case strings.HasPrefix(method, "/"+anonjobv1.WebhookService_ServiceDesc.ServiceName+"/"):
		return l.webhook
	}
	return l.other
}

func (l methodLimits) check(method string, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil
	}
	limit := l.of(method)
	if n := int64(proto.Size(pm)); n > limit {
		return apierr.New(codes.ResourceExhausted, apierr.BodyTooLarge,
			fmt.Sprintf("request message: %d bytes exceed the limit of %d bytes for %s", n, limit, method),
			map[string]string{"limit_bytes": fmt.Sprint(limit)}, "body")
	}
	return nil
}

func (l methodLimits) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := l.check(info.FullMethod, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func (l methodLimits) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &limitedStream{ServerStream: ss, method: info.FullMethod, limits: l})
	}
}

type limitedStream struct {
	grpc.ServerStream
	method string
	limits methodLimits
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.limits.check(s.method, m)
}

// gatewayCreds sends the gateway's mark on each of its calls.
type gatewayCreds string

func (g gatewayCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{gatewayHeader: string(g)}, nil
}

func (gatewayCreds) RequireTransportSecurity() bool { return false } // a loopback connection
