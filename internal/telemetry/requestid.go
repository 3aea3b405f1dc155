package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// RequestIDHeader carries a request id over HTTP, in and out; over gRPC it is the metadata
// key RequestIDMetadata.
const (
	RequestIDHeader   = "X-Request-Id"
	RequestIDMetadata = "x-request-id"
	maxRequestID      = 128
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ValidRequestID reports whether a caller's id can be taken as it is: 1 to 128 printable
// ASCII characters, no spaces, so it cannot forge log fields or headers.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestID keeps a valid incoming id, else makes one.
func requestID(incoming string) string {
	if ValidRequestID(incoming) {
		return incoming
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// RequestIDs gives every request an id, the caller's X-Request-Id when it is valid, puts it in
// the request's context (for logs and for the calls the request makes) and returns it in the
// response's X-Request-Id.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestID(r.Header.Get(RequestIDHeader))
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

// incomingRequestID is the id of a gRPC call: its x-request-id metadata when valid, or new.
func incomingRequestID(ctx context.Context) string {
	var in string
	if vs := metadata.ValueFromIncomingContext(ctx, RequestIDMetadata); len(vs) > 0 {
		in = vs[0]
	}
	return requestID(in)
}

// UnaryServerRequestID gives every call a request id (see RequestIDs) and sends it back in the
// response header metadata.
func UnaryServerRequestID() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id := incomingRequestID(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDMetadata, id)) // fails only once headers are sent
		return handler(WithRequestID(ctx, id), req)
	}
}

// StreamServerRequestID is UnaryServerRequestID for streams.
func StreamServerRequestID() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		id := incomingRequestID(ss.Context())
		_ = ss.SetHeader(metadata.Pairs(RequestIDMetadata, id))
		return handler(srv, &idStream{ServerStream: ss, ctx: WithRequestID(ss.Context(), id)})
	}
}

type idStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *idStream) Context() context.Context { return s.ctx }

// UnaryClientRequestID sends the request id of ctx (the HTTP request a gateway call serves)
// as x-request-id, so both faces log one id.
func UnaryClientRequestID() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(outgoingRequestID(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientRequestID is UnaryClientRequestID for streams.
func StreamClientRequestID() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(outgoingRequestID(ctx), desc, cc, method, opts...)
	}
}

func outgoingRequestID(ctx context.Context) context.Context {
	if id := RequestID(ctx); id != "" {
		return metadata.AppendToOutgoingContext(ctx, RequestIDMetadata, id)
	}
	return ctx
}
