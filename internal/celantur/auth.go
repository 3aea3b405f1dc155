package celantur

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/v1wire"
)

// tokenState holds the signed-in access token. One sign-in at a time is in
// flight; concurrent callers wait for it instead of each signing in.
type tokenState struct {
	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *signin
}

// signin is one sign-in in progress; done closes when token or err is set.
type signin struct {
	done  chan struct{}
	token string
	err   error
}

// refreshFraction of ExpiresIn after which the token is renewed, so a call
// never starts with a token about to lapse on the way.
const refreshFraction = 0.9

// defaultExpiresIn applies when the provider omits ExpiresIn; it is the
// documented lifetime.
const defaultExpiresIn = 3600

// canSignIn reports whether a rejected token can be replaced by signing in.
func (c *Client) canSignIn() bool { return c.creds.Token == "" }

// token returns a valid access token, signing in when there is none or it
// is close to expiry.
func (c *Client) token(ctx context.Context) (string, error) {
	if !c.canSignIn() {
		return c.creds.Token, nil
	}
	a := &c.auth
	a.mu.Lock()
	if a.token != "" && c.now().Before(a.refreshAt) {
		tok := a.token
		a.mu.Unlock()
		return tok, nil
	}
	call := a.inflight
	if call == nil {
		call = &signin{done: make(chan struct{})}
		a.inflight = call
		// The sign-in runs detached from this caller's cancellation: other
		// callers wait on it too and should not fail because the first one
		// gave up. It is still bounded by the call timeout.
		go c.runSignin(context.WithoutCancel(ctx), call)
	}
	a.mu.Unlock()
	select {
	case <-call.done:
		return call.token, call.err
	case <-ctx.Done():
		return "", fmt.Errorf("celantur: waiting for sign-in: %w", context.Cause(ctx))
	}
}

// runSignin performs call and publishes its result.
func (c *Client) runSignin(ctx context.Context, call *signin) {
	tok, expiresIn, err := c.signIn(ctx)
	a := &c.auth
	a.mu.Lock()
	a.inflight = nil
	if err == nil {
		a.token = tok
		a.refreshAt = c.now().Add(time.Duration(float64(expiresIn) * refreshFraction))
	}
	a.mu.Unlock()
	call.token, call.err = tok, err
	close(call.done)
}

// invalidate forgets tok after the provider rejected it. A token that was
// already replaced by a concurrent caller is left alone, so a burst of 401s
// leads to one sign-in, not one each.
func (c *Client) invalidate(tok string) {
	a := &c.auth
	a.mu.Lock()
	if a.token == tok {
		a.token = ""
	}
	a.mu.Unlock()
}

// signIn exchanges the username and password for a token and its lifetime.
func (c *Client) signIn(ctx context.Context) (string, time.Duration, error) {
	body, err := json.Marshal(v1wire.SigninRequest{Username: c.creds.Username, Password: c.creds.Password})
	if err != nil {
		return "", 0, fmt.Errorf("celantur: signin: encode request: %w", err)
	}
	r := request{
		op: "signin", method: http.MethodPost, path: []string{"v1", "signin"},
		body: body, contentType: "application/json",
	}
	out, err := call(ctx, c, r, decodeJSON[v1wire.SigninResponse])
	if err != nil {
		return "", 0, err
	}
	if out.AccessToken == "" {
		return "", 0, fmt.Errorf("%w: signin: no AccessToken in the answer", ErrMalformedResponse)
	}
	secs := out.ExpiresIn
	if secs <= 0 {
		secs = defaultExpiresIn
	}
	c.log.InfoContext(ctx, "signed in", "expires_in", secs)
	return out.AccessToken, time.Duration(secs) * time.Second, nil
}

// authorize sets the token on req; the protocol sends it raw, with no
// "Bearer" scheme.
func authorize(req *http.Request, tok string) {
	req.Header.Set("Authorization", tok)
}
