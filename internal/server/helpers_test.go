package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/pgembed"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
	"github.com/anonjob/anonjob/internal/store"
)

// env is one anonjobd on loopback with its own database, and clients for it.
type env struct {
	t     testing.TB
	srv   *server.Server
	dbURL string
	st    *store.Store // a store of its own on the server's database, for looking behind the API
	jobs  anonjobv1.JobServiceClient
	hooks anonjobv1.WebhookServiceClient
	base  string // http://host:port of the gateway
	key   string // API key of customer acme, used by jobs and do
	// rival is another customer, who must never see acme's jobs.
	rival    anonjobv1.JobServiceClient
	rivalKey string
}

type option func(*server.Config)

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	return startOn(t, harness.NewDatabase(t), opts...)
}

// startOn starts a server on an existing database: a second replica when the database is
// already in use.
func startOn(t testing.TB, dbURL string, opts ...option) *env {
	t.Helper()
	cfg := servertest.Config(t, dbURL)
	cfg.MaxDBConns = 8
	cfg.Dispatch = false // the tests of the job API play the engine's part themselves
	cfg.CallbackAllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.CallbackAllowPorts = netguard.AllPorts() // receivers are httptest servers on random ports
	cfg.RateLimit = 0                            // the rate limit has tests of its own
	for _, o := range opts {
		o(&cfg)
	}
	srv, keys := servertest.Start(t, cfg, "acme", "rival")
	key, rivalKey := keys[0], keys[1]
	if dbURL == "" { // the embedded database
		var ok bool
		if dbURL, ok = pgembed.RunningURL(cfg.DataDir); !ok {
			t.Fatal("no embedded database running")
		}
	}
	ctx := context.Background()
	conn := dial(t, srv.GRPCAddr().String(), key)
	rivalConn := dial(t, srv.GRPCAddr().String(), rivalKey)
	db, err := store.Connect(ctx, dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e := &env{t: t, srv: srv, dbURL: dbURL, st: store.New(db, store.Config{}), jobs: anonjobv1.NewJobServiceClient(conn),
		hooks: anonjobv1.NewWebhookServiceClient(conn), base: "http://" + srv.HTTPAddr().String(),
		key: key, rival: anonjobv1.NewJobServiceClient(rivalConn), rivalKey: rivalKey}
	e.waitHealthy()
	return e
}

// watchJobs opens a watch through c and reads its first message (the opening heartbeat, or
// the first of the replay): once that is back, the watch is in place.
func watchJobs(ctx context.Context, t *testing.T, c anonjobv1.JobServiceClient, req *anonjobv1.WatchJobsRequest) (
	grpc.ServerStreamingClient[anonjobv1.WatchJobsResponse], *anonjobv1.WatchJobsResponse) {
	t.Helper()
	stream, err := c.WatchJobs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("first message of the watch: %v", err)
	}
	return stream, first
}

// watchError opens a watch through c that is to fail, and returns its error: the call's, or
// that of its first message.
func watchError(ctx context.Context, c anonjobv1.JobServiceClient, req *anonjobv1.WatchJobsRequest) error {
	stream, err := c.WatchJobs(ctx, req)
	if err == nil {
		_, err = stream.Recv()
	}
	return err
}

// dial connects to the gRPC server with an API key ("" for none).
func dial(t testing.TB, addr, key string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.Bearer(key)), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func (e *env) waitHealthy() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("server never became healthy")
}

// jobCount counts the jobs in the database with one of the statuses, or all of them.
func (e *env) jobCount(statuses ...job.Status) int {
	e.t.Helper()
	st, err := e.st.JobStats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for s, c := range st.ByStatus {
		if len(statuses) == 0 || slices.Contains(statuses, job.Status(s)) {
			n += int(c)
		}
	}
	return n
}

// events reads the event history, of one job or ("") of all.
func (e *env) events(id string) []job.Event {
	e.t.Helper()
	tail, err := e.st.EventsAfter(context.Background(), 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []job.Event
	for _, ev := range tail.Events {
		if id == "" || ev.Job.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

// input returns the job's kept input, nil once it is gone.
func (e *env) input(id string) []byte {
	e.t.Helper()
	in, err := e.st.Input(context.Background(), id)
	if errors.Is(err, job.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// storedJob reads a job as stored, with the engine's own links.
func (e *env) storedJob(id string) job.Job {
	e.t.Helper()
	j, err := e.st.GetJob(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// jobsCharged counts acme's jobs whose charged upload attempts match.
func (e *env) jobsCharged(match func(attempts int) bool) int {
	e.t.Helper()
	ctx := context.Background()
	jobs, err := e.st.ListJobs(ctx, store.ListQuery{Customer: "acme", Limit: 100000})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		d, err := e.st.DispatchState(ctx, j.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		if match(d.Attempts) {
			n++
		}
	}
	return n
}

// receipts counts the provider webhooks kept for a job with the outcome, or any outcome.
func (e *env) receipts(id, outcome string) int {
	e.t.Helper()
	rs, err := e.st.Receipts(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if outcome == "" || r.Outcome == outcome {
			n++
		}
	}
	return n
}

// httpResult is a decoded gateway response.
type httpResult struct {
	status int
	body   map[string]any
	raw    []byte
}

// reason returns the ErrorInfo reason of an error response.
func (r httpResult) reason() string {
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		if strings.HasSuffix(asString(m["@type"]), "ErrorInfo") {
			return asString(m["reason"])
		}
	}
	return ""
}

func asString(v any) string { s, _ := v.(string); return s }

// do sends one request as customer acme. It does not fail the test itself, so subtests may use
// it: a transport error comes back as status 0 with the error as body.
func (e *env) do(method, path, contentType string, body []byte) httpResult {
	return e.doAs(e.key, method, path, contentType, body)
}

// doAs sends one request with the given API key ("" for none).
func (e *env) doAs(key, method, path, contentType string, body []byte) httpResult {
	req, err := http.NewRequestWithContext(context.Background(), method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return httpResult{raw: []byte(err.Error())}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httpResult{raw: []byte(err.Error())}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := httpResult{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// watchHTTP opens GET /v1/jobs:watch with query as e's customer and checks that it streams
// newline-delimited JSON, the media type the OpenAPI document gives. The stream ends with ctx
// or the test.
func watchHTTP(ctx context.Context, t *testing.T, e *env, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/v1/jobs:watch"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("watch: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

func (e *env) postImage(query url.Values, contentType string, body []byte) httpResult {
	return e.do(http.MethodPost, "/v1/jobs?"+query.Encode(), contentType, body)
}

// testPNG and testJPEG are small valid images.
func testPNG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testJPEG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for x := 0; x < 16; x++ {
		for y := 0; y < 12; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 20), 128, 255})
		}
	}
	return img
}

// createKey makes another API key for a customer.
func createKey(t *testing.T, e *env, customer string) string {
	t.Helper()
	_, key, err := auth.CreateKey(context.Background(), e.srv.Store, customer)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
