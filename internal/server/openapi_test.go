package server_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
)

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// gatewayRoutes are the REST routes the proto's google.api.http rules give the gateway, as
// OpenAPI paths, plus the ones the server adds by hand.
func gatewayRoutes(t *testing.T) map[string]bool {
	t.Helper()
	routes := map[string]bool{"GET /healthz": true, "GET /metrics": true, "GET /openapi.json": true, "GET /docs": true}
	file := anonjobv1.File_anonjob_v1_job_service_proto.Package()
	protoregistry.GlobalFiles.RangeFilesByPackage(file, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				rule, _ := proto.GetExtension(methods.Get(j).Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					t.Errorf("%s has no HTTP rule", methods.Get(j).FullName())
					continue
				}
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					method, path := httpOf(r)
					routes[method+" "+path] = true
				}
			}
		}
		return true
	})
	if len(routes) < 14 {
		t.Fatalf("found only %d routes: %v", len(routes), routes)
	}
	return routes
}

var templateVar = regexp.MustCompile(`\{([^}=]+)(=[^}]*)?\}`)

func httpOf(r *annotations.HttpRule) (string, string) {
	pairs := map[string]string{"GET": r.GetGet(), "POST": r.GetPost(), "PUT": r.GetPut(), "PATCH": r.GetPatch(), "DELETE": r.GetDelete()}
	for m, p := range pairs {
		if p != "" {
			return m, templateVar.ReplaceAllString(p, "{$1}")
		}
	}
	return r.GetCustom().GetKind(), r.GetCustom().GetPath()
}

func TestOpenAPIServedAndValid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, body := get(t, e.base+"/openapi.json", nil) // no API key needed
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served document is not valid OpenAPI 3: %v", err)
	}
	if doc.Info.Title != "anonjob API" || doc.Info.Version != "v1" {
		t.Errorf("info: %+v", doc.Info)
	}
	for route := range gatewayRoutes(t) {
		method, path, _ := strings.Cut(route, " ")
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s is served but not in the document", route)
		}
	}
	if s := doc.Components.SecuritySchemes["bearerApiKey"]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
		t.Errorf("no bearer scheme: %+v", doc.Components.SecuritySchemes)
	}
	if len(doc.Security) != 1 {
		t.Errorf("calls need the key by default: %+v", doc.Security)
	}
	if op := doc.Paths.Value("/v1/webhooks/celantur").Post; op.Security == nil || len(*op.Security) != 0 {
		t.Error("the engine's webhook needs no API key")
	}
	create := doc.Paths.Value("/v1/jobs").Post
	for _, media := range []string{"image/jpeg", "image/png"} {
		mt := create.RequestBody.Value.Content.Get(media)
		if mt == nil || mt.Schema.Value.Format != "binary" {
			t.Errorf("POST /v1/jobs body lacks raw %s", media)
		}
	}
	if create.RequestBody.Value.Content.Get("application/json") != nil {
		t.Error("POST /v1/jobs does not take JSON")
	}
	watch := doc.Paths.Value("/v1/jobs:watch").Get.Responses.Status(http.StatusOK).Value
	if watch.Content.Get("application/x-ndjson") == nil {
		t.Error("the watch stream is not NDJSON in the document")
	}
	file := doc.Paths.Value("/v1/jobs/{id}/files/{kind}").Get.Responses.Status(http.StatusOK).Value
	if file.Content.Get("image/png") == nil || file.Content.Get("image/jpeg") == nil {
		t.Error("file downloads are not described as images")
	}
	// The document's media type for the stream is what the server sends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = watchHTTP(ctx, t, e, "")
}

func TestDocsPageIsSelfContained(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, body := get(t, e.base+"/docs", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "/docs/swagger-ui-bundle.js") {
		t.Fatalf("GET /docs: %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP: %q", csp)
	}
	// Every file the page loads is served by anonjobd itself.
	for _, src := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(body), -1) {
		if !strings.HasPrefix(src[1], "/") {
			t.Errorf("page loads %s from elsewhere", src[1])
			continue
		}
		if r, b := get(t, e.base+src[1], nil); r.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("%s: %d", src[1], r.StatusCode)
		}
	}
}

func preflight(t *testing.T, base, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodOptions, base+"/v1/jobs", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const allowed = "https://console.example.com"
	e := newEnv(t, func(c *server.Config) { c.CORSOrigins = []string{allowed, "http://localhost:3000"} })

	resp := preflight(t, e.base, allowed)
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != allowed ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight(t, e.base, "https://evil.example.com"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused origin got %v", resp.Header)
	}
	// The actual request carries the header too, and still needs its key.
	r, _ := get(t, e.base+"/v1/jobs", http.Header{"Origin": {allowed}})
	if r.StatusCode != http.StatusUnauthorized || r.Header.Get("Access-Control-Allow-Origin") != allowed {
		t.Fatalf("GET without key from allowed origin: %d %v", r.StatusCode, r.Header)
	}
	r, _ = get(t, e.base+"/v1/jobs", http.Header{"Origin": {allowed}, "Authorization": {"Bearer " + e.key}})
	if r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != allowed {
		t.Fatalf("GET from allowed origin: %d %v", r.StatusCode, r.Header)
	}

	// None by default.
	plain := newEnv(t)
	if resp := preflight(t, plain.base, allowed); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS on by default: %v", resp.Header)
	}
}

func TestCORSOriginsAreChecked(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"console.example.com", "https://console.example.com/", "https://x.example/path", "ftp://x.example"} {
		cfg := servertest.Config(t, harness.NewDatabase(t))
		cfg.CORSOrigins = []string{bad}
		cfg.Dispatch = false
		if srv, err := server.Start(context.Background(), cfg); err == nil {
			srv.Close()
			t.Errorf("origin %q accepted", bad)
		} else if !strings.Contains(err.Error(), "CORSOrigins[0]") {
			t.Errorf("origin %q: %v", bad, err)
		}
	}
}
