package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/testimages"
)

// field returns the BadRequest field of an error response, or "".
func (r httpResult) field() string {
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		if vs, ok := m["field_violations"].([]any); ok && len(vs) > 0 {
			v, _ := vs[0].(map[string]any)
			return asString(v["field"])
		}
	}
	return ""
}

// assertShape checks that an error response has the API's one shape.
func assertShape(t *testing.T, what string, r httpResult, status int, reason, field string) {
	t.Helper()
	code, _ := r.body["code"].(float64)
	if r.status != status || code == 0 || asString(r.body["message"]) == "" || r.reason() != reason || r.field() != field {
		t.Errorf("%s = %d reason %q field %q, want %d %q %q: %s", what, r.status, r.reason(), r.field(), status, reason, field, r.raw)
	}
}

func TestRESTInputEdges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := testPNG(t)
	missing := "0190c6f2-0000-7000-8000-000000000000"
	for _, tc := range []struct {
		method, path  string
		body          []byte
		status        int
		reason, field string
	}{
		// Text that is not UTF-8, wherever it is.
		{"POST", "/v1/jobs?request_id=%FF", img, 400, "INVALID_UTF8", "request_id"},
		{"POST", "/v1/jobs?callback_url=https%3A%2F%2Fx%2F%C3%28", img, 400, "INVALID_UTF8", "callback_url"},
		{"POST", "/v1/jobs?method=%FE", img, 400, "INVALID_UTF8", "method"},
		{"POST", "/v1/jobs?%FF=1", img, 400, "INVALID_UTF8", "query"},
		{"GET", "/v1/jobs/%FF", nil, 400, "INVALID_UTF8", "id"},
		{"POST", "/v1/jobs/%FF:cancel", nil, 400, "INVALID_UTF8", "id"},
		{"GET", "/v1/jobs/%FF/files/anonymized", nil, 400, "INVALID_UTF8", "id"},
		{"GET", "/v1/jobs/" + missing + "/files/%FF", nil, 400, "INVALID_UTF8", "kind"},
		{"GET", "/v1/jobs/%FF/deliveries", nil, 400, "INVALID_UTF8", "job_id"},
		{"GET", "/v1/jobs:watch?job_id=%FF", nil, 400, "INVALID_UTF8", "job_id"},
		{"GET", "/v1/jobs?page_token=%FF", nil, 400, "INVALID_UTF8", "page_token"},
		{"POST", "/v1/webhooks/celantur?job_id=" + missing + "&token=%FF", []byte("{}"), 400, "INVALID_UTF8", "token"},
		// Values that do not parse as their field's type.
		{"POST", "/v1/jobs?face=maybe", img, 400, "INVALID_PARAMETER", "face"},
		{"POST", "/v1/jobs?face=true&face=false", img, 400, "INVALID_PARAMETER", "face"},
		{"GET", "/v1/jobs?page_size=abc", nil, 400, "INVALID_PARAMETER", "page_size"},
		{"GET", "/v1/jobs?pageSize=99999999999", nil, 400, "INVALID_PARAMETER", "page_size"},
		{"GET", "/v1/jobs?status=bogus", nil, 400, "INVALID_PARAMETER", "status"},
		{"GET", "/v1/jobs?create_time_after=yesterday", nil, 400, "INVALID_PARAMETER", "create_time_after"},
		{"GET", "/v1/jobs:watch?since_revision=9223372036854775808", nil, 400, "INVALID_PARAMETER", "since_revision"},
		{"GET", "/v1/jobs:watch?since_revision=1e3", nil, 400, "INVALID_PARAMETER", "since_revision"},
		{"GET", "/v1/jobs:watch?status=DONE&status=nope", nil, 400, "INVALID_PARAMETER", "status"},
		// Every other error has the same shape.
		{"GET", "/v1/jobs/" + missing, nil, 404, "JOB_NOT_FOUND", ""},
		{"GET", "/v1/nothing-here", nil, 404, "ROUTE_NOT_FOUND", ""},
		{"DELETE", "/v1/jobs/" + missing, nil, 405, "METHOD_NOT_ALLOWED", ""},
		{"POST", "/v1/jobs?method=smudge", img, 400, "INVALID_METHOD", "method"},
	} {
		ct := ""
		if tc.body != nil {
			ct = "image/png"
			if tc.path[:12] == "/v1/webhooks" {
				ct = "application/json"
			}
		}
		r := e.do(tc.method, tc.path, ct, tc.body)
		assertShape(t, tc.method+" "+tc.path, r, tc.status, tc.reason, tc.field)
	}
	r := e.doAs("", http.MethodGet, "/v1/jobs", "", nil)
	assertShape(t, "no key", r, 401, "UNAUTHENTICATED", "")
	if n := e.jobCount(); n != 0 {
		t.Fatalf("bad input made %d jobs", n)
	}

	// Enum-like values in any case.
	q := url.Values{"method": {"PIXELATE"}, "face": {"TRUE"}, "license_plate": {"False"}}
	r = e.postImage(q, "image/png", img)
	if r.status != 200 || r.body["method"] != "pixelate" || r.body["face"] != true || r.body["license_plate"] != nil {
		t.Fatalf("upper-case options: %d %s", r.status, r.raw)
	}
	for _, s := range []string{"QUEUED", "queued", "Queued", "job_status_queued"} {
		r := e.do(http.MethodGet, "/v1/jobs?status="+s, "", nil)
		if jobs, _ := r.body["jobs"].([]any); r.status != 200 || len(jobs) != 1 {
			t.Errorf("status=%s: %d %s", s, r.status, r.raw)
		}
	}
}

// rawCodec sends bytes as they are: what a client in a language that does not check UTF-8
// puts on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

// withBadText appends a string field holding 0xFF to a marshalled message; path names nested
// fields ("image.content_type").
func withBadText(t *testing.T, m proto.Message, path ...string) []byte {
	t.Helper()
	base, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var build func(md protoreflect.MessageDescriptor, path []string) []byte
	build = func(md protoreflect.MessageDescriptor, path []string) []byte {
		fd := md.Fields().ByName(protoreflect.Name(path[0]))
		if fd == nil {
			t.Fatalf("no field %s in %s", path[0], md.FullName())
		}
		val := []byte{'a', 0xFF}
		if len(path) > 1 {
			val = build(fd.Message(), path[1:])
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, fd.Number(), protowire.BytesType), val)
	}
	return append(base, build(m.ProtoReflect().Descriptor(), path)...)
}

func TestGRPCInvalidUTF8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conn := dial(t, e.srv.GRPCAddr().String(), e.key)
	ctx := context.Background()
	img := &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/png", Data: testPNG(t)}, Face: true}
	for _, tc := range []struct {
		method string
		req    []byte
		field  string
	}{
		{anonjobv1.JobService_CreateJob_FullMethodName, withBadText(t, img, "request_id"), "request_id"},
		{anonjobv1.JobService_CreateJob_FullMethodName, withBadText(t, img, "image", "content_type"), "image.content_type"},
		{anonjobv1.JobService_GetJob_FullMethodName, withBadText(t, &anonjobv1.GetJobRequest{}, "id"), "id"},
		{anonjobv1.JobService_ListJobs_FullMethodName, withBadText(t, &anonjobv1.ListJobsRequest{}, "page_token"), "page_token"},
		{anonjobv1.WebhookService_HandleCelanturWebhook_FullMethodName, withBadText(t, &anonjobv1.HandleCelanturWebhookRequest{}, "token"), "token"},
	} {
		var reply []byte
		err := conn.Invoke(ctx, tc.method, tc.req, &reply, grpc.ForceCodecV2(rawCodec{}))
		assertStatus(t, err, codes.InvalidArgument, "INVALID_UTF8", tc.field)
	}
	// A server stream's request is checked the same way.
	desc := &grpc.StreamDesc{ServerStreams: true}
	stream, err := conn.NewStream(ctx, desc, anonjobv1.JobService_WatchJobs_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(withBadText(t, &anonjobv1.WatchJobsRequest{}, "job_id")); err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	var reply []byte
	assertStatus(t, stream.RecvMsg(&reply), codes.InvalidArgument, "INVALID_UTF8", "job_id")
	if n := e.jobCount(); n != 0 {
		t.Fatalf("bad input made %d jobs", n)
	}
	// Errors made before any handler runs have the shape too.
	_, err = anonjobv1.NewJobServiceClient(dial(t, e.srv.GRPCAddr().String(), "")).ListJobs(ctx, &anonjobv1.ListJobsRequest{})
	assertStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED", "")
	// Upper-case methods work over gRPC too.
	resp, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: img.GetImage(), Face: true, Method: "BLACKEN"})
	if err != nil || resp.GetJob().GetMethod() != "blacken" {
		t.Fatalf("method BLACKEN: %v %v", resp, err)
	}
}

// TestPixelLimit refuses an image over --max-image-pixels over REST and gRPC, naming the
// limit; the default is the engine's, 40 MP.
func TestPixelLimit(t *testing.T) {
	t.Parallel()
	def := newEnv(t)
	r := def.postImage(url.Values{"face": {"true"}}, "image/png", testimages.PNGHeader(8000, 5001))
	assertShape(t, "40 MP default", r, 400, "BAD_DIMENSIONS", "image")
	if !strings.Contains(asString(r.body["message"]), "the limit is 40000000 pixels") {
		t.Errorf("message does not name the limit: %s", r.raw)
	}
	small := newEnv(t, func(c *server.Config) { c.MaxImagePixels = 100 })
	r = small.postImage(url.Values{"face": {"true"}}, "image/png", testPNG(t)) // 16x12
	assertShape(t, "over 100 pixels", r, 400, "BAD_DIMENSIONS", "image")
	if !strings.Contains(asString(r.body["message"]), "is 16x12 pixels") {
		t.Errorf("message does not name the size: %s", r.raw)
	}
	_, err := small.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{
		Image: &httpbody.HttpBody{ContentType: "image/png", Data: testPNG(t)}, Face: true})
	assertStatus(t, err, codes.InvalidArgument, "BAD_DIMENSIONS", "image")
	if n := small.jobCount() + def.jobCount(); n != 0 {
		t.Fatalf("%d jobs made of refused images", n)
	}
}
