// Package v1wire holds the JSON bodies of the Celantur v1 protocol that both sides of it (the
// client in internal/celantur and the built-in engine) write or read, so the two cannot drift
// apart. It imports nothing of anonjob, so either side may import it without importing the
// other.
package v1wire

// SigninRequest is the body of POST /v1/signin.
type SigninRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// SigninResponse answers a sign-in: the raw token, valid for ExpiresIn seconds.
type SigninResponse struct {
	AccessToken string `json:"AccessToken"`
	ExpiresIn   int    `json:"ExpiresIn"`
}
