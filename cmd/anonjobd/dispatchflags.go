package main

// dispatchFlags tune how this replica hands jobs to the engine.
type dispatchFlags struct {
	DispatchConcurrency int `name:"dispatch-concurrency" help:"Uploads to the engine in flight at once from this replica, each until its outcome is recorded; the engine's capacity (--provider-concurrency, or what it tells) bounds them further. An engine that tells neither may refuse (429, not counted as an attempt) the ones beyond its capacity on first contact." default:"${dispatch_concurrency}" env:"ANONJOB_DISPATCH_CONCURRENCY"`
}
