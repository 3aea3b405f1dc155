package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// CORS lets browser pages on the given origins call the API, answering preflight requests
// itself. It must be the outermost handler: a preflight carries no API key, so anything that
// authenticates must not see it. With no origins it returns next unchanged, so no other
// origin is allowed (same-origin pages need nothing).
func CORS(origins []string, next http.Handler) (http.Handler, error) {
	if len(origins) == 0 {
		return next, nil
	}
	for _, o := range origins {
		if err := CheckOrigin(o); err != nil {
			return nil, err
		}
	}
	c := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept"},
		// Keys travel in the Authorization header, never in cookies: no credentials mode.
		AllowCredentials: false,
		ExposedHeaders:   []string{"Content-Disposition", "Content-Length"},
		MaxAge:           600,
	})
	return c.Handler(next), nil
}

// CheckOrigin accepts "*" or a bare origin: scheme, host and optional port, nothing else.
func CheckOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "/") {
		return fmt.Errorf("%q: want an origin such as https://console.example.com (scheme, host, optional port; no path)", o)
	}
	return nil
}
