package engine

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/anonjob/anonjob/internal/v1wire"
)

// tokenTTL is the lifetime the v1 protocol announces (ExpiresIn: 3600).
const tokenTTL = time.Hour

// tokens are the access tokens handed out by sign-in.
type tokens struct {
	mu     sync.Mutex
	expiry map[string]time.Time
}

func newTokens() *tokens { return &tokens{expiry: map[string]time.Time{}} }

func (t *tokens) issue(now time.Time) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	tok := hex.EncodeToString(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, exp := range t.expiry { // expired tokens are swept here so the map stays small
		if now.After(exp) {
			delete(t.expiry, k)
		}
	}
	t.expiry[tok] = now.Add(tokenTTL)
	return tok
}

func (t *tokens) valid(tok string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.expiry[tok]
	return ok && now.Before(exp)
}

// customerID is stable for a user name, so files survive restarts under
// the same customer.
func customerID(username string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("anonjob-engine:"+username)).String()
}

func (e *Engine) handleSignin(w http.ResponseWriter, r *http.Request) {
	var req v1wire.SigninRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {\"username\", \"password\"}")
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(req.Username), []byte(e.cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(req.Password), []byte(e.cfg.Password)) == 1
	if !userOK || !passOK {
		writeError(w, http.StatusUnauthorized, "wrong username or password")
		return
	}
	writeJSON(w, http.StatusOK, v1wire.SigninResponse{AccessToken: e.auth.issue(time.Now()), ExpiresIn: int(tokenTTL / time.Second)})
}

// authed wraps h so it runs only with a valid raw token in Authorization.
// A "Bearer " prefix is not part of the protocol and is not accepted.
func (e *Engine) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		if tok == "" {
			writeError(w, http.StatusUnauthorized, "missing Authorization header: send the AccessToken from POST /v1/signin")
			return
		}
		if !e.auth.valid(tok, time.Now()) {
			writeError(w, http.StatusUnauthorized, "invalid or expired access token")
			return
		}
		h(w, r)
	}
}
