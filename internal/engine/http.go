package engine

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler returns the whole v1 API.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", e.handleSignin)
	mux.HandleFunc("POST /v1/file", e.authed(e.handleUpload))
	mux.HandleFunc("GET /v1/file/{id}/status", e.authed(e.handleStatus))
	mux.HandleFunc("GET /v1/file/{id}/{kind}", e.authed(e.handleDownload))
	mux.HandleFunc("DELETE /v1/file/{id}", e.authed(e.handleDelete))
	mux.HandleFunc("GET /v1/list", e.authed(e.handleList))
	mux.HandleFunc("GET /v1/capacity", e.authed(e.handleCapacity))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// Capacity is how many files the engine holds at once without refusing an
// upload with 429: one on each worker and a full queue. A dispatcher that
// keeps this many in flight keeps the engine busy and never refused.
func (e *Engine) Capacity() int { return e.cfg.Workers + e.cfg.QueueSize }

// handleCapacity tells Capacity; it is anonjob's addition to the v1 API.
func (e *Engine) handleCapacity(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Capacity  int `json:"capacity"`
		Workers   int `json:"workers"`
		QueueSize int `json:"queue_size"`
	}{e.Capacity(), e.cfg.Workers, e.cfg.QueueSize})
}

type errorBody struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client hung up: nothing left to do
}

// parseBool accepts the spellings clients of the v1 API use: True/False
// (Python), true/false and 1/0.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

func retryAfter(w http.ResponseWriter, seconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
}

// NewHTTPServer is the engine's HTTP server with timeouts: headers within 10 s, a whole
// request (an upload of MaxUploadBytes on a slow link) within 5 minutes, answers (result
// downloads) within 10, idle keep-alive connections closed after 2. Without them one client
// that trickles bytes holds a connection and its goroutine for ever.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}
