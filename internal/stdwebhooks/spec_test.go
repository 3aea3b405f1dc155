package stdwebhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// specSignatures checks a webhook-signature header value the way the Standard Webhooks text
// describes it, without package code: the key is the base64 after "whsec_", the signed content
// is "{id}.{timestamp}.{body}", and the header is a space-separated list of "v1,<base64>".
// It returns which entries match.
func specSignatures(whsec, id, timestamp, header string, body []byte) []bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "." + string(body)))
	expected := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	var matches []bool
	for _, entry := range strings.Split(header, " ") {
		matches = append(matches, hmac.Equal([]byte(entry), []byte(expected)))
	}
	return matches
}

// specVerifies reports whether any entry of the header matches.
func specVerifies(whsec, id, timestamp, header string, body []byte) bool {
	for _, ok := range specSignatures(whsec, id, timestamp, header, body) {
		if ok {
			return true
		}
	}
	return false
}
