package pgembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config says where and how to run the server.
type Config struct {
	DataDir  string // required; the cluster and its log live below it
	BinDir   string // PostgreSQL binaries; empty means search
	Database string // created on first start; default "anonjob"
	// NoSync trades durability for speed (fsync off): for tests only.
	NoSync bool
	Log    *slog.Logger
	// OnExit and OnRestart, when set, are told when the server dies unexpectedly and when the
	// supervisor has it accepting connections again (see supervise.go). They must not block.
	OnExit    func(err error)
	OnRestart func()
}

// Server is a running PostgreSQL child process.
type Server struct {
	cluster   string
	socketDir string
	password  string // the superuser's, from PasswordFile
	database  string
	urlFile   string               // where the URL is published while the server runs
	proc      atomic.Pointer[proc] // the current process; replaced by the supervisor's restarts
	log       *slog.Logger
	sup       *supervisor // nil until Start succeeds
}

// proc is one run of the postgres process.
type proc struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// Start initializes the cluster if needed, starts the server and creates the database.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Database == "" {
		cfg.Database = "anonjob"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	binDir, err := findBinDir(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	own, err := serverOwner(cfg.Log)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	own, _ = existingOwner(dataDir, own)
	// Searchable by others so that the server's own user reaches its folder inside; what is
	// inside protects itself.
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if _, running := RunningURL(dataDir); running {
		return nil, fmt.Errorf("an embedded PostgreSQL already runs on %s (another anonjobd?); "+
			"use its database (anonjobd keys does) or stop it first", dataDir)
	}
	s := &Server{cluster: own.clusterDir(dataDir), database: cfg.Database, log: cfg.Log}
	if s.password, err = password(dataDir); err != nil {
		return nil, err
	}
	if err := s.initCluster(ctx, binDir, own, cfg.NoSync); err != nil {
		return nil, err
	}
	// A short (socket paths are limited to about 100 bytes), fresh, private socket folder.
	if s.socketDir, err = makeSocketDir(os.TempDir(), own); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dataDir, "postgres.log")
	if err := s.start(binDir, own, logPath, cfg.NoSync); err != nil {
		_ = os.RemoveAll(s.socketDir)
		return nil, err
	}
	if err := s.waitReady(ctx, logPath); err != nil {
		_ = s.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	// Other commands on the same data dir (anonjobd keys) find the running server here.
	s.urlFile = filepath.Join(dataDir, URLFile)
	if err := os.WriteFile(s.urlFile, []byte(s.URL()+"\n"), 0o600); err != nil {
		_ = s.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("write %s: %w", s.urlFile, err)
	}
	cfg.Log.Info("embedded PostgreSQL running", "cluster", s.cluster, "socket_dir", s.socketDir, "log", logPath)
	s.supervise(cfg, func(ctx context.Context) error {
		if err := s.start(binDir, own, logPath, cfg.NoSync); err != nil {
			return err
		}
		return s.waitReady(ctx, logPath)
	})
	return s, nil
}

func (s *Server) initCluster(ctx context.Context, binDir string, own owner, noSync bool) error {
	want, err := serverVersion(ctx, binDir)
	if err != nil {
		return err
	}
	if v, err := os.ReadFile(filepath.Join(s.cluster, "PG_VERSION")); err == nil {
		if got := strings.TrimSpace(string(v)); got != want {
			return fmt.Errorf("the cluster in %s is PostgreSQL %s but the binaries in %s are %s; "+
				"use binaries of version %s (--pg-bin-dir) or move the cluster away", s.cluster, got, binDir, want, got)
		}
		return nil
	}
	if err := own.mkdirOwned(s.cluster); err != nil {
		return err
	}
	pwfile, err := writePwfile(s.cluster, own, s.password)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(pwfile) }()
	args := []string{"-D", s.cluster, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + pwfile,
		"--encoding=UTF8", "--locale=C"}
	if noSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: own.credential()}
	cmd.Dir = s.cluster
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", s.cluster, err, out)
	}
	// initdb's pg_hba also allows local TCP; the server listens on none, but say only what holds.
	return rewriteHBA(s.cluster)
}

// start runs postgres in the foreground as a child that the kernel stops when this process
// dies (Pdeathsig), so a kill -9 of anonjobd leaves no orphaned server. Pdeathsig follows the
// thread that started the child, so that goroutine keeps its thread until the child exits.
func (s *Server) start(binDir string, own owner, logPath string, noSync bool) error {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	args := []string{"-D", s.cluster, "-k", s.socketDir, "-c", "listen_addresses=", "-p", "5432",
		"-c", "max_connections=200", "-c", "logging_collector=off"}
	if noSync {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// Not CommandContext: the server outlives Start's context and is stopped by Stop.
	p := &proc{cmd: exec.Command(filepath.Join(binDir, "postgres"), args...), done: make(chan struct{})} //nolint:noctx // see above
	s.proc.Store(p)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: own.credential(),
		Pdeathsig:  syscall.SIGINT, // fast shutdown
		Setpgid:    true,           // a terminal's Ctrl-C goes to anonjobd, which stops us cleanly
	}
	p.cmd.Dir = s.cluster
	p.cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		defer func() { _ = logFile.Close() }()
		if err := p.cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	p := s.proc.Load()
	for {
		select {
		case <-p.done: // exited: whatever answers on the socket is not ours
			tail, _ := os.ReadFile(logPath)
			if len(tail) > 2000 {
				tail = tail[len(tail)-2000:]
			}
			return fmt.Errorf("postgres exited at start (%w); its log %s ends with:\n%s", p.waitErr, logPath, tail)
		default:
		}
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
			if err := s.requirePassword(ctx); err != nil { // a cluster from before passwords
				return err
			}
			return s.createDatabase(ctx, conn)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w", err)
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) createDatabase(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		s.database).Scan(&exists); err != nil {
		return fmt.Errorf("look for database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.database}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", s.database, err)
	}
	return nil
}

func (s *Server) url(database string) string { return s.connURL(database, s.password) }

// connURL is the URL of database on the socket, with pw as the password if it is not empty.
func (s *Server) connURL(database, pw string) string {
	q := url.Values{"host": {s.socketDir}, "sslmode": {"disable"}}
	u := &url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + database, RawQuery: q.Encode()}
	if pw != "" {
		u.User = url.UserPassword("postgres", pw)
	}
	return u.String()
}

// URLFile is the file in the data dir that holds the running server's URL.
const URLFile = "postgres.url"

// RunningURL returns the URL of the embedded server running on dataDir, if one is.
func RunningURL(dataDir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, URLFile))
	if err != nil {
		return "", false
	}
	raw := strings.TrimSpace(string(b))
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(u.Query().Get("host"), ".s.PGSQL.5432")); err != nil {
		return "", false // left behind by a server that was killed
	}
	return raw, true
}

// URL is the connection string of the server's database.
func (s *Server) URL() string { return s.url(s.database) }

// AdminURL is the connection string of the server's maintenance database.
func (s *Server) AdminURL() string { return s.url("postgres") }

// Stop shuts the server down (fast shutdown: sessions are ended, data is checkpointed) and
// waits for it, killing it if ctx ends first.
func (s *Server) Stop(ctx context.Context) error {
	// Only a server that came up owns the socket folder and the URL file: one that failed to
	// start may have lost to another server on the same cluster, whose files these are.
	if s.urlFile != "" {
		defer func() { _ = os.RemoveAll(s.socketDir) }()
		_ = os.Remove(s.urlFile)
	}
	s.sup.stop() // no restart from here on; s.proc is the last process
	p := s.proc.Load()
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal postgres: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("postgres did not stop in time: %w", ctx.Err())
	}
}
