package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"
)

// TestStoreRemoveDuringUpdates: records are written without the store-wide lock, so a removal
// must still win over the writes racing it; a record written after its folder was removed would
// bring the file back at the next start. Updates of one record keep their order.
func TestStoreRemoveDuringUpdates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		r := &record{ID: fmt.Sprint("f", i), Status: statusQueued, Created: time.Now().Round(0)}
		if err := s.create(r, []byte("img")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprint("f", i)
		for k := range 20 {
			wg.Go(func() {
				_, err := s.update(id, func(r *record) { r.Name = fmt.Sprint(k) })
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Error(err)
				}
			})
		}
		if i%2 == 0 {
			wg.Go(func() {
				if _, err := s.remove(id); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	again, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprint("f", i)
		got, ok := again.get(id)
		if ok != (i%2 == 1) {
			t.Errorf("%s after a restart: present %v, want %v", id, ok, i%2 == 1)
			continue
		}
		mem, _ := s.get(id)
		sameTime := got.Created.Equal(mem.Created)
		got.Created, mem.Created = time.Time{}, time.Time{}
		if ok && (got != mem || !sameTime) {
			t.Errorf("%s on disk %+v, in memory %+v", id, got, mem)
		}
	}
}

// A file's processing status lives in memory only: a restart finds the file as the disk last
// said (queued) and resumes it, and the next update writes the noted change with its own.
func TestStoreNoteIsNotWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.create(&record{ID: "f", Status: statusQueued, Created: time.Now().Round(0)}, []byte("img")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.note("f", func(r *record) { r.Status = statusProcessing }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.get("f"); got.Status != statusProcessing {
		t.Errorf("in memory: %q, want %q", got.Status, statusProcessing)
	}
	again, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.get("f"); got.Status != statusQueued {
		t.Errorf("after a restart: %q, want %q", got.Status, statusQueued)
	}
	if p := again.pending(); len(p) != 1 || p[0] != "f" {
		t.Errorf("pending after a restart: %v, want [f]", p)
	}
	if _, err := s.update("f", func(r *record) { r.Name = "n" }); err != nil {
		t.Fatal(err)
	}
	again, err = openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.get("f"); got.Status != statusProcessing || got.Name != "n" {
		t.Errorf("after an update and a restart: status %q name %q, want %q and n", got.Status, got.Name, statusProcessing)
	}
}
