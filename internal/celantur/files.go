package celantur

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// File statuses reported by the provider.
const (
	StatusNew        = "new"
	StatusQueued     = "queued"
	StatusProcessing = "processing"
	StatusDone       = "done"
	StatusFailed     = "failed"
)

// Kinds of result file for Download and FileURL.
const (
	KindOriginal     = "original"
	KindAnonymized   = "anonymized"
	KindBinaryMask   = "binary-mask"
	KindInstanceMask = "instance-mask"
	KindMetadata     = "metadata"
)

// ValidKind reports whether kind names a downloadable result file.
func ValidKind(kind string) bool {
	switch kind {
	case KindOriginal, KindAnonymized, KindBinaryMask, KindInstanceMask, KindMetadata:
		return true
	}
	return false
}

// File is the provider's record of an uploaded file. Fields the answer
// lacks are empty; Raw keeps the whole JSON object for anything else.
type File struct {
	CustomerID    string `json:"customer_id"`
	FileID        string `json:"file_id"`
	FileStatus    string `json:"file_status"`
	WebhookStatus string `json:"webhook_status"`
	// DeleteTime is when the provider deletes the file, as it wrote it.
	DeleteTime string `json:"-"`
	Name       string `json:"name"`
	Method     string `json:"method"`
	// Error is the provider's reason for a failed file, when it gives one.
	Error string `json:"error"`
	// Raw is the JSON object as received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw object and accepts delete_time as a string,
// a number or null, since its format is not documented.
func (f *File) UnmarshalJSON(b []byte) error {
	type plain File
	var aux struct {
		plain
		DeleteTime json.RawMessage `json:"delete_time"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*f = File(aux.plain)
	f.Raw = append(json.RawMessage(nil), b...)
	var s string
	switch dt := bytes.TrimSpace(aux.DeleteTime); {
	case len(dt) == 0 || string(dt) == "null":
	case json.Unmarshal(dt, &s) == nil:
		f.DeleteTime = s
	default:
		f.DeleteTime = string(dt)
	}
	return nil
}

// maxJSONBody bounds a JSON answer; a list of a thousand files fits well.
const maxJSONBody = 16 << 20

// decodeJSON reads and decodes a JSON answer. A failed read is a transport
// problem and may be retried; bytes that are not the expected JSON are
// ErrMalformedResponse.
func decodeJSON[T any](resp *http.Response) (T, error) {
	var v T
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		return v, fmt.Errorf("read answer: %w", err)
	}
	if len(body) > maxJSONBody {
		return v, fmt.Errorf("%w: answer larger than %d bytes", ErrMalformedResponse, maxJSONBody)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("%w: HTTP %d with %s: %w", ErrMalformedResponse, resp.StatusCode, snippet(body), err)
	}
	return v, nil
}

// snippet quotes the start of a body for an error message.
func snippet(b []byte) string {
	const n = 64
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// decodeFile decodes one file object and checks it names a file.
func decodeFile(resp *http.Response) (File, error) {
	f, err := decodeJSON[File](resp)
	if err == nil && f.FileID == "" {
		return f, fmt.Errorf("%w: no file_id in the answer", ErrMalformedResponse)
	}
	return f, err
}

// Status returns the provider's record of fileID. A file the provider does
// not know gives an error for which IsNotFound is true.
func (c *Client) Status(ctx context.Context, fileID string) (File, error) {
	if err := checkFileID("status", fileID); err != nil {
		return File{}, err
	}
	r := request{op: "status", method: http.MethodGet, path: []string{"v1", "file", fileID, "status"}, accept: "application/json", auth: true}
	return call(ctx, c, r, decodeFile)
}

// Download opens the result file kind of fileID and returns its body, its
// Content-Type and its length (-1 when unknown). The body is streamed from
// the provider, not buffered; the caller must close it. Failures are
// retried only until the response headers arrive, before any byte reached
// the caller; reading the body is then bounded by ctx.
func (c *Client) Download(ctx context.Context, fileID, kind string) (io.ReadCloser, string, int64, error) {
	if err := checkFileID("download", fileID); err != nil {
		return nil, "", 0, err
	}
	if !ValidKind(kind) {
		return nil, "", 0, fmt.Errorf("celantur: download: unknown file kind %q", kind)
	}
	r := request{op: "download", method: http.MethodGet, path: []string{"v1", "file", fileID, kind}, auth: true, stream: true}
	resp, err := call(ctx, c, r, func(resp *http.Response) (*http.Response, error) { return resp, nil })
	if err != nil {
		return nil, "", 0, err
	}
	return resp.Body, resp.Header.Get("Content-Type"), resp.ContentLength, nil
}

// List returns up to limit of the account's files, as the provider orders
// them; limit 0 leaves the provider's default.
func (c *Client) List(ctx context.Context, limit int) ([]File, error) {
	if limit < 0 {
		return nil, fmt.Errorf("celantur: list: negative limit %d", limit)
	}
	r := request{op: "list", method: http.MethodGet, path: []string{"v1", "list"}, accept: "application/json", auth: true}
	if limit > 0 {
		r.query = map[string][]string{"limit": {strconv.Itoa(limit)}}
	}
	files, err := call(ctx, c, r, decodeJSON[[]File])
	if err != nil {
		return nil, err
	}
	return files, nil
}

// Delete removes fileID and its results at the provider. Deleting a file
// the provider does not know gives an error for which IsNotFound is true.
func (c *Client) Delete(ctx context.Context, fileID string) error {
	if err := checkFileID("delete", fileID); err != nil {
		return err
	}
	r := request{op: "delete", method: http.MethodDelete, path: []string{"v1", "file", fileID}, auth: true}
	_, err := call(ctx, c, r, func(resp *http.Response) (struct{}, error) {
		// The 2xx status is the answer; a body cut short must not cause a
		// retry, which would find the file gone and report 404.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return struct{}{}, nil
	})
	return err
}
