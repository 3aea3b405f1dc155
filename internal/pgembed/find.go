// Package pgembed runs a private PostgreSQL server from the machine's PostgreSQL binaries, so
// that anonjobd works with no database set up. The server is a child process that dies with
// its parent, listens only on a Unix socket in a private folder, and keeps its data in the
// data dir across restarts.
package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked for initdb and postgres in " +
	"/usr/lib/postgresql/*/bin and on PATH); install them, e.g. `apt-get install postgresql-15`, " +
	"or point --database-url at a running server")

// findBinDir returns the folder holding initdb and postgres: the newest version under
// /usr/lib/postgresql, else the folder of initdb on PATH.
func findBinDir(explicit string) (string, error) {
	if explicit != "" {
		if !hasServer(explicit) {
			return "", fmt.Errorf("%s has no initdb and postgres: %w", explicit, ErrNoBinaries)
		}
		return explicit, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if hasServer(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasServer(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoBinaries
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverVersion returns the major version the binaries in binDir are, e.g. "15".
func serverVersion(ctx context.Context, binDir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run postgres --version: %w", err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return "", fmt.Errorf("unexpected postgres --version output %q", out)
	}
	major, _, _ := strings.Cut(fields[2], ".")
	return major, nil
}
