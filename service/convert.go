package service

import (
	"net/url"

	"google.golang.org/protobuf/types/known/timestamppb"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
)

// The proto enums spell the values of package job behind a prefix, so the names are the
// mapping; a value unknown to the proto maps to its UNSPECIFIED (0).
func statusToProto(s job.Status) anonjobv1.JobStatus {
	return anonjobv1.JobStatus(anonjobv1.JobStatus_value["JOB_STATUS_"+string(s)])
}

func statusFromProto(s anonjobv1.JobStatus) (job.Status, bool) {
	for _, st := range job.Statuses() {
		if statusToProto(st) == s {
			return st, true
		}
	}
	return "", false
}

// jobToProto converts a job for a client. Its result links are anonjob's own authenticated
// file URLs under files (the public URL): the engine's links are internal, may need the
// engine's credentials and may not even be reachable. With files nil (answers to the engine
// itself) the engine's links are kept.
func jobToProto(j job.Job, files *url.URL) *anonjobv1.Job {
	p := &anonjobv1.Job{
		Id:             j.ID,
		Status:         statusToProto(j.Status),
		Revision:       j.Revision,
		Method:         string(j.Method),
		Face:           j.Face,
		LicensePlate:   j.LicensePlate,
		Person:         j.Person,
		Vehicle:        j.Vehicle,
		RequestId:      j.RequestID,
		CallbackUrl:    j.CallbackURL,
		ContentType:    j.ContentType,
		InputSizeBytes: j.InputSize,
		ProviderFileId: j.ProviderFileID,
		CreateTime:     timestamppb.New(j.CreateTime),
		UpdateTime:     timestamppb.New(j.UpdateTime),
	}
	if j.Error != nil {
		p.Error = &anonjobv1.JobError{Code: j.Error.Code, Message: j.Error.Message}
	}
	if r := j.Results; r != nil {
		link := func(engineLink, kind string) string {
			if files == nil || engineLink == "" {
				return engineLink // no file of this kind: no link
			}
			return job.FileURL(files, j.ID, kind)
		}
		p.Results = &anonjobv1.JobResults{
			OriginalLink:     link(r.OriginalLink, "original"),
			AnonymizedLink:   link(r.AnonymizedLink, "anonymized"),
			BinaryMaskLink:   link(r.BinaryMaskLink, "binary-mask"),
			InstanceMaskLink: link(r.InstanceMaskLink, "instance-mask"),
			MetadataLink:     link(r.MetadataLink, "metadata"),
		}
	}
	return p
}

func eventTypeToProto(t job.EventType) anonjobv1.JobEventType {
	return anonjobv1.JobEventType(anonjobv1.JobEventType_value["JOB_EVENT_TYPE_"+string(t)])
}

func eventToProto(e job.Event, files *url.URL) *anonjobv1.JobEvent {
	return &anonjobv1.JobEvent{
		Revision:       e.Revision,
		Type:           eventTypeToProto(e.Type),
		Job:            jobToProto(e.Job, files),
		PreviousStatus: statusToProto(e.PreviousStatus),
		EventTime:      timestamppb.New(e.Time),
	}
}
