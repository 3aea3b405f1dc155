package auth

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// openStreams are the streams open under each key, checked again every ttl by one goroutine
// per key rather than one per stream: 10,000 watch streams of a customer's key are one ticker
// and one goroutine, not 10,000 of each (a goroutine's stack was about 2 KB of every idle
// watcher's cost).
type openStreams struct {
	mu    sync.Mutex
	byKey map[string]*keyStreams
	next  uint64
}

// keyStreams are the open streams of one key and the end of their recheck loop.
type keyStreams struct {
	cancels map[uint64]context.CancelCauseFunc
	// ctx bounds the recheck loop and a check under way: end is called when the last stream
	// leaves or the key is revoked.
	ctx context.Context
	end context.CancelFunc
}

// follow rechecks key while the stream whose context cancel ends is open, and ends the stream
// with errKeyRevoked once the key no longer works. The returned release stops following it.
func (a *Authenticator) follow(key string, cancel context.CancelCauseFunc) (release func()) {
	o := &a.streams
	o.mu.Lock()
	defer o.mu.Unlock()
	ks := o.byKey[key]
	if ks == nil {
		ctx, end := context.WithCancel(context.Background())
		ks = &keyStreams{cancels: map[uint64]context.CancelCauseFunc{}, ctx: ctx, end: end}
		o.byKey[key] = ks
		go a.recheck(key, ks)
	}
	o.next++
	id := o.next
	ks.cancels[id] = cancel
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		delete(ks.cancels, id)
		if len(ks.cancels) == 0 && o.byKey[key] == ks {
			delete(o.byKey, key)
			ks.end()
		}
	}
}

// recheck checks key again every ttl (through the cache, so at most one database read per key
// and ttl) and ends its streams once it no longer works. A database that cannot answer is not
// a revocation: the streams go on.
func (a *Authenticator) recheck(key string, ks *keyStreams) {
	every := max(a.ttl, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ks.ctx.Done():
			return
		case <-t.C:
		}
		// Bounded: a read stuck on the database would hold back the revocation of every
		// stream of the key.
		ctx, cancel := context.WithTimeout(ks.ctx, every)
		_, err := a.Check(ctx, key)
		cancel()
		if status.Code(err) != codes.Unauthenticated {
			continue
		}
		a.revoked(key, ks)
		return
	}
}

// revoked ends every stream of a key that stopped working; streams that open later under
// it are refused by the key check itself.
func (a *Authenticator) revoked(key string, ks *keyStreams) {
	o := &a.streams
	o.mu.Lock()
	cancels := make([]context.CancelCauseFunc, 0, len(ks.cancels))
	for _, cancel := range ks.cancels {
		cancels = append(cancels, cancel)
	}
	if o.byKey[key] == ks {
		delete(o.byKey, key)
	}
	o.mu.Unlock()
	ks.end()
	// Outside the lock: the streams of other keys open and close meanwhile.
	for _, cancel := range cancels {
		cancel(errKeyRevoked)
	}
}
