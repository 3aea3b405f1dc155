// Command anonjob is the command-line client of anonjob: it submits images and follows,
// lists and cancels jobs over gRPC.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type cli struct {
	Addr    string `help:"anonjobd gRPC address." default:"localhost:9090" env:"ANONJOB_ADDR"`
	APIKey  string `name:"api-key" help:"API key; default: the dev key anonjobd left in --data-dir." env:"ANONJOB_API_KEY"`
	DataDir string `name:"data-dir" help:"anonjobd's data dir, where its first start left dev-api-key." default:"anonjob-data" env:"ANONJOB_DATA_DIR"`
	JSON    bool   `help:"Print jobs and events as JSON."`
	dialFlags

	Submit submitCmd `cmd:"" help:"Submit images (JPEG or PNG files, folders, globs) for anonymization."`
	Get    getCmd    `cmd:"" help:"Show one job."`
	List   listCmd   `cmd:"" help:"List jobs, newest first."`
	Watch  watchCmd  `cmd:"" help:"Stream job changes as they commit."`
	Cancel cancelCmd `cmd:"" help:"Cancel a job that has not ended."`
	Fetch  fetchCmd  `cmd:"" help:"Download a result file of a DONE job."`

	Deliveries    deliveriesCmd    `cmd:"" help:"Show a job's completion webhook deliveries and every attempt."`
	Redeliver     redeliverCmd     `cmd:"" help:"Send an ended job's completion webhook again."`
	WebhookSecret webhookSecretCmd `cmd:"" name:"webhook-secret" help:"Manage the secret that signs your completion webhooks."`

	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

// env is what every command gets.
type env struct {
	ctx        context.Context
	client     anonjobv1.JobServiceClient
	deliveries anonjobv1.DeliveryServiceClient
	out        *printer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitRequest carries kong's exit (after --help) out of the parser without ending the process.
type exitRequest int

// run is the whole command with its inputs and outputs made explicit, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			req, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = int(req)
		}
	}()
	var c cli
	parser, err := kong.New(&c, kong.Name("anonjob"),
		kong.Description("Client of anonjob, the image-anonymization job service."),
		kong.Writers(stdout, stderr), kong.Exit(func(code int) { panic(exitRequest(code)) }))
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "anonjob:", err)
		return 2
	}
	k, err := parser.Parse(args)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "anonjob:", err)
		return 2
	}
	key := c.APIKey
	if key == "" {
		if b, err := os.ReadFile(filepath.Join(c.DataDir, "dev-api-key")); err == nil {
			key = strings.TrimSpace(string(b))
		}
	}
	conn, err := c.dial(c.Addr, key)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "anonjob:", err)
		return 2
	}
	defer func() { _ = conn.Close() }()
	e := &env{ctx: ctx, client: anonjobv1.NewJobServiceClient(conn), deliveries: anonjobv1.NewDeliveryServiceClient(conn), out: &printer{w: stdout, err: stderr, json: c.JSON}}
	if err := k.Run(e, parser.Model); err != nil {
		_, _ = fmt.Fprintln(stderr, "anonjob:", describe(err))
		return exitCode(err)
	}
	return 0
}
