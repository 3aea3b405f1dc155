package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/engine"
)

// Upload query names of the classes, and the label class each one finds.
var queryClasses = []struct{ query, label string }{
	{"face", classFace},
	{"license-plate", classPlate},
	{"person", classPerson},
	{"vehicle", classVehicle},
}

// session uploads images to one engine and fetches their masks.
type session struct {
	client *celantur.Client
	method string
	// refused maps a label class to the engine's reason for refusing it;
	// a refused class is not asked for again.
	refused map[string]string
	poll    time.Duration
	close   func() error
}

// result is what the engine made of one image.
type result struct {
	mask *image.Gray
	meta Metadata
	took time.Duration // upload to done
}

// openSession connects to the engine at url, or starts the built-in
// engine on a loopback port when url is empty.
func openSession(ctx context.Context, o options) (*session, error) {
	s := &session{method: o.method, refused: map[string]string{}, poll: 10 * time.Millisecond, close: func() error { return nil }}
	creds := celantur.Credentials{Username: o.engineUser, Password: o.enginePassword}
	base := o.engineURL
	if base == "" {
		url, user, pass, stop, err := startEngine(ctx, o)
		if err != nil {
			return nil, err
		}
		base, creds, s.close = url, celantur.Credentials{Username: user, Password: pass}, stop
	}
	c, err := celantur.New(celantur.Config{BaseURL: base, Credentials: creds, CallTimeout: 5 * time.Minute})
	if err != nil {
		_ = s.close()
		return nil, err
	}
	s.client = c
	return s, nil
}

// startEngine runs the built-in engine over HTTP on 127.0.0.1, with its
// files in a temporary folder removed by stop.
func startEngine(ctx context.Context, o options) (url, user, pass string, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "anonjob-quality-")
	if err != nil {
		return "", "", "", nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", "", "", nil, err
	}
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	url, user, pass = "http://"+ln.Addr().String(), "quality", hex.EncodeToString(secret[:])
	e, err := engine.New(ctx, engine.Config{
		DataDir: dir, Username: user, Password: pass, PublicURL: url,
		DetectorDir: o.detectorDir, ONNXRuntimeLib: o.onnxruntimeLib, FaceThreshold: o.faceThreshold,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		return "", "", "", nil, err
	}
	srv := engine.NewHTTPServer(e.Handler())
	go func() { _ = srv.Serve(ln) }()
	stop = func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(srv.Shutdown(sctx), e.Close(), os.RemoveAll(dir))
	}
	return url, user, pass, stop, nil
}

// process anonymizes one image with the wanted label classes. When the
// engine refuses a class (400 naming it), the class is recorded as refused
// and the image is sent again without it.
func (s *session) process(ctx context.Context, data []byte, want map[string]bool) (result, error) {
	start := time.Now()
	for {
		opts := celantur.UploadOptions{Method: s.method, SaveMask: true}
		var asked []string
		for _, c := range queryClasses {
			on := want[c.label] && s.refused[c.label] == ""
			if on {
				asked = append(asked, c.query)
			}
			switch c.label {
			case classFace:
				opts.Face = on
			case classPlate:
				opts.LicensePlate = on
			case classPerson:
				opts.Person = on
			case classVehicle:
				opts.Vehicle = on
			}
		}
		f, err := s.client.Upload(ctx, http.DetectContentType(data), data, opts)
		var apiErr *celantur.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest {
			if q := refusedClass(apiErr.Message, asked); q != "" {
				s.refused[labelOf(q)] = apiErr.Message
				continue
			}
		}
		if err != nil {
			return result{}, err
		}
		res, err := s.await(ctx, f.FileID)
		if err != nil {
			return result{}, err
		}
		res.took = time.Since(start)
		return res, nil
	}
}

// await polls the file until it is done and fetches its mask and metadata,
// then deletes it.
func (s *session) await(ctx context.Context, id string) (result, error) {
	wait := s.poll
	for {
		st, err := s.client.Status(ctx, id)
		if err != nil {
			return result{}, err
		}
		if st.FileStatus == celantur.StatusFailed {
			return result{}, fmt.Errorf("engine failed the file: %s", st.Error)
		}
		if st.FileStatus == celantur.StatusDone {
			break
		}
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
	var res result
	maskData, err := s.download(ctx, id, celantur.KindBinaryMask)
	if err != nil {
		return result{}, err
	}
	mask, err := png.Decode(bytes.NewReader(maskData))
	if err != nil {
		return result{}, fmt.Errorf("decode binary mask: %w", err)
	}
	res.mask = toGray(mask)
	metaData, err := s.download(ctx, id, celantur.KindMetadata)
	if err != nil {
		return result{}, err
	}
	if err := json.Unmarshal(metaData, &res.meta); err != nil {
		return result{}, fmt.Errorf("decode metadata: %w", err)
	}
	if err := s.client.Delete(ctx, id); err != nil {
		return result{}, err
	}
	return res, nil
}

func (s *session) download(ctx context.Context, id, kind string) ([]byte, error) {
	body, _, _, err := s.client.Download(ctx, id, kind)
	if err != nil {
		return nil, err
	}
	defer func() { _ = body.Close() }()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", kind, err)
	}
	return data, nil
}

// toGray returns m as 8-bit grey: the built-in engine writes grey PNGs,
// another engine may not.
func toGray(m image.Image) *image.Gray {
	if g, ok := m.(*image.Gray); ok && g.Rect.Min == (image.Point{}) {
		return g
	}
	b := m.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(g, g.Rect, m, b.Min, draw.Src)
	return g
}

// refusedClass picks, from the classes asked for, the one a refusal
// names: the one written as "name=" first, else the one mentioned first.
// Refusals usually list what the engine does detect too ("person=True is
// not supported: this engine detects only face and license-plate"), so a
// mere mention is not enough. Empty when the message names none.
func refusedClass(msg string, asked []string) string {
	lower := strings.ToLower(msg)
	best, at := "", len(lower)+1
	for _, q := range asked {
		for _, name := range []string{q, strings.ReplaceAll(q, "-", "_")} {
			if strings.Contains(lower, name+"=") {
				return q
			}
			if i := strings.Index(lower, name); i >= 0 && i < at {
				best, at = q, i
			}
		}
	}
	return best
}

func labelOf(query string) string {
	for _, c := range queryClasses {
		if c.query == query {
			return c.label
		}
	}
	return query
}
