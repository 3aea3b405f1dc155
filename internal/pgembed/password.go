package pgembed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// PasswordFile is the file in the data dir that holds the superuser's password (mode 0600).
// The cluster authenticates every connection with scram-sha-256, so the server's OS user
// alone (or anyone who can reach the socket) is no superuser.
const PasswordFile = "postgres.password"

// hbaConf allows only password (SCRAM) logins, on the Unix socket only (the server listens on
// no TCP address).
const hbaConf = `# Written by anonjob: every connection proves the password in ` + PasswordFile + `.
local all all scram-sha-256
`

// password returns the data dir's superuser password, creating it the first time.
func password(dataDir string) (string, error) {
	path := filepath.Join(dataDir, PasswordFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate database password: %w", err)
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return pw, nil
}

// writePwfile leaves the password where initdb, running as the server's user, can read it:
// next to the cluster (initdb wants its folder empty), under a fresh name. The caller removes
// it once initdb is done.
func writePwfile(cluster string, own owner, pw string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(cluster), ".anonjob-pwfile-")
	if err != nil {
		return "", fmt.Errorf("write initdb password file: %w", err)
	}
	defer func() { _ = f.Close() }()
	path := f.Name()
	if err := f.Chown(own.uid, own.gid); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("chown initdb password file: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("write initdb password file: %w", err)
	}
	return path, nil
}

// requirePassword moves a cluster made before passwords (pg_hba "trust") to scram-sha-256: the
// superuser gets the password over the still-trusted socket, then pg_hba is replaced and
// reloaded. A cluster already on passwords is left alone.
func (s *Server) requirePassword(ctx context.Context) error {
	hba := filepath.Join(s.cluster, "pg_hba.conf")
	cur, err := os.ReadFile(hba)
	if err != nil {
		return fmt.Errorf("read %s: %w", hba, err)
	}
	if string(cur) == hbaConf {
		return nil
	}
	conn, err := pgx.Connect(ctx, s.connURL("postgres", ""))
	if err != nil {
		return fmt.Errorf("connect to set the database password: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "SET password_encryption = 'scram-sha-256'"); err != nil {
		return fmt.Errorf("set password encryption: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE postgres PASSWORD "+quoteLiteral(s.password)); err != nil {
		return fmt.Errorf("set the database password: %w", err)
	}
	if err := rewriteHBA(s.cluster); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload pg_hba: %w", err)
	}
	s.log.Info("embedded PostgreSQL now requires its password (scram-sha-256)", "password_file", PasswordFile)
	return nil
}

// rewriteHBA replaces pg_hba.conf in place: the cluster folder belongs to the server's user, so
// no symlink there is followed, and the file keeps its owner.
func rewriteHBA(cluster string) error {
	hba := filepath.Join(cluster, "pg_hba.conf")
	f, err := os.OpenFile(hba, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", hba, err)
	}
	if _, err := f.WriteString(hbaConf); err != nil {
		_ = f.Close()
		return fmt.Errorf("rewrite %s: %w", hba, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rewrite %s: %w", hba, err)
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
