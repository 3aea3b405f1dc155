package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// TestEngineRegistry: registering, re-registering, heartbeats, states and removal of engines,
// each against the real table.
func TestEngineRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ids := enginesFixture(t) // e2 holds two PROCESSING jobs
	e1 := store.Engine{ID: "e1", BaseURL: "http://e1:8090", Kind: store.EngineBuiltIn, Capacity: 4,
		ReplicaID: "r1", Host: "h1", Username: "u", Secret: "pw-1"}
	e2 := store.Engine{ID: "e2", BaseURL: "https://e2.example", Kind: store.EngineHosted, Username: "t",
		Secret: "token-2", SecretIsToken: true}
	must(t, s.UpsertEngine(ctx, e1, true))
	must(t, s.UpsertEngine(ctx, e2, false))

	// A second engine under e1's URL is refused; e1 itself may register again.
	if err := s.UpsertEngine(ctx, store.Engine{ID: "e3", BaseURL: e1.BaseURL, Kind: store.EngineHosted}, false); !errors.Is(err, store.ErrEngineURLTaken) {
		t.Fatalf("another engine at e1's URL: %v, want ErrEngineURLTaken", err)
	}
	must(t, s.SetEngineState(ctx, "e1", store.EngineDraining))
	e1.Capacity, e1.Secret = 6, "pw-1b"
	must(t, s.UpsertEngine(ctx, e1, false)) // no heartbeat: the last one is kept
	must(t, s.EngineHeartbeat(ctx, "e2", 0))
	must(t, s.EngineHeartbeat(ctx, "e1", 0)) // 0 keeps the capacity

	engines, err := s.ListEngines(ctx)
	must(t, err)
	if len(engines) != 2 {
		t.Fatalf("%d engines listed, want 2: %+v", len(engines), engines)
	}
	for _, tc := range []struct {
		got                                         store.Engine
		id, url, kind, state, secret, replica, host string
		capacity, processing                        int
		token                                       bool
	}{
		{engines[0], "e1", e1.BaseURL, store.EngineBuiltIn, store.EngineDraining, "pw-1b", "r1", "h1", 6, 0, false},
		{engines[1], "e2", e2.BaseURL, store.EngineHosted, store.EngineActive, "token-2", "", "", 0, 2, true},
	} {
		g := tc.got
		if g.ID != tc.id || g.BaseURL != tc.url || g.Kind != tc.kind || g.State != tc.state ||
			g.Secret != tc.secret || g.ReplicaID != tc.replica || g.Host != tc.host ||
			g.Capacity != tc.capacity || g.Processing != tc.processing || g.SecretIsToken != tc.token {
			t.Errorf("engine %s listed as %+v", tc.id, g)
		}
		if g.LastHeartbeat.IsZero() || g.SinceHeartbeat < 0 || g.SinceHeartbeat > time.Minute {
			t.Errorf("engine %s: heartbeat %v, %v ago; want one just now", tc.id, g.LastHeartbeat, g.SinceHeartbeat)
		}
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"state of an unknown engine", s.SetEngineState(ctx, "nope", store.EngineActive), store.ErrEngineNotFound},
		{"remove an engine with jobs", s.RemoveEngine(ctx, "e2"), store.ErrEngineBusy},
		{"remove an unknown engine", s.RemoveEngine(ctx, "nope"), store.ErrEngineNotFound},
		{"remove an idle engine", s.RemoveEngine(ctx, "e1"), nil},
		{"remove it again", s.RemoveEngine(ctx, "e1"), store.ErrEngineNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// The ended job that e1 finished keeps its engine although e1 is gone.
	if eng, err := s.EngineOfJob(ctx, ids[2]); err != nil || eng != "e1" {
		t.Errorf("engine of the job e1 finished: %q, %v", eng, err)
	}
	if j, err := s.GetJob(ctx, ids[2]); err != nil || j.Status != job.StatusDone {
		t.Errorf("the job e1 finished: %+v, %v", j, err)
	}
}

// TestLiveReplicas: a replica is live while it was seen within the window; seeing it again
// moves it to its new host.
func TestLiveReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	must(t, s.ReplicaSeen(ctx, "r2", "h2"))
	must(t, s.ReplicaSeen(ctx, "r1", "h1"))
	must(t, s.ReplicaSeen(ctx, "r1", "h3"))
	got, err := s.LiveReplicas(ctx, time.Minute)
	must(t, err)
	want := []store.ReplicaHost{{ID: "r1", Host: "h3"}, {ID: "r2", Host: "h2"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("live replicas %+v, want %+v", got, want)
	}
	if got, err := s.LiveReplicas(ctx, -time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("replicas seen in the future: %+v, %v", got, err)
	}
}
