package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/anonjob/anonjob/internal/server"
)

// TestShutdownWithStuckDependencies: an engine that never answers an upload and a database
// that stops answering mid-shutdown (the network to it stalls, connections stay open) do not
// hold shutdown past its timeout. Before it was bounded, the upload's bookkeeping waited on
// the stalled database for ever.
func TestShutdownWithStuckDependencies(t *testing.T) {
	t.Parallel()
	db := newStallProxy(t, harness.NewDatabase(t))
	uploading := make(chan struct{}, 1)
	engine := stuckEngine(t, uploading)
	const timeout = 2 * time.Second
	e := startOn(t, db.url, func(c *server.Config) {
		c.Dispatch, c.ProviderURL = true, engine.URL
		c.ProviderCredentials.Username, c.ProviderCredentials.Password = "u", "p"
		c.ShutdownTimeout = timeout
	})
	e.createJob(t)
	select {
	case <-uploading:
	case <-time.After(30 * time.Second):
		t.Fatal("the dispatcher never uploaded")
	}
	db.stall()
	closed := make(chan struct{})
	go func() { e.srv.Close(); close(closed) }()
	// A bound on a hang, not a measurement: unbounded, Close never returns.
	select {
	case <-closed:
	case <-time.After(timeout + 30*time.Second):
		t.Fatalf("Close still running %v after a shutdown timeout of %v", timeout+30*time.Second, timeout)
	}
}

// stuckEngine signs in and then takes uploads without ever answering them.
func stuckEngine(t *testing.T, uploading chan<- struct{}) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"AccessToken":"tok","ExpiresIn":3600}`)
	})
	mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // read to the end, so that the client's leaving is seen
		select {
		case uploading <- struct{}{}:
		default:
		}
		<-r.Context().Done() // the client gave up
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// stallProxy forwards TCP to a database until stall, after which it passes no more bytes
// while keeping every connection open: a database that hangs, as behind a broken network.
type stallProxy struct {
	url     string
	stalled chan struct{}
	once    sync.Once
}

func newStallProxy(t *testing.T, dbURL string) *stallProxy {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	network, target := "tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") { // a socket folder
		network, target = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("host")
	q.Del("port")
	u.RawQuery = q.Encode()
	var lc net.ListenConfig
	lis, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = lis.Addr().String()
	p := &stallProxy{url: u.String(), stalled: make(chan struct{})}
	release := make(chan struct{}) // at the test's end, so that every goroutine ends
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = lis.Close()
		close(release)
		conns.Wait()
	})
	conns.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			var d net.Dialer
			up, err := d.DialContext(context.Background(), network, target)
			if err != nil {
				_ = c.Close()
				continue
			}
			conns.Go(func() {
				var pipe sync.WaitGroup
				pipe.Go(func() { p.copy(up, c, release) })
				pipe.Go(func() { p.copy(c, up, release) })
				<-release
				_, _ = c.Close(), up.Close()
				pipe.Wait()
			})
		}
	})
	return p
}

// copy passes bytes from src to dst until the proxy stalls, then holds them until release.
func (p *stallProxy) copy(dst, src net.Conn, release <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.stalled:
			<-release
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				_ = dst.Close()
			}
			return
		}
	}
}

func (p *stallProxy) stall() { p.once.Do(func() { close(p.stalled) }) }
