package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type printer struct {
	w    io.Writer
	err  io.Writer // progress goes here, so that stdout keeps only results
	json bool
}

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true}

func (p *printer) message(m proto.Message) error {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(p.w, string(b))
	return err
}

func (p *printer) job(j *anonjobv1.Job) error {
	if p.json {
		return p.message(j)
	}
	_, err := fmt.Fprint(p.w, describeJob(j))
	return err
}

// reply prints the job a call answered with, or returns the call's error.
func (p *printer) reply(resp interface{ GetJob() *anonjobv1.Job }, err error) error {
	if err != nil {
		return err
	}
	return p.job(resp.GetJob())
}

func describeJob(j *anonjobv1.Job) string {
	var b strings.Builder
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-17s %s\n", k+":", v)
		}
	}
	row("id", j.GetId())
	row("status", statusWord(j.GetStatus()))
	row("revision", fmt.Sprint(j.GetRevision()))
	row("method", j.GetMethod())
	row("targets", targets(j))
	row("request_id", j.GetRequestId())
	row("callback_url", j.GetCallbackUrl())
	row("input", fmt.Sprintf("%s, %d bytes", j.GetContentType(), j.GetInputSizeBytes()))
	row("provider_file_id", j.GetProviderFileId())
	row("created", j.GetCreateTime().AsTime().Format(time.RFC3339))
	row("updated", j.GetUpdateTime().AsTime().Format(time.RFC3339))
	if e := j.GetError(); e != nil {
		row("error", e.GetCode()+": "+e.GetMessage())
	}
	if r := j.GetResults(); r != nil {
		row("anonymized", r.GetAnonymizedLink())
		row("original", r.GetOriginalLink())
		row("binary_mask", r.GetBinaryMaskLink())
		row("instance_mask", r.GetInstanceMaskLink())
		row("metadata", r.GetMetadataLink())
	}
	return b.String()
}

func targets(j *anonjobv1.Job) string {
	var t []string
	for _, x := range []struct {
		on   bool
		name string
	}{{j.GetFace(), "face"}, {j.GetLicensePlate(), "license_plate"}, {j.GetPerson(), "person"}, {j.GetVehicle(), "vehicle"}} {
		if x.on {
			t = append(t, x.name)
		}
	}
	return strings.Join(t, ",")
}

func (p *printer) listHeader() {
	if !p.json {
		_, _ = fmt.Fprintf(p.w, "%-36s  %-10s  %8s  %-8s  %s\n", "ID", "STATUS", "REVISION", "METHOD", "CREATED")
	}
}

func (p *printer) listRow(j *anonjobv1.Job) error {
	if p.json {
		return p.message(j)
	}
	_, err := fmt.Fprintf(p.w, "%-36s  %-10s  %8d  %-8s  %s\n", j.GetId(), statusWord(j.GetStatus()),
		j.GetRevision(), j.GetMethod(), j.GetCreateTime().AsTime().Format(time.RFC3339))
	return err
}

func (p *printer) event(ev *anonjobv1.JobEvent) error {
	if p.json {
		return p.message(ev)
	}
	_, err := fmt.Fprintf(p.w, "%d  %s  %s  %s -> %s\n", ev.GetRevision(),
		ev.GetEventTime().AsTime().Format(time.RFC3339Nano), ev.GetJob().GetId(),
		statusWord(ev.GetPreviousStatus()), statusWord(ev.GetJob().GetStatus()))
	return err
}

// progress shows one step of a followed job.
func (p *printer) progress(j *anonjobv1.Job) {
	_, _ = fmt.Fprintf(p.err, "%s  %s  %s\n", time.Now().Format("15:04:05.000"), j.GetId(), statusWord(j.GetStatus()))
}

func statusWord(s anonjobv1.JobStatus) string {
	if s == anonjobv1.JobStatus_JOB_STATUS_UNSPECIFIED {
		return "-"
	}
	return strings.TrimPrefix(s.String(), "JOB_STATUS_")
}

func statusFromWord(w string) anonjobv1.JobStatus {
	return anonjobv1.JobStatus(anonjobv1.JobStatus_value["JOB_STATUS_"+strings.ToUpper(w)])
}

// describe renders a gRPC error with its reason and field, which say what to fix.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := fmt.Sprintf("%s: %s", st.Code(), st.Message())
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			msg += " (" + info.GetReason() + ")"
		}
	}
	return msg
}

func exitCode(err error) int {
	switch {
	case errors.Is(err, errJobNotDone):
		return 3
	case errors.Is(err, context.Canceled), status.Code(err) == codes.Canceled:
		return 130
	}
	return 1
}
