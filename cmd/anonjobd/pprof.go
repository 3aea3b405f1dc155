//go:build pprof

package main

import (
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the profiles, on the default mux of this build only
	"os"
)

// A build with -tags pprof serves net/http/pprof on ANONJOB_PPROF_ADDR (loopback only), to
// profile anonjobd under a load command. Release builds leave it out.
func init() {
	addr := os.Getenv("ANONJOB_PPROF_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		slog.Error("ANONJOB_PPROF_ADDR: want a loopback host:port", "addr", addr)
		os.Exit(2)
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil { //nolint:gosec // a loopback debug listener
			slog.Error("pprof listener", "err", err)
		}
	}()
}
