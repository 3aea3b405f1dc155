package celantur

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Anonymization methods of UploadOptions.Method.
const (
	MethodBlur     = "blur"
	MethodPixelate = "pixelate"
	MethodBlacken  = "blacken"
	MethodDetect   = "detect"
)

// UploadOptions are the query options of an upload.
//
// The four targets are always sent, each as True or False: the provider
// treats an absent face or license-plate as switched on, so leaving out the
// false ones would anonymize classes the caller did not ask for.
type UploadOptions struct {
	// Method is blur, pixelate, blacken or detect; empty leaves the
	// provider's default.
	Method string
	// Face, LicensePlate, Person and Vehicle choose the classes to find.
	Face, LicensePlate, Person, Vehicle bool
	// Quality is the JPEG quality of the result, 1 to 100; 0 is not sent.
	Quality int
	// SaveMask asks for the binary and instance masks; sent only when true.
	SaveMask bool
	// Webhook is the full URL the provider POSTs to when the file is done.
	// It may carry its own query string: it is sent percent-encoded as one
	// query value, so it arrives unchanged.
	Webhook string
	// Name labels the file at the provider; empty is not sent.
	Name string
}

// query renders o as the upload's query parameters. url.Values encodes
// every value as a whole, which is what keeps a webhook URL's own "&" and
// "=" from being read as further parameters of the upload.
func (o UploadOptions) query() url.Values {
	q := url.Values{}
	if o.Method != "" {
		q.Set("method", o.Method)
	}
	q.Set("face", pyBool(o.Face))
	q.Set("license-plate", pyBool(o.LicensePlate))
	q.Set("person", pyBool(o.Person))
	q.Set("vehicle", pyBool(o.Vehicle))
	if o.Quality != 0 {
		q.Set("quality", strconv.Itoa(o.Quality))
	}
	if o.SaveMask {
		q.Set("save-mask", pyBool(true))
	}
	if o.Webhook != "" {
		q.Set("webhook", o.Webhook)
	}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	return q
}

// pyBool writes a boolean the way the provider documents it.
func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// Upload sends image, of MIME type contentType (image/jpeg or image/png),
// for anonymization and returns the queued file. It makes one attempt
// (plus one resend after a 401 with a fresh token), bounded by the call
// timeout, and does not retry: the caller owns the retries of an upload and
// counts them, so that one failing image costs one POST per attempt the
// caller makes (check IsRetryable). A 429 comes back at once (IsThrottled),
// for the caller to slow down.
func (c *Client) Upload(ctx context.Context, contentType string, image []byte, o UploadOptions) (File, error) {
	if len(image) == 0 {
		return File{}, errors.New("celantur: upload: empty image")
	}
	if contentType == "" {
		return File{}, errors.New("celantur: upload: missing content type")
	}
	r := request{
		op: "upload", method: http.MethodPost, path: []string{"v1", "file"},
		query: o.query(), body: image, contentType: contentType,
		accept: "application/json", auth: true, throttleToCaller: true, once: true,
	}
	return call(ctx, c, r, decodeFile)
}

// ErrCapacityUnknown reports a provider that does not tell its capacity,
// such as the hosted API.
var ErrCapacityUnknown = errors.New("celantur: the provider does not tell its capacity")

// Capacity asks the provider how many files it holds at once without
// refusing more: anonjob's built-in engine answers GET /v1/capacity, other
// providers answer 404 (ErrCapacityUnknown).
func (c *Client) Capacity(ctx context.Context) (int, error) {
	r := request{op: "capacity", method: http.MethodGet, path: []string{"v1", "capacity"}, accept: "application/json", auth: true}
	n, err := call(ctx, c, r, func(resp *http.Response) (int, error) {
		var body struct {
			Capacity int `json:"capacity"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body); err != nil {
			return 0, fmt.Errorf("%w: capacity answer: %w", ErrMalformedResponse, err)
		}
		if body.Capacity < 1 {
			return 0, fmt.Errorf("%w: capacity %d", ErrMalformedResponse, body.Capacity)
		}
		return body.Capacity, nil
	})
	if IsNotFound(err) {
		return 0, ErrCapacityUnknown
	}
	return n, err
}
