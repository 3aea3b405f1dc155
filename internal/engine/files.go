package engine

import (
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/anonjob/anonjob/internal/anonymize"
)

// statusResponse is the v1 status document; list returns an array of it.
type statusResponse struct {
	FileID        string    `json:"file_id"`
	CustomerID    string    `json:"customer_id"`
	Name          string    `json:"name"`
	FileStatus    string    `json:"file_status"`
	WebhookStatus string    `json:"webhook_status"`
	Method        string    `json:"method"`
	Created       time.Time `json:"created"`
	DeleteTime    time.Time `json:"delete_time"`
	Error         string    `json:"error,omitempty"`
}

func toStatus(r record) statusResponse {
	return statusResponse{
		FileID: r.ID, CustomerID: r.CustomerID, Name: r.Name, FileStatus: r.Status,
		WebhookStatus: r.WebhookStatus, Method: r.Method, Created: r.Created,
		DeleteTime: r.DeleteTime, Error: r.Error,
	}
}

// lookup finds the record of the {id} path value for the signed-in
// customer, answering 404 itself when there is none.
func (e *Engine) lookup(w http.ResponseWriter, r *http.Request) (record, bool) {
	id := r.PathValue("id")
	rec, ok := e.store.get(id)
	if !ok || rec.CustomerID != customerID(e.cfg.Username) {
		writeError(w, http.StatusNotFound, "no file with id "+strconv.Quote(id))
		return record{}, false
	}
	return rec, true
}

func (e *Engine) handleStatus(w http.ResponseWriter, r *http.Request) {
	if rec, ok := e.lookup(w, r); ok {
		writeJSON(w, http.StatusOK, toStatus(rec))
	}
}

// artefact maps a download kind to the stored file and its content type.
func artefact(kind string, rec record) (name, contentType string, ok bool) {
	switch kind {
	case "original":
		return fileOriginal, anonymize.Format(rec.Format).ContentType(), true
	case "anonymized":
		return fileAnonymized, anonymize.Format(rec.Format).ContentType(), true
	case "binary-mask":
		return fileBinaryMask, "image/png", true
	case "instance-mask":
		return fileInstanceMask, "image/png", true
	case "metadata":
		return fileMetadata, "application/json", true
	}
	return "", "", false
}

func (e *Engine) handleDownload(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	rec, ok := e.lookup(w, r)
	if !ok {
		return
	}
	name, ctype, ok := artefact(kind, rec)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown file kind "+strconv.Quote(kind)+": use original, anonymized, binary-mask, instance-mask, metadata or status")
		return
	}
	if name != fileOriginal && rec.Status != statusDone {
		msg := "file is " + rec.Status + "; " + kind + " is available once it is done"
		if rec.Status == statusFailed {
			msg = "processing failed, so there is no " + kind + ": " + rec.Error
		}
		writeError(w, http.StatusConflict, msg)
		return
	}
	data, err := e.store.readArtefact(rec.ID, name)
	if errors.Is(err, fs.ErrNotExist) { // deleted meanwhile
		writeError(w, http.StatusNotFound, "no file with id "+strconv.Quote(rec.ID))
		return
	}
	if err != nil {
		e.log.Error("read artefact", "file_id", rec.ID, "kind", kind, "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the file")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (e *Engine) handleDelete(w http.ResponseWriter, r *http.Request) {
	rec, ok := e.lookup(w, r)
	if !ok {
		return
	}
	if _, err := e.store.remove(rec.ID); err != nil {
		e.log.Error("delete file", "file_id", rec.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "could not delete all data of the file")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"file_id": rec.ID, "message": "deleted"})
}

// maxList bounds one list answer.
const maxList = 1000

func (e *Engine) handleList(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "parameter limit="+strconv.Quote(v)+" must be a positive integer")
			return
		}
		limit = min(n, maxList)
	}
	recs := e.store.list(customerID(e.cfg.Username), limit)
	out := make([]statusResponse, len(recs))
	for i, rec := range recs {
		out[i] = toStatus(rec)
	}
	writeJSON(w, http.StatusOK, out)
}
