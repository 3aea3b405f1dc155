package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

func isTerminal(s anonjobv1.JobStatus) bool {
	switch s {
	case anonjobv1.JobStatus_JOB_STATUS_DONE, anonjobv1.JobStatus_JOB_STATUS_FAILED, anonjobv1.JobStatus_JOB_STATUS_CANCELLED:
		return true
	}
	return false
}

// errJobNotDone makes --wait exit non-zero when the job failed or was cancelled.
var errJobNotDone = errors.New("job did not complete")

func endOf(j *anonjobv1.Job) error {
	if j.GetStatus() == anonjobv1.JobStatus_JOB_STATUS_DONE {
		return nil
	}
	return fmt.Errorf("%w: %s %s", errJobNotDone, statusWord(j.GetStatus()), j.GetError().GetMessage())
}

// jobArg is the job id that the commands on one job take first.
type jobArg struct {
	ID string `arg:"" help:"Job id."`
}

// getCmd and cancelCmd differ only in the call: both answer with the job.
type (
	getCmd    struct{ jobArg }
	cancelCmd struct{ jobArg }
)

func (c *getCmd) Run(e *env) error {
	return e.out.reply(e.client.GetJob(e.ctx, &anonjobv1.GetJobRequest{Id: c.ID}))
}

func (c *cancelCmd) Run(e *env) error {
	return e.out.reply(e.client.CancelJob(e.ctx, &anonjobv1.CancelJobRequest{Id: c.ID}))
}

type listCmd struct {
	Status   []string `help:"Only these statuses (queued, processing, done, failed, cancelled)." enum:"queued,processing,done,failed,cancelled"`
	PageSize int32    `name:"page-size" help:"Jobs per page." default:"50"`
	All      bool     `help:"Follow page tokens to the end."`
}

func (c *listCmd) Run(e *env) error {
	req := &anonjobv1.ListJobsRequest{PageSize: c.PageSize}
	for _, s := range c.Status {
		req.Status = append(req.Status, statusFromWord(s))
	}
	e.out.listHeader()
	for {
		resp, err := e.client.ListJobs(e.ctx, req)
		if err != nil {
			return err
		}
		for _, j := range resp.GetJobs() {
			if err := e.out.listRow(j); err != nil {
				return err
			}
		}
		if resp.GetNextPageToken() == "" || !c.All {
			if resp.GetNextPageToken() != "" {
				fmt.Fprintln(os.Stderr, "more jobs: use --all to list them")
			}
			return nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

type watchCmd struct {
	Since  int64    `help:"Replay events after this revision first; 0 means only new ones."`
	Job    string   `help:"Only this job."`
	Status []string `help:"Only events leaving the job in these statuses." enum:"queued,processing,done,failed,cancelled"`
}

func (c *watchCmd) Run(e *env) error {
	req := &anonjobv1.WatchJobsRequest{SinceRevision: c.Since, JobId: c.Job}
	for _, s := range c.Status {
		req.Status = append(req.Status, statusFromWord(s))
	}
	return resumableWatch(e.ctx, e.client, req, func(msg *anonjobv1.WatchJobsResponse) error {
		for _, ev := range msg.GetEvents() {
			if err := e.out.event(ev); err != nil {
				return err
			}
		}
		return nil
	}, func(err error, resume int64) { _, _ = fmt.Fprintln(e.out.err, describeBreak(err, resume)) })
}

type fetchCmd struct {
	jobArg
	Kind string `arg:"" optional:"" help:"Which file: anonymized (the default), original, binary-mask, instance-mask or metadata."`
	Out  string `short:"o" help:"Write to this file instead of standard output; with --all, the folder to save into." type:"path"`
	All  bool   `help:"Save every file the job has into the --out folder, as JOB_ID.KIND.EXT (the anonymized image as JOB_ID.EXT)."`
}

func (c *fetchCmd) Run(e *env) error {
	if c.All {
		return c.fetchAll(e)
	}
	kind := c.Kind
	if kind == "" {
		kind = "anonymized"
	}
	if !slices.Contains(fileKinds, kind) {
		return fmt.Errorf("file kind %q: want one of %s", kind, strings.Join(fileKinds, ", "))
	}
	stream, err := e.client.GetJobFile(e.ctx, &anonjobv1.GetJobFileRequest{Id: c.ID, Kind: kind})
	if err != nil {
		return err
	}
	w := e.out.w
	if c.Out != "" {
		f, err := os.Create(c.Out)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		w = f
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(chunk.GetData()); err != nil {
			return err
		}
	}
}

func (c *fetchCmd) fetchAll(e *env) error {
	if c.Out == "" || c.Kind != "" {
		return errors.New("--all saves every file of the job into a folder: give --out DIR and no file kind")
	}
	resp, err := e.client.GetJob(e.ctx, &anonjobv1.GetJobRequest{Id: c.ID})
	if err != nil {
		return err
	}
	j := resp.GetJob()
	if j.GetStatus() != anonjobv1.JobStatus_JOB_STATUS_DONE {
		return fmt.Errorf("%w: job %s is %s, files exist only once it is DONE", errJobNotDone, j.GetId(), statusWord(j.GetStatus()))
	}
	var kinds []string
	for _, k := range fileKinds {
		if hasFile(j, k) {
			kinds = append(kinds, k)
		}
	}
	saved, kept, err := saveResults(e.ctx, e.client, j, kinds, filepath.Join(c.Out, j.GetId()), imageExt(j.GetContentType()), "")
	_, _ = fmt.Fprintf(e.out.err, "%d files saved in %s, %d already there\n", saved, c.Out, kept)
	return err
}
