package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/store"
)

// KeyReader looks keys up.
type KeyReader interface {
	APIKey(ctx context.Context, id string) (store.APIKey, error)
}

// Authenticator checks the API key of every call except those of exempt services.
type Authenticator struct {
	keys   KeyReader
	ttl    time.Duration
	exempt []string // full-method prefixes that need no key

	mu    sync.Mutex
	cache map[[32]byte]cached // by hash of the whole key

	streams openStreams
}

type cached struct {
	customer string // "" for a key that was refused
	until    time.Time
}

// New makes an authenticator. A verified key is remembered for ttl, so a revocation takes
// effect within ttl. exempt lists full-method prefixes open without a key, e.g.
// "/grpc.health.v1.Health/".
func New(keys KeyReader, ttl time.Duration, exempt ...string) *Authenticator {
	return &Authenticator{keys: keys, ttl: ttl, exempt: exempt, cache: map[[32]byte]cached{},
		streams: openStreams{byKey: map[string]*keyStreams{}}}
}

type customerKey struct{}

// CustomerFrom returns the customer a call was authenticated as, or "".
func CustomerFrom(ctx context.Context) string {
	c, _ := ctx.Value(customerKey{}).(string)
	return c
}

// WithCustomer returns ctx as authenticated for customer.
func WithCustomer(ctx context.Context, customer string) context.Context {
	return context.WithValue(ctx, customerKey{}, customer)
}

// errUnauthenticated says nothing of which part was wrong.
var errUnauthenticated = apierr.New(codes.Unauthenticated, "UNAUTHENTICATED", "missing or invalid API key: send authorization: Bearer <key>", nil, "")

func (a *Authenticator) isExempt(method string) bool {
	for _, p := range a.exempt {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// authenticate returns ctx carrying the caller's customer.
func (a *Authenticator) authenticate(ctx context.Context) (context.Context, error) {
	ctx, _, err := a.authenticateKey(ctx)
	return ctx, err
}

// authenticateKey is authenticate that also returns the key, for streams to check it again.
func (a *Authenticator) authenticateKey(ctx context.Context) (context.Context, string, error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization") // no copy of all the metadata
	if len(vals) != 1 {
		return nil, "", errUnauthenticated
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil, "", errUnauthenticated
	}
	key = strings.TrimSpace(key)
	customer, err := a.CheckAuthorization(ctx, vals[0])
	if err != nil {
		return nil, "", err
	}
	return WithCustomer(ctx, customer), key, nil
}

// CheckAuthorization checks an Authorization header value ("Bearer <key>") and returns the
// key's customer.
func (a *Authenticator) CheckAuthorization(ctx context.Context, header string) (string, error) {
	scheme, key, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", errUnauthenticated
	}
	return a.Check(ctx, strings.TrimSpace(key))
}

// Check returns the customer of a valid, unrevoked key; any other key is UNAUTHENTICATED.
// Answers are remembered for the TTL, refusals too: a key checked once costs no database
// read until then, which keeps the check fast enough to run before a request's body is read
// (and on gRPC's transport goroutine), and keeps repeated forged keys off the database.
func (a *Authenticator) Check(ctx context.Context, key string) (string, error) {
	whole := sha256.Sum256([]byte(key))
	now := time.Now()
	a.mu.Lock()
	c, hit := a.cache[whole]
	a.mu.Unlock()
	if hit && now.Before(c.until) {
		if c.customer == "" {
			return "", errUnauthenticated
		}
		return c.customer, nil
	}
	id, secret, ok := parse(key)
	if !ok {
		return "", errUnauthenticated // malformed: refused without a read, nothing to remember
	}
	k, err := a.keys.APIKey(ctx, id)
	if err != nil && !errors.Is(err, store.ErrKeyNotFound) {
		return "", status.Error(codes.Unavailable, "cannot check the API key now; try again")
	}
	customer := k.Customer
	if err != nil || subtle.ConstantTimeCompare(hashSecret(secret), k.SecretHash) != 1 || k.RevokeTime != nil {
		customer = ""
	}
	a.mu.Lock()
	if len(a.cache) > 10000 { // bounded against floods of forged keys
		clear(a.cache)
	}
	a.cache[whole] = cached{customer: customer, until: now.Add(a.ttl)}
	a.mu.Unlock()
	if customer == "" {
		return "", errUnauthenticated
	}
	return customer, nil
}

// Exempt reports whether a full gRPC method needs no key.
func (a *Authenticator) Exempt(method string) bool { return a.isExempt(method) }

// Unary enforces keys on unary calls.
func (a *Authenticator) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if a.isExempt(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := a.authenticate(ctx)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream enforces keys on streaming calls.
func (a *Authenticator) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if a.isExempt(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, key, err := a.authenticateKey(ss.Context())
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		defer a.follow(key, cancel)()
		err = handler(srv, &stream{ServerStream: ss, ctx: ctx})
		if errors.Is(context.Cause(ctx), errKeyRevoked) {
			return errKeyRevokedStatus
		}
		return err
	}
}

// errKeyRevoked ends a stream whose key stopped working while it was open.
var (
	errKeyRevoked       = errors.New("api key revoked")
	errKeyRevokedStatus = apierr.New(codes.Unauthenticated, "KEY_REVOKED", "the API key was revoked while the stream was open", nil, "")
)

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }
