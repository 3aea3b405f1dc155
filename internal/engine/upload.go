package engine

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/job"
)

// uploadParams are the query parameters of POST /v1/file.
type uploadParams struct {
	method   anonymize.Method
	faces    bool
	plates   bool
	persons  bool
	vehicles bool
	quality  int
	saveMask bool
	webhook  string
	name     string
}

// parseUpload validates the query. The error message is shown to the
// client and names the offending parameter.
func parseUpload(q url.Values) (uploadParams, error) {
	p := uploadParams{method: anonymize.Blur, faces: true, plates: true, quality: anonymize.DefaultQuality}
	if v := q.Get("method"); v != "" {
		m, ok := anonymize.ParseMethod(v)
		if !ok {
			return p, fmt.Errorf("unknown method %q: use blur, pixelate, blacken or detect", v)
		}
		p.method = m
	}
	// Face and licence plate are on unless switched off, person and vehicle off unless
	// switched on, as with the hosted API.
	boolParam := func(dst *bool, names ...string) error {
		for _, n := range names {
			if !q.Has(n) {
				continue
			}
			b, ok := parseBool(q.Get(n))
			if !ok {
				return fmt.Errorf("parameter %s=%q is not a boolean (use True or False)", n, q.Get(n))
			}
			*dst = b
		}
		return nil
	}
	if err := boolParam(&p.faces, "face"); err != nil {
		return p, err
	}
	if err := boolParam(&p.plates, "license-plate", "license_plate"); err != nil {
		return p, err
	}
	if err := boolParam(&p.saveMask, "save-mask", "save_mask"); err != nil {
		return p, err
	}
	if err := boolParam(&p.persons, "person"); err != nil {
		return p, err
	}
	if err := boolParam(&p.vehicles, "vehicle"); err != nil {
		return p, err
	}
	if v := q.Get("quality"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, fmt.Errorf("parameter quality=%q must be an integer from 1 to 100", v)
		}
		p.quality = n
	}
	if v := q.Get("webhook"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return p, fmt.Errorf("parameter webhook=%q is not an absolute http(s) URL (percent-encode it as one query value)", v)
		}
		p.webhook = v
	}
	p.name = q.Get("name")
	return p, nil
}

// uploadResponse is the v1 upload answer.
type uploadResponse struct {
	CustomerID    string    `json:"customer_id"`
	FileID        string    `json:"file_id"`
	FileStatus    string    `json:"file_status"`
	WebhookStatus string    `json:"webhook_status"`
	Name          string    `json:"name"`
	Method        string    `json:"method"`
	Created       time.Time `json:"created"`
	DeleteTime    time.Time `json:"delete_time"`
}

func (e *Engine) handleUpload(w http.ResponseWriter, r *http.Request) {
	p, err := parseUpload(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, format, herr := e.readImage(w, r)
	if herr != nil {
		writeError(w, herr.status, herr.msg)
		return
	}
	rec := e.newRecord(p, format)
	rec.Traceparent = traceparentOf(r)
	if herr := e.accept(rec, body); herr != nil {
		if herr.status == http.StatusTooManyRequests {
			retryAfter(w, 5)
		}
		writeError(w, herr.status, herr.msg)
		return
	}
	e.log.InfoContext(r.Context(), "file queued", "file_id", rec.ID, "method", rec.Method, "bytes", len(body))
	writeJSON(w, http.StatusOK, uploadResponse{
		CustomerID: rec.CustomerID, FileID: rec.ID, FileStatus: statusQueued, WebhookStatus: rec.WebhookStatus,
		Name: rec.Name, Method: rec.Method, Created: rec.Created, DeleteTime: rec.DeleteTime,
	})
}

// uploadError is an upload refused, with the status and message to answer.
type uploadError struct {
	status int
	msg    string
}

// readImage reads the upload's body and refuses what is not a JPEG or PNG within the limits.
func (e *Engine) readImage(w http.ResponseWriter, r *http.Request) ([]byte, anonymize.Format, *uploadError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxUploadBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, "", &uploadError{http.StatusRequestEntityTooLarge, fmt.Sprintf("image larger than %d bytes", e.cfg.MaxUploadBytes)}
	}
	if err != nil {
		return nil, "", &uploadError{http.StatusBadRequest, "reading the body: " + err.Error()}
	}
	if len(body) == 0 {
		return nil, "", &uploadError{http.StatusBadRequest, "empty body: send the raw JPEG or PNG bytes"}
	}
	format, err := anonymize.Sniff(body)
	if err != nil {
		return nil, "", &uploadError{http.StatusBadRequest, err.Error()}
	}
	// The header is checked now so an obviously broken upload is refused
	// at once; the full decode happens in a worker.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return nil, "", &uploadError{http.StatusBadRequest, fmt.Sprintf("not a valid %s image: %v", format, err)}
	}
	for _, check := range []func(w, h int) error{e.cfg.Limits.CheckPixels, e.cfg.Limits.CheckMemory} {
		if err := check(cfg.Width, cfg.Height); err != nil {
			return nil, "", &uploadError{http.StatusBadRequest, "the image " + err.Error()}
		}
	}
	return body, format, nil
}

// newRecord is the record of a new upload, not yet stored.
func (e *Engine) newRecord(p uploadParams, format anonymize.Format) *record {
	now := time.Now().UTC()
	rec := &record{
		ID:            uuid.NewString(),
		CustomerID:    customerID(e.cfg.Username),
		Name:          p.name,
		Status:        statusNew,
		Method:        string(p.method),
		Faces:         p.faces,
		Plates:        p.plates,
		Persons:       p.persons,
		Vehicles:      p.vehicles,
		Quality:       p.quality,
		SaveMask:      p.saveMask,
		Format:        string(format),
		WebhookURL:    p.webhook,
		WebhookStatus: webhookEmpty,
		Created:       now,
		DeleteTime:    now.Add(e.cfg.Retention),
	}
	if rec.Name == "" {
		rec.Name = rec.ID
	}
	if p.webhook != "" {
		rec.WebhookStatus = webhookSet
	}
	return rec
}

// accept stores an upload and hands it to the workers; a full queue refuses it with 429.
func (e *Engine) accept(rec *record, body []byte) *uploadError {
	if err := e.store.create(rec, body); err != nil {
		e.log.Error("store upload", "err", err)
		return &uploadError{http.StatusInternalServerError, "could not store the file"}
	}
	if _, err := e.store.update(rec.ID, func(r *record) { r.Status = statusQueued }); err != nil {
		e.log.Error("queue upload", "file_id", rec.ID, "err", err)
		return &uploadError{http.StatusInternalServerError, "could not queue the file"}
	}
	if !e.enqueue(rec.ID) {
		if _, err := e.store.remove(rec.ID); err != nil {
			e.log.Error("drop refused upload", "file_id", rec.ID, "err", err)
		}
		return &uploadError{http.StatusTooManyRequests, "the processing queue is full; retry later"}
	}
	return nil
}

// Detects is what the built-in engine anonymizes: anonjob refuses other targets at CreateJob
// rather than queue a job that could only fail here. It is known without a running engine, as
// a replica that only accepts jobs (no dispatch) must know it too.
func Detects() job.Targets {
	return job.Targets{Face: true, LicensePlate: true, Person: true, Vehicle: true}
}
