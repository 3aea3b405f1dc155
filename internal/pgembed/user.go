package pgembed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// owner is the OS user the server runs as: PostgreSQL refuses to run as root, so root runs it
// as the postgres user.
type owner struct {
	uid, gid int
	name     string
}

func serverOwner() (owner, error) {
	if os.Geteuid() != 0 {
		return owner{uid: os.Geteuid(), gid: os.Getegid(), name: "current user"}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return owner{}, fmt.Errorf("running as root, PostgreSQL must run as another user and there is "+
			"no 'postgres' user (%w); create one or run as a normal user", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return owner{uid: uid, gid: gid, name: "postgres"}, nil
}

func (o owner) credential() *syscall.Credential {
	if o.uid == os.Geteuid() {
		return nil
	}
	return &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}
}

// mkdirOwned makes dir (mode 0700) and hands it to the owner; missing parents are made
// searchable so the owner can reach it.
func (o owner) mkdirOwned(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return secureDir(dir, o)
}

// canReach reports whether the owner can walk down to dir: every existing ancestor must be
// searchable by it.
func (o owner) canReach(dir string) bool {
	if o.uid == os.Geteuid() {
		return true
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			mode := fi.Mode().Perm()
			ok := mode&0o001 != 0 ||
				(int(st.Uid) == o.uid && mode&0o100 != 0) ||
				(int(st.Gid) == o.gid && mode&0o010 != 0)
			if !ok {
				return false
			}
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// clusterDir is where the cluster lives: inside the data dir when the server's user can reach
// it, else in a folder under /var/lib/anonjob named after the data dir (root's home, say, is
// closed to the postgres user).
func (o owner) clusterDir(dataDir string) string {
	dir := filepath.Join(dataDir, "postgres")
	if o.canReach(dir) {
		return dir
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join("/var/lib/anonjob", "postgres-"+hex.EncodeToString(sum[:6]))
}

func ownerOf(fi os.FileInfo) [2]uint32 {
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint32{st.Uid, st.Gid}
}
