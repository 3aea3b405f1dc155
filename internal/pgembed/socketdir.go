package pgembed

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// makeSocketDir creates a fresh private socket folder for the server under parent. A folder
// with a predictable name could be planted beforehand (a symlink to a file of root's, say), so
// the name is random, nothing that exists is reused, and the folder is changed only through a
// descriptor that cannot have followed a symlink.
func makeSocketDir(parent string, own owner) (string, error) {
	dir, err := os.MkdirTemp(parent, "anonjob-pg-")
	if err != nil {
		return "", fmt.Errorf("create socket folder: %w", err)
	}
	if err := secureDir(dir, own); err != nil {
		_ = os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// secureDir makes dir (which this process must have created) mode 0700 and hands it to the
// owner. It refuses a symlink, anything but a folder, and a folder owned by another user.
func secureDir(dir string, own owner) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s is a symlink or not a folder: refusing to use it", dir)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer func() { _ = syscall.Close(fd) }()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return fmt.Errorf("%s is not a folder: refusing to use it", dir)
	}
	if int(st.Uid) != os.Geteuid() && int(st.Uid) != own.uid {
		return fmt.Errorf("%s belongs to user id %d, not to this process or the server's user: refusing to use it", dir, st.Uid)
	}
	if err := syscall.Fchmod(fd, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if int(st.Uid) != own.uid || int(st.Gid) != own.gid {
		if err := syscall.Fchown(fd, own.uid, own.gid); err != nil {
			return fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	return nil
}
