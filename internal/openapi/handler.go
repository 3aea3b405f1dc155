package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
)

//go:embed swaggerui/swagger-ui-bundle.js swaggerui/swagger-ui.css
var viewer embed.FS

// The page loads only same-origin files, so the policy can forbid everything else; Swagger UI
// sets style attributes, hence 'unsafe-inline' for styles only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>anonjob API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`

// init.js is a file rather than an inline script so that the CSP needs no 'unsafe-inline'.
const initScript = `window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: false});
`

// Register mounts GET /openapi.json, GET /docs and the viewer's files on mux. None of them
// needs an API key: the description is public, the calls it describes are not.
func Register(mux *http.ServeMux, v2 []byte) error {
	doc, err := Build(v2)
	if err != nil {
		return err
	}
	spec, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("openapi: encode: %w", err)
	}
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(spec)
	})
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, _ *http.Request) {
		secure(w, "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	mux.HandleFunc("GET /docs/init.js", func(w http.ResponseWriter, _ *http.Request) {
		secure(w, "text/javascript; charset=utf-8")
		_, _ = w.Write([]byte(initScript))
	})
	for name, media := range map[string]string{"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8"} {
		b, err := viewer.ReadFile("swaggerui/" + name)
		if err != nil {
			return fmt.Errorf("openapi: embedded viewer: %w", err)
		}
		mux.HandleFunc("GET /docs/"+name, func(w http.ResponseWriter, _ *http.Request) {
			secure(w, media)
			w.Header().Set("Cache-Control", "public, max-age=86400")
			_, _ = w.Write(b)
		})
	}
	return nil
}

func secure(w http.ResponseWriter, media string) {
	h := w.Header()
	h.Set("Content-Type", media)
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
