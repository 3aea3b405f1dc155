package service

import (
	"context"
	"errors"
	"io"
	"slices"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/job"
)

// FileSource reaches a job's file at the engine that has it, from whichever replica serves
// the request.
type FileSource interface {
	Download(ctx context.Context, jobID, fileID, kind string) (io.ReadCloser, string, int64, error)
	DeleteFile(ctx context.Context, jobID, fileID string) error
}

// FileKinds are the result files of a DONE job, as the engine names them.
func FileKinds() []string {
	return []string{"anonymized", "original", "binary-mask", "instance-mask", "metadata"}
}

// chunkSize bounds each streamed message; gRPC messages stay far below their limit.
const chunkSize = 64 << 10

// GetJobFile streams one result file of a DONE job from the engine.
func (s *JobServer) GetJobFile(req *anonjobv1.GetJobFileRequest, stream anonjobv1.JobService_GetJobFileServer) error {
	ctx := stream.Context()
	customer, err := callerOfJob(ctx, "id", req.GetId())
	if err != nil {
		return err
	}
	if !slices.Contains(FileKinds(), req.GetKind()) {
		return invalidField("kind", "INVALID_FILE_KIND", "must be one of anonymized, original, binary-mask, instance-mask, metadata")
	}
	j, err := s.store.GetCustomerJob(ctx, customer, req.GetId())
	if err != nil {
		return toStatus(ctx, s.log, err)
	}
	if j.Status != job.StatusDone {
		return statusError(codes.FailedPrecondition, apierr.JobNotDone,
			"job is "+string(j.Status)+"; its files exist once it is DONE", map[string]string{"status": string(j.Status)}, "")
	}
	if s.files == nil {
		return statusError(codes.Unavailable, "NO_ENGINE", "no anonymization engine is configured", nil, "")
	}
	body, contentType, _, err := s.files.Download(ctx, j.ID, j.ProviderFileID, req.GetKind())
	if err != nil {
		s.log.WarnContext(ctx, "download from engine", "job_id", j.ID, "kind", req.GetKind(), "err", err)
		return statusError(codes.Unavailable, "ENGINE_UNAVAILABLE", "the engine did not deliver the file; try again", nil, "")
	}
	defer func() { _ = body.Close() }()
	buf := make([]byte, chunkSize)
	for first := true; ; first = false {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 || first {
			msg := &httpbody.HttpBody{Data: buf[:n]}
			if first {
				msg.ContentType = contentType
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return statusError(codes.Unavailable, "ENGINE_UNAVAILABLE", "the engine stopped sending the file", nil, "")
		}
	}
}
