package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// File statuses of the v1 lifecycle.
const (
	statusNew        = "new"
	statusQueued     = "queued"
	statusProcessing = "processing"
	statusDone       = "done"
	statusFailed     = "failed"
)

// Webhook statuses reported in the status response.
const (
	webhookEmpty  = "empty"
	webhookSet    = "set"
	webhookSent   = "sent"
	webhookFailed = "failed"
)

// Names of the stored artefacts inside a file's folder.
const (
	fileOriginal     = "original"
	fileAnonymized   = "anonymized"
	fileBinaryMask   = "binary-mask.png"
	fileInstanceMask = "instance-mask.png"
	fileMetadata     = "metadata.json"
	fileRecord       = "record.json"
)

// record is everything the engine knows about one uploaded file. It is
// persisted next to the file's artefacts so a restart loses nothing.
type record struct {
	ID            string    `json:"file_id"`
	CustomerID    string    `json:"customer_id"`
	Name          string    `json:"name"`
	Status        string    `json:"file_status"`
	Method        string    `json:"method"`
	Faces         bool      `json:"face"`
	Plates        bool      `json:"license_plate"`
	Persons       bool      `json:"person,omitempty"`
	Vehicles      bool      `json:"vehicle,omitempty"`
	Quality       int       `json:"quality"`
	SaveMask      bool      `json:"save_mask"`
	Format        string    `json:"format"`
	WebhookURL    string    `json:"webhook_url,omitempty"`
	WebhookStatus string    `json:"webhook_status"`
	Error         string    `json:"error,omitempty"`
	Created       time.Time `json:"created"`
	DeleteTime    time.Time `json:"delete_time"`
	Traceparent   string    `json:"traceparent,omitempty"` // of the upload, for the worker and webhook
}

// store keeps records in memory and on disk under dir/files/<id>/. Writes of one record are
// ordered by its own lock, not the store's: the workers, the uploads and the webhook senders
// touch different files at once, and a store-wide lock held across each file write kept the
// workers waiting on each other's disk writes between images.
type store struct {
	dir string
	mu  sync.Mutex
	rec map[string]*record
	// writing orders the writes of each record, and its removal; held without mu.
	writing map[string]*sync.Mutex
}

func openStore(dir string) (*store, error) {
	s := &store{dir: filepath.Join(dir, "files"), rec: map[string]*record{}, writing: map[string]*sync.Mutex{}}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read data dir: %w", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name(), fileRecord))
		if errors.Is(err, fs.ErrNotExist) {
			// An upload interrupted before its record was written: nothing
			// refers to it, so it is removed.
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read record %s: %w", e.Name(), err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("decode record %s: %w", e.Name(), err)
		}
		s.rec[r.ID], s.writing[r.ID] = &r, &sync.Mutex{}
	}
	return s, nil
}

func (s *store) path(id, name string) string { return filepath.Join(s.dir, id, name) }

// create writes the original bytes and the record of a new file.
func (s *store) create(r *record, original []byte) error {
	if err := os.MkdirAll(filepath.Join(s.dir, r.ID), 0o750); err != nil {
		return fmt.Errorf("create file dir: %w", err)
	}
	if err := writeAtomic(s.path(r.ID, fileOriginal), original); err != nil {
		return err
	}
	// Nothing refers to the new id before it is in the map, so no other write races this one.
	if err := s.persist(r); err != nil {
		return err
	}
	c := *r // the caller keeps r; the store owns its own copy
	s.mu.Lock()
	s.rec[r.ID], s.writing[r.ID] = &c, &sync.Mutex{}
	s.mu.Unlock()
	return nil
}

// get returns a copy of the record, so callers never race with updates.
func (s *store) get(id string) (record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rec[id]
	if !ok {
		return record{}, false
	}
	return *r, true
}

// update applies fn to the record and persists it.
// Readers see the record as it was until the new one is on disk.
func (s *store) update(id string, fn func(*record)) (record, error) {
	return s.apply(id, fn, true)
}

// note applies fn to the record in memory only, for a change a restart need not know: a file
// processing when the engine stops is resumed like a queued one (see pending), so the disk
// keeps saying queued. The next update writes the record whole, this change with it. Writing
// it cost every tiny image a tenth of its worker time.
func (s *store) note(id string, fn func(*record)) (record, error) {
	return s.apply(id, fn, false)
}

func (s *store) apply(id string, fn func(*record), persist bool) (record, error) {
	w, ok := s.writer(id)
	if !ok {
		return record{}, fmt.Errorf("file %s: %w", id, fs.ErrNotExist)
	}
	w.Lock()
	defer w.Unlock()
	s.mu.Lock()
	r, ok := s.rec[id]
	var next record
	if ok {
		next = *r
	}
	s.mu.Unlock()
	if !ok { // removed while this waited for w
		return record{}, fmt.Errorf("file %s: %w", id, fs.ErrNotExist)
	}
	fn(&next)
	if persist {
		if err := s.persist(&next); err != nil {
			return record{}, err
		}
	}
	s.mu.Lock()
	*r = next // r is still the map's: a removal takes w first
	s.mu.Unlock()
	return next, nil
}

// writer returns the lock that orders the writes of id.
func (s *store) writer(id string) (*sync.Mutex, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.writing[id]
	return w, ok
}

func (s *store) persist(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return writeAtomic(s.path(r.ID, fileRecord), b)
}

// writeArtefact stores one output file of a processed image.
func (s *store) writeArtefact(id, name string, data []byte) error {
	return writeAtomic(s.path(id, name), data)
}

func (s *store) readArtefact(id, name string) ([]byte, error) {
	b, err := os.ReadFile(s.path(id, name))
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", name, id, err)
	}
	return b, nil
}

// remove deletes the record and all files of id.
func (s *store) remove(id string) (bool, error) {
	w, ok := s.writer(id)
	if !ok {
		return false, nil
	}
	// After the write under way, if any: a record written after its folder is gone would
	// bring the file back at the next start.
	w.Lock()
	defer w.Unlock()
	s.mu.Lock()
	_, ok = s.rec[id]
	delete(s.rec, id)
	delete(s.writing, id)
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := os.RemoveAll(filepath.Join(s.dir, id)); err != nil {
		return true, fmt.Errorf("delete files of %s: %w", id, err)
	}
	return true, nil
}

// list returns up to limit records of a customer, newest first.
func (s *store) list(customerID string, limit int) []record {
	s.mu.Lock()
	out := make([]record, 0, len(s.rec))
	for _, r := range s.rec {
		if r.CustomerID == customerID {
			out = append(out, *r)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// expired lists records whose delete time has passed.
func (s *store) expired(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, r := range s.rec {
		if !r.DeleteTime.IsZero() && now.After(r.DeleteTime) {
			ids = append(ids, id)
		}
	}
	return ids
}

// pending lists records that were queued or being processed, oldest first,
// so they can be resumed after a restart.
func (s *store) pending() []string {
	s.mu.Lock()
	var rs []*record
	for _, r := range s.rec {
		if r.Status == statusQueued || r.Status == statusProcessing || r.Status == statusNew {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Created.Before(rs[j].Created) })
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	s.mu.Unlock()
	return ids
}

// writeAtomic writes through a temporary file and a rename, so a reader
// (or a crash) never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, errors.Join(werr, cerr))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// undelivered lists finished files whose webhook is still to be sent.
func (s *store) undelivered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, r := range s.rec {
		if (r.Status == statusDone || r.Status == statusFailed) && r.WebhookStatus == webhookSet {
			ids = append(ids, id)
		}
	}
	return ids
}
