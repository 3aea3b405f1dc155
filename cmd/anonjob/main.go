// Command anonjob is the command-line client of anonjob: it submits images and follows,
// lists and cancels jobs over gRPC.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type cli struct {
	Addr string `help:"anonjobd gRPC address." default:"localhost:9090" env:"ANONJOB_ADDR"`
	JSON bool   `help:"Print jobs and events as JSON."`

	Submit submitCmd `cmd:"" help:"Submit an image (JPEG or PNG) for anonymization."`
	Get    getCmd    `cmd:"" help:"Show one job."`
	List   listCmd   `cmd:"" help:"List jobs, newest first."`
	Watch  watchCmd  `cmd:"" help:"Stream job changes as they commit."`
	Cancel cancelCmd `cmd:"" help:"Cancel a job that has not ended."`
}

// env is what every command gets.
type env struct {
	ctx    context.Context
	client anonjobv1.JobServiceClient
	out    *printer
}

func main() {
	var c cli
	k := kong.Parse(&c, kong.Name("anonjob"),
		kong.Description("Client of anonjob, the image-anonymization job service."),
		kong.UsageOnError())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := grpc.NewClient(c.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	k.FatalIfErrorf(err)
	defer func() { _ = conn.Close() }()
	e := &env{ctx: ctx, client: anonjobv1.NewJobServiceClient(conn), out: &printer{w: os.Stdout, err: os.Stderr, json: c.JSON}}
	if err := k.Run(e); err != nil {
		fmt.Fprintln(os.Stderr, "anonjob:", describe(err))
		os.Exit(exitCode(err))
	}
}
