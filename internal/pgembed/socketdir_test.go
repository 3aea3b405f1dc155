package pgembed

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecureDirRefusesSymlink: a symlink planted where a folder is expected is refused, and
// neither the mode nor the owner of its target changes.
func TestSecureDirRefusesSymlink(t *testing.T) {
	t.Parallel()
	own, err := serverOwner(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, target := range map[string]string{"to-file": filepath.Join(dir, "victim"), "to-dir": filepath.Join(dir, "victim-dir")} {
		if strings.HasSuffix(target, "-dir") {
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, name)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(target)
		if err := secureDir(link, own); err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("%s: secureDir = %v, want a refusal", name, err)
		}
		after, _ := os.Stat(target)
		if after.Mode() != before.Mode() || !sameOwner(before, after) {
			t.Errorf("%s: target changed through the symlink: %v -> %v", name, before.Mode(), after.Mode())
		}
		if err := own.mkdirOwned(link); err == nil {
			t.Errorf("%s: mkdirOwned accepted a symlink", name)
		}
	}
}

// TestSecureDirRefusesForeignFolder: a folder of another user is not taken over.
func TestSecureDirRefusesForeignFolder(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a folder of another user")
	}
	own, err := serverOwner(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "foreign")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil { // nobody
		t.Fatal(err)
	}
	if err := secureDir(dir, own); err == nil || !strings.Contains(err.Error(), "belongs to") {
		t.Fatalf("secureDir = %v, want a refusal", err)
	}
}

// TestSocketDirFresh: every start gets a new folder, private to the server's user.
func TestSocketDirFresh(t *testing.T) {
	t.Parallel()
	own, err := serverOwner(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	a, err := makeSocketDir(parent, own)
	if err != nil {
		t.Fatal(err)
	}
	b, err := makeSocketDir(parent, own)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two starts share %s", a)
	}
	fi, err := os.Lstat(a)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket folder mode %v", fi.Mode())
	}
}

func sameOwner(a, b os.FileInfo) bool {
	return a.Sys() != nil && b.Sys() != nil && ownerOf(a) == ownerOf(b)
}
