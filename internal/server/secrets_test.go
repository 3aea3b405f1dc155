package server_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/secretbox"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
	"github.com/anonjob/anonjob/internal/store"
)

// TestRevokedKeyEndsOpenWatch: every watch opened with a key ends with UNAUTHENTICATED once
// the key is revoked, without the client doing anything, also the one opened after another
// watch of that key came and went; a watch of another key, open all along, goes on.
func TestRevokedKeyEndsOpenWatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.KeyCacheTTL = 50 * time.Millisecond })
	key := createKey(t, e, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jobs := anonjobv1.NewJobServiceClient(dial(t, e.srv.GRPCAddr().String(), key))
	other, _ := watchJobs(ctx, t, e.jobs, &anonjobv1.WatchJobsRequest{})
	first, _ := watchJobs(ctx, t, jobs, &anonjobv1.WatchJobsRequest{})
	goneCtx, cancelGone := context.WithCancel(ctx)
	watchJobs(goneCtx, t, jobs, &anonjobv1.WatchJobsRequest{})
	cancelGone()
	second, _ := watchJobs(ctx, t, jobs, &anonjobv1.WatchJobsRequest{})
	if err := e.srv.Store.RevokeAPIKey(ctx, strings.Split(key, "_")[1]); err != nil {
		t.Fatal(err)
	}
	for i, w := range []grpc.ServerStreamingClient[anonjobv1.WatchJobsResponse]{first, second} {
		for {
			_, err := w.Recv()
			if err == nil {
				continue // heartbeats until the re-check
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("watch %d ended with %v, want UNAUTHENTICATED", i, err)
			}
			break
		}
	}
	// The other key's watch, open before the revocation, still gets its customer's events.
	j := e.createJob(t)
	for {
		msg, err := other.Recv()
		if err != nil {
			t.Fatalf("the other key's watch: %v", err)
		}
		if slices.ContainsFunc(msg.GetEvents(), func(ev *anonjobv1.JobEvent) bool { return ev.GetJob().GetId() == j.GetId() }) {
			break
		}
	}
}

// TestWebhookSecretCapAndRevokePrevious: however often a customer rotates, two secrets sign at
// most, and revoke-previous leaves only the current one (gRPC and REST).
func TestWebhookSecretCapAndRevokePrevious(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	d := anonjobv1.NewDeliveryServiceClient(dial(t, e.srv.GRPCAddr().String(), e.key))
	var last string
	for range 5 {
		resp, err := d.RotateWebhookSecret(ctx, &anonjobv1.RotateWebhookSecretRequest{})
		if err != nil {
			t.Fatal(err)
		}
		last = resp.GetSecret()
	}
	valid, err := e.srv.Store.WebhookSecrets(ctx, "acme", func() string { t.Fatal("no secret"); return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(valid) != 2 || valid[0] != last {
		t.Fatalf("after 5 rotations %d secrets valid (want 2, the newest first)", len(valid))
	}
	resp, err := d.RevokePreviousWebhookSecret(ctx, &anonjobv1.RevokePreviousWebhookSecretRequest{})
	if err != nil || resp.GetRevoked() != 1 {
		t.Fatalf("revoke previous = %v, %v", resp, err)
	}
	valid, err = e.srv.Store.WebhookSecrets(ctx, "acme", nil)
	if err != nil || len(valid) != 1 || valid[0] != last {
		t.Fatalf("after revoke-previous: %d valid, %v", len(valid), err)
	}
	r := e.do(http.MethodPost, "/v1/webhook-secret:revoke-previous", "application/json", []byte("{}"))
	if r.status != http.StatusOK || r.body["revoked"] != nil && r.body["revoked"] != float64(0) {
		t.Fatalf("REST revoke-previous: %d %s", r.status, r.raw)
	}
	// The rival's secrets are its own.
	if r := e.doAs(e.rivalKey, http.MethodPost, "/v1/webhook-secret:revoke-previous", "application/json", []byte("{}")); r.status != http.StatusOK {
		t.Fatalf("rival: %d %s", r.status, r.raw)
	}
	if r := e.doAs("", http.MethodPost, "/v1/webhook-secret:revoke-previous", "application/json", []byte("{}")); r.status != http.StatusUnauthorized {
		t.Fatalf("without a key: %d", r.status)
	}
}

// TestSecretsSealedAtRest: with a secrets key, neither webhook secrets nor the callback key can
// be read from the database; rows stored in clear before are sealed at the next start; and a
// server without the key refuses to start rather than use what it cannot read.
func TestSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := harness.NewDatabase(t)
	// First without a key: a secret stored in clear.
	plain := startOn(t, dbURL)
	d := anonjobv1.NewDeliveryServiceClient(dial(t, plain.srv.GRPCAddr().String(), plain.key))
	rot, err := d.RotateWebhookSecret(ctx, &anonjobv1.RotateWebhookSecretRequest{})
	if err != nil {
		t.Fatal(err)
	}
	plain.srv.Close()
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sealed := startOn(t, dbURL, func(c *server.Config) { c.SecretsKeyFile = keyFile })
	d = anonjobv1.NewDeliveryServiceClient(dial(t, sealed.srv.GRPCAddr().String(), sealed.key))
	rot2, err := d.RotateWebhookSecret(ctx, &anonjobv1.RotateWebhookSecretRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is left in clear: sealing again finds nothing to seal, and a store without the
	// key can open neither the webhook secrets nor the callback keys.
	box, err := secretbox.LoadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := store.New(sealed.st.Pool(), store.Config{SecretBox: box}).SealSecrets(ctx); err != nil || n != 0 {
		t.Fatalf("%d secrets left in clear, %v", n, err)
	}
	if got, err := sealed.st.WebhookSecrets(ctx, "acme", nil); err == nil {
		t.Errorf("webhook secrets readable without the key: %d of them", len(got))
	}
	if _, err := sealed.st.CallbackKeys(ctx); err == nil {
		t.Error("callback keys readable without the key")
	}
	valid, err := sealed.srv.Store.WebhookSecrets(ctx, "acme", nil)
	if err != nil || len(valid) != 2 || valid[0] != rot2.GetSecret() || valid[1] != rot.GetSecret() {
		t.Fatalf("the sealed secrets did not open to the rotated ones: %v", err)
	}
	// Without the key file the server refuses, naming the flag.
	cfg := servertest.Config(t, dbURL)
	cfg.Dispatch = false
	if srv, err := server.Start(ctx, cfg); err == nil {
		srv.Close()
		t.Fatal("a server without the secrets key started on sealed secrets")
	} else if !strings.Contains(err.Error(), "secrets-key-file") {
		t.Fatalf("refusal does not name the key file: %v", err)
	}
}

// TestCallbackKeyRotation: after a rotation the server mints with the new key (picked up from
// the database) and still accepts tokens of the old one while its grace lasts.
func TestCallbackKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, func(c *server.Config) { c.CallbackKeyRefresh = 20 * time.Millisecond })
	const job = "0b5d9c1e-58a4-4f0e-9d59-9f3a6a0f2f10"
	before, err := e.srv.Store.CallbackKeys(ctx)
	if err != nil || len(before) != 1 {
		t.Fatalf("callback keys: %d, %v", len(before), err)
	}
	oldOnly := providerhook.NewKeyedSigner(before, time.Hour)
	old := e.srv.Signer.Token(job)
	if !oldOnly.Verify(job, old) {
		t.Fatal("the server does not mint with the stored key")
	}
	if err := e.srv.Store.RotateCallbackKey(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for oldOnly.Verify(job, e.srv.Signer.Token(job)) {
		if time.Now().After(deadline) {
			t.Fatal("the server never picked up the new callback key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !e.srv.Signer.Verify(job, old) {
		t.Fatal("the old key's token was refused during the grace period")
	}
	// Rotations without grace drop the old keys at once.
	for range 2 {
		if err := e.srv.Store.RotateCallbackKey(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := e.srv.Store.CallbackKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("after rotations without grace: %d keys, %v", len(keys), err)
	}
	if providerhook.NewKeyedSigner(keys, time.Hour).Verify(job, old) {
		t.Fatal("a dropped key's token verifies")
	}
}
