package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/anonjob/anonjob/internal/server"
)

// parse parses args as anonjobd would, with none of its environment variables set.
func parse(t *testing.T, args ...string) (*cli, *kong.Kong) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ANONJOB_") || strings.HasPrefix(k, "CELANTUR_") || k == "DATABASE_URL" {
			t.Setenv(k, "") // restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	var c cli
	k, err := kong.New(&c, kong.Name("anonjobd"), defaultVars(), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &c, k
}

// TestFlagDefaultsAreServerDefaults: anonjobd told nothing runs with server.Defaults().
func TestFlagDefaultsAreServerDefaults(t *testing.T) {
	c, _ := parse(t, "serve")
	got, err := c.Serve.config(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := server.Defaults()
	want.Log = nil
	// Repeatable flags given nothing parse to empty lists: the same as none.
	if len(got.CallbackAllowCIDRs)+len(got.CallbackAllowPorts)+len(got.CORSOrigins) != 0 {
		t.Fatalf("lists given by default: %v %v %v", got.CallbackAllowCIDRs, got.CallbackAllowPorts, got.CORSOrigins)
	}
	got.CallbackAllowCIDRs, got.CallbackAllowPorts, got.CORSOrigins = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flag defaults differ from server.Defaults():\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}

// TestConfigFlagsAreFlags: every flag that errors name for a Config field exists.
func TestConfigFlagsAreFlags(t *testing.T) {
	_, k := parse(t, "serve")
	flags := map[string]bool{}
	for _, n := range k.Model.Children {
		if n.Name != "serve" {
			continue
		}
		for _, group := range n.AllFlags(false) {
			for _, f := range group {
				flags["--"+f.Name] = true
			}
		}
	}
	for field, flag := range configFlags() {
		if !flags[flag] {
			t.Errorf("Config.%s: no flag %s", field, flag)
		}
		if _, ok := reflect.TypeFor[server.Config]().FieldByName(strings.Split(field, ".")[0]); !ok {
			t.Errorf("no Config field %s", field)
		}
	}
}

// TestConfigErrorsNameFlags: the server's refusals reach the operator in flag names.
func TestConfigErrorsNameFlags(t *testing.T) {
	c, _ := parse(t, "serve", "--claim-lease", "100ms", "--shutdown-timeout", "1s", "--shutdown-grace", "2s",
		"--grpc-max-connection-age-grace=-1s")
	cfg, err := c.Serve.config(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := asFlags(cfg.Validate()).Error()
	for _, want := range []string{"--claim-lease 100ms", "--shutdown-grace 2s", "shorter than --shutdown-timeout (1s)",
		"--grpc-max-connection-age-grace -1s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if c.Serve.ShutdownGrace != 2*time.Second {
		t.Fatalf("--shutdown-grace parsed as %v", c.Serve.ShutdownGrace)
	}
}
