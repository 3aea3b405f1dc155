package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StandIn is a zero-cost Celantur v1 engine for measuring the job service alone: it accepts
// any credentials, answers an upload at once and at once sends the completion webhook, as
// "done", to the callback URL the upload named. Webhooks go only to loopback addresses.
type StandIn struct {
	hooks   chan hook
	client  *http.Client
	log     *slog.Logger
	files   atomic.Int64
	failed  atomic.Int64
	senders sync.WaitGroup
	baseURL string
}

type hook struct {
	url  string
	body []byte
}

// webhookSenders bound the webhooks in flight, like an engine's delivery workers.
const webhookSenders = 64

// NewStandIn makes a stand-in whose links name baseURL; Close it when done.
func NewStandIn(baseURL string, log *slog.Logger) *StandIn {
	s := &StandIn{
		hooks: make(chan hook, 4096),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: webhookSenders, MaxIdleConnsPerHost: webhookSenders, IdleConnTimeout: time.Minute,
		}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		log: log, baseURL: strings.TrimRight(baseURL, "/"),
	}
	for range webhookSenders {
		s.senders.Go(s.send)
	}
	return s
}

// Close stops the webhook senders once the webhooks queued are sent.
func (s *StandIn) Close() {
	close(s.hooks)
	s.senders.Wait()
}

// Files is the number of uploads accepted; FailedWebhooks those whose webhook was not
// accepted.
func (s *StandIn) Files() int64          { return s.files.Load() }
func (s *StandIn) FailedWebhooks() int64 { return s.failed.Load() }

// Handler serves the v1 API.
func (s *StandIn) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"AccessToken": "stand-in", "ExpiresIn": 3600})
	})
	mux.HandleFunc("POST /v1/file", s.upload)
	mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"file_id": r.PathValue("id"), "file_status": "done"})
	})
	mux.HandleFunc("DELETE /v1/file/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"file_id": r.PathValue("id"), "message": "deleted"})
	})
	return mux
}

func (s *StandIn) upload(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	callback := r.URL.Query().Get("webhook")
	if err := loopbackURL(callback); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "webhook: " + err.Error()})
		return
	}
	id := fmt.Sprintf("stand-in-%d", s.files.Add(1))
	writeJSON(w, map[string]string{"customer_id": "load", "file_id": id, "file_status": "queued", "webhook_status": "set"})
	link := s.baseURL + "/v1/file/" + id + "/"
	body, _ := json.Marshal(map[string]string{
		"customer_id": "load", "file_id": id, "file_status": "done",
		"original_link": link + "original", "anonymized_link": link + "anonymized",
		"binary_mask_link": link + "binary-mask", "instance_mask_link": link + "instance-mask",
		"metadata_link": link + "metadata",
	})
	s.hooks <- hook{url: callback, body: body}
}

func (s *StandIn) send() {
	for h := range s.hooks {
		ok := false
		for try := 0; try < 5 && !ok; try++ {
			if try > 0 {
				time.Sleep(time.Duration(try) * 50 * time.Millisecond)
			}
			ok = s.post(h)
		}
		if !ok {
			s.failed.Add(1)
		}
	}
}

func (s *StandIn) post(h hook) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(h.body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Debug("webhook", "err", err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// loopbackURL refuses a URL whose host is not this machine.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not on this machine", host)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
