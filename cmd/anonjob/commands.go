package main

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type submitCmd struct {
	File         string `arg:"" type:"existingfile" help:"JPEG or PNG image."`
	Method       string `help:"blur, pixelate, blacken or detect." default:"blur" enum:"blur,pixelate,blacken,detect"`
	Face         bool   `help:"Anonymize faces."`
	LicensePlate bool   `name:"license-plate" help:"Anonymize licence plates."`
	Person       bool   `help:"Anonymize whole persons."`
	Vehicle      bool   `help:"Anonymize whole vehicles."`
	RequestID    string `name:"request-id" help:"Idempotency key: submitting again with it returns the same job."`
	CallbackURL  string `name:"callback-url" help:"URL to notify when the job ends."`
	Wait         bool   `help:"Follow the job until it ends, showing each change; exit non-zero unless it ends DONE."`
}

func (c *submitCmd) Run(e *env) error {
	data, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	if !c.Face && !c.LicensePlate && !c.Person && !c.Vehicle {
		c.Face, c.LicensePlate = true, true // what anonymization usually means
	}
	ct := mime.TypeByExtension(filepath.Ext(c.File))
	if ct == "" {
		ct = http.DetectContentType(data)
	}
	resp, err := e.client.CreateJob(e.ctx, &anonjobv1.CreateJobRequest{
		Image:  &httpbody.HttpBody{ContentType: ct, Data: data},
		Method: c.Method, Face: c.Face, LicensePlate: c.LicensePlate, Person: c.Person,
		Vehicle: c.Vehicle, RequestId: c.RequestID, CallbackUrl: c.CallbackURL,
	})
	if err != nil {
		return err
	}
	j := resp.GetJob()
	if !c.Wait {
		return e.out.job(j)
	}
	e.out.progress(j)
	return follow(e, j)
}

// follow watches one job from the revision it was seen at until it ends.
func follow(e *env, j *anonjobv1.Job) error {
	if isTerminal(j.GetStatus()) {
		return endOf(j)
	}
	stream, err := e.client.WatchJobs(e.ctx, &anonjobv1.WatchJobsRequest{SinceRevision: j.GetRevision(), JobId: j.GetId()})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, ev := range msg.GetEvents() {
			e.out.progress(ev.GetJob())
			if isTerminal(ev.GetJob().GetStatus()) {
				if err := e.out.job(ev.GetJob()); err != nil {
					return err
				}
				return endOf(ev.GetJob())
			}
		}
	}
}

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

type getCmd struct {
	ID string `arg:"" help:"Job id."`
}

func (c *getCmd) Run(e *env) error {
	resp, err := e.client.GetJob(e.ctx, &anonjobv1.GetJobRequest{Id: c.ID})
	if err != nil {
		return err
	}
	return e.out.job(resp.GetJob())
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
	stream, err := e.client.WatchJobs(e.ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, ev := range msg.GetEvents() {
			if err := e.out.event(ev); err != nil {
				return err
			}
		}
	}
}

type cancelCmd struct {
	ID string `arg:"" help:"Job id."`
}

func (c *cancelCmd) Run(e *env) error {
	resp, err := e.client.CancelJob(e.ctx, &anonjobv1.CancelJobRequest{Id: c.ID})
	if err != nil {
		return err
	}
	return e.out.job(resp.GetJob())
}

type fetchCmd struct {
	ID   string `arg:"" help:"Job id."`
	Kind string `arg:"" default:"anonymized" enum:"anonymized,original,binary-mask,instance-mask,metadata" help:"Which file: anonymized, original, binary-mask, instance-mask or metadata."`
	Out  string `short:"o" help:"Write to this file instead of standard output."`
}

func (c *fetchCmd) Run(e *env) error {
	stream, err := e.client.GetJobFile(e.ctx, &anonjobv1.GetJobFileRequest{Id: c.ID, Kind: c.Kind})
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
