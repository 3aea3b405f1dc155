package providerhook

import "time"

// TokenAt mints a token with a given expiry, for tests.
func (s Signer) TokenAt(jobID string, expire time.Time) string { return s.tokenAt(jobID, expire) }
