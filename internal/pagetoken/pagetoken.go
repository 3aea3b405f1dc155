// Package pagetoken encodes list positions as opaque page tokens (AIP-158). A token is bound to
// the filter it was made for, so a client cannot change filters halfway through a listing.
package pagetoken

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Token is the position after the last item of a page.
type Token struct {
	CreateTime time.Time
	ID         string // a UUID
	Filter     uint64 // fingerprint of the request's filters
}

const (
	version = 1
	size    = 1 + 8 + 16 + 8
)

// ErrInvalid is returned for any token this package did not make.
var ErrInvalid = errors.New("page_token is not a token returned by this API")

// Encode makes the opaque token string.
func Encode(t Token) string {
	id, err := uuid.Parse(t.ID)
	if err != nil {
		panic("pagetoken: ID is not a UUID: " + t.ID) // callers pass ids read from the database
	}
	b := make([]byte, size)
	b[0] = version
	binary.BigEndian.PutUint64(b[1:], uint64(t.CreateTime.UnixMicro()))
	copy(b[9:], id[:])
	binary.BigEndian.PutUint64(b[25:], t.Filter)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode parses a token made by Encode.
func Decode(s string) (Token, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size || b[0] != version {
		return Token{}, ErrInvalid
	}
	micros := int64(binary.BigEndian.Uint64(b[1:]))
	id, err := uuid.FromBytes(b[9:25])
	if err != nil || micros <= 0 {
		return Token{}, ErrInvalid
	}
	return Token{
		CreateTime: time.UnixMicro(micros).UTC(),
		ID:         id.String(),
		Filter:     binary.BigEndian.Uint64(b[25:]),
	}, nil
}
