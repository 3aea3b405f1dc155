package auth

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// Bearer returns call credentials that send key as "authorization: Bearer <key>". anonjob's
// default transport is plaintext (loopback or a trusted network), so they do not insist on TLS.
func Bearer(key string) credentials.PerRPCCredentials { return bearer(key) }

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if b == "" {
		return nil, nil
	}
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
