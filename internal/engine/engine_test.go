package engine

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignin(t *testing.T) {
	t.Parallel()
	te := startEngine(t, nil)
	te.signin(testUser, "wrong", http.StatusUnauthorized)
	te.signin("mallory", testPass, http.StatusUnauthorized)
	resp, data := te.do(http.MethodPost, "/v1/signin", "", strings.NewReader("not json"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "message") {
		t.Fatalf("bad body: %d %s", resp.StatusCode, data)
	}
}

func TestBadTokens(t *testing.T) {
	t.Parallel()
	te := startEngine(t, nil)
	paths := []struct{ method, path string }{
		{http.MethodPost, "/v1/file?method=blur"},
		{http.MethodGet, "/v1/file/x/status"},
		{http.MethodGet, "/v1/file/x/anonymized"},
		{http.MethodGet, "/v1/list"},
		{http.MethodDelete, "/v1/file/x"},
	}
	for _, p := range paths {
		for _, tok := range []string{"", "nope", "Bearer " + te.tok} {
			resp, data := te.do(p.method, p.path, tok, strings.NewReader("x"))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d %s", p.method, p.path, tok, resp.StatusCode, data)
			}
			var e errorBody
			if err := json.Unmarshal(data, &e); err != nil || e.Message == "" {
				t.Errorf("error body %q is not {\"message\"}", data)
			}
		}
	}
}

func TestUploadRejects(t *testing.T) {
	t.Parallel()
	te := startEngine(t, func(c *Config) { c.MaxUploadBytes = 100 << 10 })
	img := smallPNG(t)
	jpegHeaderOnly := faceJPEG(t)[:600] // valid header, truncated data
	cases := []struct {
		name  string
		query string
		body  []byte
		code  int
		want  string // part of the message
	}{
		{"unknown method", "method=smudge", img, 400, "smudge"},
		{"bad person", "method=blur&person=yes", img, 400, "person"},
		{"bad vehicle", "method=blur&vehicle=2", img, 400, "vehicle"},
		{"bad boolean", "method=blur&face=yes", img, 400, "face"},
		{"bad quality", "method=blur&quality=101", img, 400, "quality"},
		{"relative webhook", "method=blur&webhook=%2Fhook", img, 400, "webhook"},
		{"empty body", "method=blur", nil, 400, "empty"},
		{"not an image", "method=blur", []byte("GIF89a not supported"), 400, "neither JPEG nor PNG"},
		{"broken png", "method=blur", []byte("\x89PNG\r\n\x1a\nrubbish"), 400, "png"},
		{"too large", "method=blur", append([]byte("\xFF\xD8\xFF"), make([]byte, 200<<10)...), 413, "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, data := te.do(http.MethodPost, "/v1/file?"+c.query, te.tok, bytes.NewReader(c.body))
			if resp.StatusCode != c.code || !strings.Contains(strings.ToLower(string(data)), strings.ToLower(c.want)) {
				t.Fatalf("status %d body %s; want %d containing %q", resp.StatusCode, data, c.code, c.want)
			}
		})
	}
	// every class, on or off, in every spelling
	for _, q := range []string{"person=False&vehicle=false", "person=0", "license_plate=False&face=1",
		"person=True&vehicle=true", "person=1&vehicle=True&face=False&license-plate=false"} {
		te.upload(mustQuery(t, "method=detect&"+q), img, http.StatusOK)
	}
	// A JPEG whose header is fine but whose data is cut off is accepted and
	// then fails in processing, with the reason in the status.
	out := te.upload(mustQuery(t, "method=blur"), jpegHeaderOnly, http.StatusOK)
	st := waitStatus(t, te, out["file_id"].(string), statusFailed)
	if !strings.Contains(st["error"].(string), "not a supported image") {
		t.Fatalf("failed status without reason: %v", st)
	}
}

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// waitStatus polls until the file reaches want (or a terminal status).
func waitStatus(t *testing.T, te *testEngine, id, want string) map[string]any {
	t.Helper()
	for {
		st := te.status(id)
		s := st["file_status"].(string)
		if s == want {
			return st
		}
		if s == statusDone || s == statusFailed {
			t.Fatalf("file %s ended %s, want %s: %v", id, s, want, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUnknownFile(t *testing.T) {
	t.Parallel()
	te := startEngine(t, nil)
	for _, p := range []struct{ method, path string }{
		{http.MethodGet, "/v1/file/00000000-0000-0000-0000-000000000000/status"},
		{http.MethodGet, "/v1/file/00000000-0000-0000-0000-000000000000/original"},
		{http.MethodGet, "/v1/file/00000000-0000-0000-0000-000000000000/metadata"},
		{http.MethodDelete, "/v1/file/00000000-0000-0000-0000-000000000000"},
		{http.MethodGet, "/v1/nothing"},
	} {
		resp, data := te.do(p.method, p.path, te.tok, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(data), `"message"`) {
			t.Errorf("%s %s: %d %s", p.method, p.path, resp.StatusCode, data)
		}
	}
	resp, data := te.do(http.MethodGet, "/v1/list?limit=zero", te.tok, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad limit: %d %s", resp.StatusCode, data)
	}
}

// TestLifecycle follows one real image through processing, the webhook,
// every download, list and delete.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, 1) // the first delivery fails and is retried
	te := startEngine(t, nil)
	hookURL := hook.srv.URL + "/hook/dev?sender=celantur&approve=always&token=a%2Fb%26c"
	q := url.Values{"method": {"blur"}, "face": {"True"}, "license-plate": {"True"}, "quality": {"85"},
		"save-mask": {"True"}, "webhook": {hookURL}, "name": {"face.jpg"}}
	up := te.upload(q, faceJPEG(t), http.StatusOK)
	id, _ := up["file_id"].(string)
	if up["file_status"] != "queued" || up["webhook_status"] != "set" || up["customer_id"] == "" || len(id) != 36 || up["name"] != "face.jpg" {
		t.Fatalf("upload answer %v", up)
	}

	call := <-hook.calls
	if call.rawQuery != "sender=celantur&approve=always&token=a%2Fb%26c" || call.path != "/hook/dev" {
		t.Fatalf("webhook URL changed: path %q query %q", call.path, call.rawQuery)
	}
	if call.ctype != "application/json" {
		t.Errorf("webhook content type %q", call.ctype)
	}
	base := "http://engine.invalid/v1/file/" + id + "/"
	want := map[string]string{
		"customer_id": up["customer_id"].(string), "file_id": id, "file_status": "done",
		"original_link": base + "original", "anonymized_link": base + "anonymized",
		"binary_mask_link": base + "binary-mask", "instance_mask_link": base + "instance-mask",
		"metadata_link": base + "metadata",
	}
	for k, v := range want {
		if call.body[k] != v {
			t.Errorf("webhook %s = %q, want %q", k, call.body[k], v)
		}
	}
	st := waitWebhook(t, te, id, webhookSent)
	if st["file_status"] != "done" || st["delete_time"] == "" {
		t.Fatalf("status %v", st)
	}

	downloads := map[string]string{
		"original": "image/jpeg", "anonymized": "image/jpeg", "binary-mask": "image/png",
		"instance-mask": "image/png", "metadata": "application/json",
	}
	files := map[string][]byte{}
	for kind, ctype := range downloads {
		resp, data := te.do(http.MethodGet, "/v1/file/"+id+"/"+kind, te.tok, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype {
			t.Fatalf("%s: %d %q", kind, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		files[kind] = data
	}
	if !bytes.Equal(files["original"], faceJPEG(t)) {
		t.Error("original differs from the upload")
	}
	var md struct {
		Detections []struct {
			ID           int
			BBox         [4]int `json:"bbox"`
			TypeLabel    string `json:"type_label"`
			Score        float64
			IsAnonymized bool `json:"is_anonymized"`
		}
		Size [2]int
	}
	if err := json.Unmarshal(files["metadata"], &md); err != nil {
		t.Fatal(err)
	}
	if md.Size != [2]int{320, 320} || len(md.Detections) != 1 || md.Detections[0].TypeLabel != "face" || !md.Detections[0].IsAnonymized {
		t.Fatalf("metadata %s", files["metadata"])
	}
	if s := md.Detections[0].Score; s < 0.5 || s >= 1 {
		t.Errorf("face score %v, want the network's confidence for a clear frontal face", s)
	}
	mask, err := png.Decode(bytes.NewReader(files["binary-mask"]))
	if err != nil {
		t.Fatal(err)
	}
	b := md.Detections[0].BBox
	if g := mask.(*image.Gray); g.GrayAt(b[0], b[1]).Y != 255 || g.GrayAt(0, 0).Y != 0 {
		t.Error("binary mask does not match the detection box")
	}
	resp, data := te.do(http.MethodGet, "/v1/file/"+id+"/thumbnail", te.tok, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown kind: %d %s", resp.StatusCode, data)
	}

	var list []map[string]any
	_, data = te.do(http.MethodGet, "/v1/list?limit=10", te.tok, nil)
	if err := json.Unmarshal(data, &list); err != nil || len(list) != 1 || list[0]["file_id"] != id {
		t.Fatalf("list %s (%v)", data, err)
	}

	resp, data = te.do(http.MethodDelete, "/v1/file/"+id, te.tok, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, data)
	}
	resp, _ = te.do(http.MethodGet, "/v1/file/"+id+"/status", te.tok, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status after delete: %d", resp.StatusCode)
	}
}

func waitWebhook(t *testing.T, te *testEngine, id, want string) map[string]any {
	t.Helper()
	for {
		st := te.status(id)
		if st["webhook_status"] == want {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
}
