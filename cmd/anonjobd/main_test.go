package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/onnxrt"
)

// TestEmbeddedDatabaseLifecycle runs the real binary on its embedded PostgreSQL: a kill -9
// leaves no orphaned server, data survives a restart, and SIGTERM shuts down cleanly.
func TestEmbeddedDatabaseLifecycle(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	// The server may run as the postgres user: let it reach the data dir.
	for _, d := range []string{filepath.Dir(dataDir), dataDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	grpcAddr, httpAddr, engineAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--data-dir", dataDir, "--grpc-addr", grpcAddr, "--http-addr", httpAddr,
			"--engine-addr", engineAddr)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		waitHealthy(t, "http://"+httpAddr, &logs)
		return cmd
	}

	first := start()
	// The first start left a key for the dev customer; the newcomer's client uses it.
	keyBytes, err := os.ReadFile(filepath.Join(dataDir, "dev-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dataDir, "dev-api-key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev-api-key mode %v", fi.Mode().Perm())
	}
	key := strings.TrimSpace(string(keyBytes))
	id := createJob(t, "http://"+httpAddr, key)
	// keys works against the running server's database.
	out, err := exec.Command(bin, "keys", "--data-dir", dataDir, "create", "--customer", "acme").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	acmeKey := lines[len(lines)-1]
	if err != nil || !strings.HasPrefix(acmeKey, "aj_") {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	if code := getStatus(t, "http://"+httpAddr+"/v1/jobs/"+id, acmeKey); code != http.StatusNotFound {
		t.Fatalf("acme reads dev's job: %d", code)
	}
	out, err = exec.Command(bin, "keys", "--data-dir", dataDir, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "acme") || !strings.Contains(string(out), "dev") || strings.Contains(string(out), acmeKey) {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	acmeID := strings.Split(acmeKey, "_")[1]
	if out, err := exec.Command(bin, "keys", "--data-dir", dataDir, "revoke", acmeID).CombinedOutput(); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	pgPID := postmasterPID(t, dataDir)
	if err := first.Process.Kill(); err != nil { // SIGKILL: no chance to clean up
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	waitGone(t, pgPID)

	second := start()
	if code := getStatus(t, "http://"+httpAddr+"/v1/jobs/"+id, key); code != http.StatusOK {
		t.Fatalf("job after restart: %d", code)
	}
	if code := getStatus(t, "http://"+httpAddr+"/v1/jobs/"+id, acmeKey); code != http.StatusUnauthorized {
		t.Fatalf("revoked key after restart: %d", code)
	}
	pgPID = postmasterPID(t, dataDir)
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	waitGone(t, pgPID)
}

// freeAddr is a loopback address for a child process to listen on. The port is drawn below
// Linux's ephemeral range (32768 and up): a port picked there and released can be taken by
// any outgoing connection (to PostgreSQL, between the tests' processes) before the child binds
// it, as "address already in use" showed under load.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = l.Close()
		return addr
	}
	t.Fatal("no free port in 20000-31999 on 127.0.0.1")
	return ""
}

func waitHealthy(t *testing.T, base string, logs *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("anonjobd never became healthy; its log:\n%s", logs)
}

func getStatus(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func createJob(t *testing.T, base, key string) string {
	t.Helper()
	var img bytes.Buffer
	_ = png.Encode(&img, image.NewGray(image.Rect(0, 0, 2, 2)))
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/jobs?face=true", &img)
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var j struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusOK || j.ID == "" {
		t.Fatalf("create: %d %v", resp.StatusCode, err)
	}
	return j.ID
}

func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits for a process to end (it is not our child, so poll with signal 0).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
	}
	t.Fatal(fmt.Errorf("postgres (pid %d) still runs after anonjobd ended", pid))
}

// TestEngineCommand runs the built-in engine alone and signs in with the credentials from the
// environment.
func TestEngineCommand(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	bin := buildBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "engine", "--addr", addr, "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "ANONJOB_ENGINE_USERNAME=u", "ANONJOB_ENGINE_PASSWORD=p")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	signin := func(pass string) int {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			resp, err := http.Post("http://"+addr+"/v1/signin", "application/json",
				strings.NewReader(`{"username":"u","password":"`+pass+`"}`))
			if err == nil {
				_ = resp.Body.Close()
				return resp.StatusCode
			}
		}
		t.Fatalf("engine never answered; its log:\n%s", &logs)
		return 0
	}
	if code := signin("p"); code != http.StatusOK {
		t.Fatalf("sign-in with the right password: %d", code)
	}
	if code := signin("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong password: %d", code)
	}
	// Without credentials it refuses to start, saying why.
	out, err := exec.Command(bin, "engine", "--addr", freeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ANONJOB_ENGINE_USERNAME") {
		t.Fatalf("engine without credentials: %v\n%s", err, out)
	}
}
