package pgembed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// owner is the OS user the server runs as: PostgreSQL refuses to run as root, so root runs it
// as a system user of its own, ServerUser, made if missing (so that no other service's
// account, such as the shared postgres one, can read anonjob's database files), or else as
// postgres.
type owner struct {
	uid, gid int
	name     string
}

// ServerUser is the OS user root runs the embedded server as.
const ServerUser = "anonjob-pg"

func serverOwner(log *slog.Logger) (owner, error) {
	if os.Geteuid() != 0 {
		return owner{uid: os.Geteuid(), gid: os.Getegid(), name: "current user"}, nil
	}
	u, err := user.Lookup(ServerUser)
	if err != nil {
		// Several processes may start at once: a lost race to create the user is fine.
		out, addErr := exec.Command("useradd", "--system", "--user-group", "--no-create-home", //nolint:noctx // quick local command
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", ServerUser).CombinedOutput()
		if u, err = user.Lookup(ServerUser); err != nil {
			log.Warn("cannot make the embedded PostgreSQL's own OS user; running it as postgres",
				"user", ServerUser, "err", addErr, "output", string(out))
			if u, err = user.Lookup("postgres"); err != nil {
				return owner{}, fmt.Errorf("running as root, PostgreSQL must run as another user: there is no %q "+
					"user and useradd failed (%v), and there is no 'postgres' user (%w)", ServerUser, addErr, err)
			}
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return owner{uid: uid, gid: gid, name: u.Username}, nil
}

// existingOwner returns the owner of a cluster made before (by an earlier version, as
// postgres), so it keeps running as the user its files belong to.
func existingOwner(dataDir string, own owner) (owner, bool) {
	if os.Geteuid() != 0 {
		return own, false
	}
	for _, dir := range []string{filepath.Join(dataDir, "postgres"), fallbackClusterDir(dataDir)} {
		fi, err := os.Lstat(filepath.Join(dir, "PG_VERSION"))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid == 0 {
			continue
		}
		o := owner{uid: int(st.Uid), gid: int(st.Gid), name: "owner of " + dir}
		if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
			o.name = u.Username
		}
		return o, true
	}
	return own, false
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
	return fallbackClusterDir(dataDir)
}

func fallbackClusterDir(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join("/var/lib/anonjob", "postgres-"+hex.EncodeToString(sum[:6]))
}

func ownerOf(fi os.FileInfo) [2]uint32 {
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint32{st.Uid, st.Gid}
}
