package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
)

// checkLoopback refuses any host that is not this machine: the tool generates real load and
// real rows, which is only meant for a local server.
func checkLoopback(host string) error {
	if host == "localhost" || strings.HasPrefix(host, "/") { // a Unix socket folder is local too
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address; anonjob-load only runs against this machine", host)
}

// serverFlags name the anonjobd a command loads, and the key it loads it with.
type serverFlags struct {
	Addr   string `help:"anonjobd gRPC address (loopback only)." default:"localhost:9090" env:"ANONJOB_ADDR"`
	APIKey string `name:"api-key" help:"API key; default: the dev key in anonjob-data/dev-api-key." env:"ANONJOB_API_KEY"`
}

// jobClients opens n gRPC connections to the server the flags name, a JobService client on
// each; closeConns ends them all.
func (f serverFlags) jobClients(n int) (clients []anonjobv1.JobServiceClient, closeConns func(), err error) {
	conns, err := dialLoopback(f.Addr, apiKey(f.APIKey), n)
	if err != nil {
		return nil, nil, err
	}
	clients = make([]anonjobv1.JobServiceClient, len(conns))
	for i, cc := range conns {
		clients[i] = anonjobv1.NewJobServiceClient(cc)
	}
	return clients, func() { closeAll(conns) }, nil
}

// dialLoopback opens n gRPC connections to a loopback address.
func dialLoopback(addr, key string, n int) ([]*grpc.ClientConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	if err := checkLoopback(host); err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		// Separate ClientConns give separate HTTP/2 connections, as separate clients would have.
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.Bearer(key)))
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		c.Connect()
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []*grpc.ClientConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// checkDatabaseURL refuses a database that is not on this machine.
func checkDatabaseURL(url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("--baseline-database-url: %w", err)
	}
	hosts := []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		if err := checkLoopback(h); err != nil {
			return fmt.Errorf("--baseline-database-url: %w", err)
		}
	}
	return nil
}

// apiKey is the given key, or else the dev key a default anonjobd left in its data dir.
func apiKey(given string) string {
	if given != "" {
		return given
	}
	b, err := os.ReadFile("anonjob-data/dev-api-key")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
