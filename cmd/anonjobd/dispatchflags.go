package main

import (
	"fmt"

	"github.com/anonjob/anonjob/internal/server"
)

// dispatchFlags tune how this replica hands jobs to the engine.
type dispatchFlags struct {
	DispatchConcurrency int `name:"dispatch-concurrency" help:"Uploads to the engine in flight at once from this replica, each until its outcome is recorded; the engine's capacity (--provider-concurrency, or what it tells) bounds them further. An engine that tells neither may refuse (429, not counted as an attempt) the ones beyond its capacity on first contact." default:"32" env:"ANONJOB_DISPATCH_CONCURRENCY"`
}

func (f dispatchFlags) apply(cfg *server.Config) error {
	if f.DispatchConcurrency < 1 {
		return fmt.Errorf("--dispatch-concurrency %d: want 1 or more", f.DispatchConcurrency)
	}
	cfg.DispatchConcurrency = f.DispatchConcurrency
	return nil
}
