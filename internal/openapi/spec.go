// Package openapi serves the REST API's description: the OpenAPI document at /openapi.json,
// built from the one protoc-gen-openapiv2 writes, and an embedded viewer at /docs.
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// Title and Version are the document's info; Version is the API's, as in the proto package
// anonjob.v1.
const (
	Title   = "anonjob API"
	Version = "v1"
)

const bearer = "bearerApiKey"

// Build converts the generated OpenAPI 2 document to OpenAPI 3 and corrects what the
// generator cannot know about the gateway: OpenAPI 2 has no bearer scheme, and one media type
// list per document where the gateway takes a raw image, streams NDJSON and returns files.
func Build(v2 []byte) (*openapi3.T, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(v2, &doc2); err != nil {
		return nil, fmt.Errorf("openapi: read generated document: %w", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("openapi: convert to OpenAPI 3: %w", err)
	}
	doc.Info = &openapi3.Info{
		Title:   Title,
		Version: Version,
		Description: "Image-anonymization jobs: submit an image, follow its job (poll, list or watch), " +
			"fetch its result files. Every call needs an API key as `Authorization: Bearer <key>`, " +
			"except the engine's webhook and the health check. Errors are google.rpc.Status " +
			"objects with a google.rpc.ErrorInfo reason.",
	}
	doc.Tags = nil // one tag per proto service is noise in a three-service API
	if doc.Components == nil {
		doc.Components = &openapi3.Components{}
	}
	doc.Components.SecuritySchemes = openapi3.SecuritySchemes{bearer: &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
		Type: "http", Scheme: "bearer", BearerFormat: "API key",
		Description: "An API key from `anonjobd keys create`; one customer per key.",
	}}}
	doc.Security = openapi3.SecurityRequirements{{bearer: []string{}}}
	for _, fix := range []func(*openapi3.T) error{createJobBody, watchStream, fileDownload, webhookIsPublic, extraRoutes} {
		if err := fix(doc); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func operation(doc *openapi3.T, method, path string) (*openapi3.Operation, error) {
	item := doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		return nil, fmt.Errorf("openapi: generated document lacks %s %s", method, path)
	}
	return item.GetOperation(method), nil
}

func binary() *openapi3.SchemaRef {
	return openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, Format: "binary"})
}

// createJobBody: POST /v1/jobs takes the image itself as its body, not JSON.
func createJobBody(doc *openapi3.T) error {
	op, err := operation(doc, http.MethodPost, "/v1/jobs")
	if err != nil {
		return err
	}
	op.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{
		Required:    true,
		Description: "The image itself (JPEG or PNG, at most the server's --max-upload-bytes), with its media type as Content-Type; options are query parameters.",
		Content:     openapi3.NewContentWithSchemaRef(binary(), []string{"image/jpeg", "image/png"}),
	}}
	return nil
}

// watchStream: the watch answers newline-delimited JSON, one object per message, until the
// client goes away; an error after the start is a last {"error": ...} line.
func watchStream(doc *openapi3.T) error {
	op, err := operation(doc, http.MethodGet, "/v1/jobs:watch")
	if err != nil {
		return err
	}
	ok := op.Responses.Status(http.StatusOK)
	if ok == nil || ok.Value == nil || ok.Value.Content.Get("application/json") == nil {
		return fmt.Errorf("openapi: watch has no JSON 200 response to correct")
	}
	line := ok.Value.Content.Get("application/json").Schema
	desc := "A stream of newline-delimited JSON objects (application/x-ndjson): each line is " +
		"{\"result\": WatchJobsResponse} or, once, a final {\"error\": google.rpc.Status}. " +
		"The first message is a heartbeat with the starting revision; resume with since_revision " +
		"set to the last revision seen."
	ok.Value.Description = &desc
	ok.Value.Content = openapi3.NewContentWithSchemaRef(line, []string{"application/x-ndjson"})
	return nil
}

// fileDownload: result files are the bytes themselves.
func fileDownload(doc *openapi3.T) error {
	op, err := operation(doc, http.MethodGet, "/v1/jobs/{id}/files/{kind}")
	if err != nil {
		return err
	}
	desc := "The file: the anonymized or original image (image/jpeg or image/png), a mask " +
		"(image/png), or the metadata (application/json)."
	content := openapi3.NewContentWithSchemaRef(binary(), []string{"image/jpeg", "image/png"})
	content["application/json"] = &openapi3.MediaType{Schema: openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeObject}})}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{Description: &desc, Content: content}})
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.Name == "kind" && p.Value.Schema != nil && p.Value.Schema.Value != nil {
			p.Value.Schema.Value.Enum = []any{"anonymized", "original", "binary-mask", "instance-mask", "metadata"}
		}
	}
	return nil
}

// webhookIsPublic: the engine's webhook carries a per-job token instead of an API key.
func webhookIsPublic(doc *openapi3.T) error {
	op, err := operation(doc, http.MethodPost, "/v1/webhooks/celantur")
	if err != nil {
		return err
	}
	op.Security = &openapi3.SecurityRequirements{}
	op.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{
		Required:    true,
		Description: "The engine's completion payload: JSON, form-encoded, or key=value lines (at most 64 KiB).",
		Content: openapi3.NewContentWithSchemaRef(openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}}),
			[]string{"application/json", "application/x-www-form-urlencoded", "text/plain"}),
	}}
	return nil
}

// extraRoutes are served next to the generated ones.
func extraRoutes(doc *openapi3.T) error {
	text := func(summary, media string, public bool) *openapi3.PathItem {
		desc := summary
		op := &openapi3.Operation{Summary: summary, OperationID: "",
			Responses: openapi3.NewResponses(openapi3.WithStatus(http.StatusOK, &openapi3.ResponseRef{Value: &openapi3.Response{
				Description: &desc,
				Content:     openapi3.NewContentWithSchemaRef(openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}}), []string{media}),
			}}))}
		if public {
			op.Security = &openapi3.SecurityRequirements{}
		}
		return &openapi3.PathItem{Get: op}
	}
	for _, p := range []struct{ path, id, summary string }{
		{"/livez", "Live", "Liveness: 200 while the process runs."},
		{"/readyz", "Ready", "Readiness: 200 when the database (migrations applied) and the engine answer, else 503 naming the failed checks."},
		{"/healthz", "Health", "Alias of /readyz."},
	} {
		probe := text(p.summary, "application/json", true)
		probe.Get.OperationID = p.id
		doc.Paths.Set(p.path, probe)
	}
	metrics := text("Prometheus metrics.", "text/plain", true)
	metrics.Get.OperationID = "Metrics"
	doc.Paths.Set("/metrics", metrics)
	spec := text("This document.", "application/json", true)
	spec.Get.OperationID = "OpenAPI"
	doc.Paths.Set("/openapi.json", spec)
	docs := text("This document, rendered.", "text/html", true)
	docs.Get.OperationID = "Docs"
	doc.Paths.Set("/docs", docs)
	return nil
}
