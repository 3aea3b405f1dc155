// Package apierr builds the API's errors: canonical gRPC codes with a google.rpc.ErrorInfo
// reason (AIP-193) and, for bad fields, a google.rpc.BadRequest naming the field.
package apierr

import (
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Domain is the ErrorInfo domain of every error this API returns.
const Domain = "anonjob.dev"

// Reasons that clients and the HTTP gateway act on.
const (
	JobNotFound       = "JOB_NOT_FOUND"
	InvalidTransition = "INVALID_TRANSITION"
	JobNotDone        = "JOB_NOT_DONE"
	NothingToDeliver  = "NOTHING_TO_DELIVER"
	RequestIDReused   = "REQUEST_ID_REUSED"
	RevisionCompacted = "REVISION_COMPACTED"
	WatcherTooSlow    = "WATCHER_TOO_SLOW"
	ShuttingDown      = "SERVER_SHUTTING_DOWN"
	ImageTooLarge     = "IMAGE_TOO_LARGE"
	BodyTooLarge      = "BODY_TOO_LARGE"
	UnsupportedMedia  = "UNSUPPORTED_CONTENT_TYPE"
	InvalidPageToken  = "INVALID_PAGE_TOKEN"
	TargetUnsupported = "TARGET_UNSUPPORTED"
)

// New builds a status error with an ErrorInfo and, when field is set, a BadRequest.
func New(c codes.Code, reason, msg string, meta map[string]string, field string) error {
	st := status.New(c, msg)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: meta}}
	if field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: field, Description: msg, Reason: reason},
		}})
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return withDetails.Err()
}

// InvalidField is an INVALID_ARGUMENT naming the field.
func InvalidField(field, reason, msg string) error {
	return New(codes.InvalidArgument, reason, field+": "+msg, nil, field)
}

// Reason returns the ErrorInfo reason of a status, or "".
func Reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// HTTPStatus returns the HTTP status for reasons that deserve a more precise one than the
// gateway's mapping of the gRPC code, or 0.
func HTTPStatus(st *status.Status) int {
	switch Reason(st) {
	case RevisionCompacted:
		return http.StatusGone // as Kubernetes answers an expired resourceVersion
	case ImageTooLarge, BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case InvalidTransition, JobNotDone, NothingToDeliver:
		return http.StatusConflict // the job's state, not the request, is in the way
	}
	return 0
}
