package v1wire_test

import (
	"encoding/json"
	"testing"

	"github.com/anonjob/anonjob/internal/v1wire"
)

// The field names are the protocol's, as documented: lower-case request, capitalised answer.
func TestSigninFieldNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{v1wire.SigninRequest{Username: "u", Password: "p"}, `{"username":"u","password":"p"}`},
		{v1wire.SigninResponse{AccessToken: "t", ExpiresIn: 3600}, `{"AccessToken":"t","ExpiresIn":3600}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%T: %s, %v; want %s", tc.v, b, err, tc.want)
		}
	}
}
