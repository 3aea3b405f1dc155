package httpapi

import "testing"

func TestOpenPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path string
		open bool
	}{
		{"/healthz", true}, {"/livez", true}, {"/readyz", true}, {"/metrics", true},
		{"/openapi.json", true}, {"/docs", true}, {"/docs/index.html", true},
		{"/ui", true}, {"/ui/", true}, {"/ui/app.js", true}, {webhookPath, true},
		{"/v1/jobs", false}, {"/v1/webhook-secret:rotate", false}, {"/", false}, {"/nope", false},
		{"/v1/webhooks/celantur/x", false},
		// an open prefix must not lead to a keyed route
		{"/ui/../v1/jobs", false}, {"/docs/./x", false}, {"/ui//v1/jobs", false},
	} {
		if got := openPath(tt.path); got != tt.open {
			t.Errorf("openPath(%q) = %v, want %v", tt.path, got, tt.open)
		}
	}
}
