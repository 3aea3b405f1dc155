package main

// dispatchFlags tune how this replica hands jobs to the engine.
type dispatchFlags struct {
	DispatchConcurrency int `name:"dispatch-concurrency" help:"Uploads to the engine in flight at once from this replica, each holding its image until the engine answers (as many accepted uploads again may be waiting for their record); the engine's capacity (--provider-concurrency, or what it tells) bounds them further. An engine that tells neither gets a slow start: 4 uploads at first contact, more as it accepts them, until its first 429 (not counted as an attempt)." default:"${dispatch_concurrency}" env:"ANONJOB_DISPATCH_CONCURRENCY"`
}
