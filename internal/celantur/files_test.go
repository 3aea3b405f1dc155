package celantur

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestDownloadStreams(t *testing.T) {
	t.Parallel()
	const chunk = 1 << 20
	const chunks = 8
	p := newProvider(t)
	firstRead := make(chan struct{})
	var n atomic.Int32
	p.mux.HandleFunc("GET /v1/file/{id}/anonymized", func(w http.ResponseWriter, r *http.Request) {
		if !requireToken(w, r, "tok-1") {
			return
		}
		if n.Add(1) == 1 { // a failure before any byte is retried
			writeJSON(w, http.StatusBadGateway, map[string]string{"message": "upstream"})
			return
		}
		w.Header().Set("Content-Type", "image/png")
		for i := range chunks {
			_, _ = w.Write(bytes.Repeat([]byte{byte(i)}, chunk))
			_ = http.NewResponseController(w).Flush()
			if i == 0 {
				// The rest is sent only once the client has read from the
				// first chunk: a client that buffered the whole body before
				// returning would never get there.
				select {
				case <-firstRead:
				case <-r.Context().Done():
					return
				case <-time.After(30 * time.Second):
					t.Error("the client did not read the first chunk before the whole body was sent")
					return
				}
			}
		}
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	body, ctype, length, err := c.Download(t.Context(), "f1", KindAnonymized)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	defer func() { _ = body.Close() }()
	if ctype != "image/png" || length != -1 {
		t.Errorf("content type %q, length %d; want image/png and -1 for a chunked body", ctype, length)
	}
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(body, buf); err != nil {
		t.Fatalf("first read: %v", err)
	}
	close(firstRead)
	rest, err := io.Copy(io.Discard, body)
	if err != nil {
		t.Fatalf("read rest: %v", err)
	}
	if total := int64(len(buf)) + rest; total != chunk*chunks {
		t.Errorf("read %d bytes, want %d", total, chunk*chunks)
	}
	if got := p.count("GET /v1/file/f1/anonymized"); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

func TestDownloadKinds(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.mux.HandleFunc("GET /v1/file/{id}/{kind}", func(w http.ResponseWriter, r *http.Request) {
		data := []byte(r.PathValue("kind") + " of " + r.PathValue("id"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	for _, kind := range []string{KindOriginal, KindAnonymized, KindBinaryMask, KindInstanceMask, KindMetadata} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			body, ctype, length, err := c.Download(t.Context(), "f1", kind)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			defer func() { _ = body.Close() }()
			got, _ := io.ReadAll(body)
			want := kind + " of f1"
			if string(got) != want || length != int64(len(want)) || ctype != "application/octet-stream" {
				t.Errorf("got %q (length %d, type %q), want %q", got, length, ctype, want)
			}
		})
	}
	t.Run("unknown kind", func(t *testing.T) {
		t.Parallel()
		if _, _, _, err := c.Download(t.Context(), "f1", "thumbnail"); err == nil {
			t.Error("unknown kind accepted")
		}
	})
	t.Run("path in file id", func(t *testing.T) {
		t.Parallel()
		if _, _, _, err := c.Download(t.Context(), "../x", KindOriginal); err == nil {
			t.Error("file id with a path accepted")
		}
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		wantQuery string
	}{
		{name: "with limit", limit: 5, wantQuery: "limit=5"},
		{name: "provider default", limit: 0, wantQuery: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			p.mux.HandleFunc("GET /v1/list", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.RawQuery != tt.wantQuery {
					t.Errorf("query = %q, want %q", r.URL.RawQuery, tt.wantQuery)
				}
				a, b := fileJSON("a", StatusDone), fileJSON("b", StatusFailed)
				b["delete_time"] = 1893456000 // a number: the format is not documented
				b["error"] = "no decoder for image"
				writeJSON(w, http.StatusOK, []any{a, b})
			})
			c, _ := newTestClient(t, p.srv.URL, nil)
			files, err := c.List(t.Context(), tt.limit)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(files) != 2 || files[0].FileID != "a" || files[1].FileStatus != StatusFailed ||
				files[1].DeleteTime != "1893456000" || files[1].Error != "no decoder for image" {
				t.Errorf("files = %+v", files)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	var deleted atomic.Bool
	p.mux.HandleFunc("DELETE /v1/file/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "f1" || deleted.Swap(true) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "no file with id"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"file_id": "f1", "message": "deleted"})
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	if err := c.Delete(t.Context(), "f1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(t.Context(), "f1"); !IsNotFound(err) {
		t.Errorf("second Delete: err = %v, want not found", err)
	}
}

func TestStatusOfUnknownFile(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no file with id " + strconv.Quote(r.PathValue("id"))})
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	_, err := c.Status(t.Context(), "nope")
	if !IsNotFound(err) || IsRetryable(err) {
		t.Fatalf("err = %v, want a permanent not found", err)
	}
	if n := p.count("GET /v1/file/nope/status"); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}
