// Package apierr builds the API's errors: canonical gRPC codes with a google.rpc.ErrorInfo
// reason (AIP-193) and, for bad fields, a google.rpc.BadRequest naming the field.
package apierr

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
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
	JobBusy           = "JOB_BUSY"
	RevisionCompacted = "REVISION_COMPACTED"
	RevisionInFuture  = "REVISION_IN_FUTURE"
	WatcherTooSlow    = "WATCHER_TOO_SLOW"
	ShuttingDown      = "SERVER_SHUTTING_DOWN"
	ImageTooLarge     = "IMAGE_TOO_LARGE"
	BodyTooLarge      = "BODY_TOO_LARGE"
	UnsupportedMedia  = "UNSUPPORTED_CONTENT_TYPE"
	InvalidPageToken  = "INVALID_PAGE_TOKEN"
	InvalidUTF8       = "INVALID_UTF8"      // text that is not valid UTF-8
	InvalidParameter  = "INVALID_PARAMETER" // a query value that does not parse as its field's type
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

// Normalize gives an error that lacks an ErrorInfo one, so every error a client sees has the
// same shape: the reason is the code's name (NOT_FOUND, UNAUTHENTICATED, ...) and an
// INVALID_ARGUMENT names field, when given, in a BadRequest. Errors that are not statuses, and
// OK, are returned unchanged.
func Normalize(err error, field string) error {
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() == codes.OK || Reason(st) != "" {
		return err
	}
	if st.Code() != codes.InvalidArgument {
		field = ""
	}
	kept := st.Details()
	normalized := New(st.Code(), codeName(st.Code()), st.Message(), nil, field)
	if len(kept) == 0 {
		return normalized
	}
	// Keep what the error already said (a RetryInfo, say) after the new details.
	ns := status.Convert(normalized)
	var extra []protoadapt.MessageV1
	for _, d := range kept {
		if m, ok := d.(protoadapt.MessageV1); ok {
			extra = append(extra, m)
		}
	}
	if withExtra, err := ns.WithDetails(extra...); err == nil {
		return withExtra.Err()
	}
	return normalized
}

// codeName spells a code as the gRPC specification does: NOT_FOUND, not NotFound.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
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
	case RevisionInFuture:
		return http.StatusBadRequest // the request is wrong, not the server's history
	case ImageTooLarge, BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case InvalidTransition, JobNotDone, NothingToDeliver:
		return http.StatusConflict // the job's state, not the request, is in the way
	}
	return 0
}

// Reasons of refusals that ask the client to come back later.
const (
	RateLimited    = "RATE_LIMITED"
	TooManyUploads = "TOO_MANY_UPLOADS"
)

// Retryable is RESOURCE_EXHAUSTED with reason and a google.rpc.RetryInfo saying when to try
// again (over HTTP: 429 with Retry-After).
func Retryable(reason, msg string, meta map[string]string, wait time.Duration) error {
	return retryLater(codes.ResourceExhausted, reason, msg, meta, wait)
}

// Busy is UNAVAILABLE with reason and a RetryInfo: the server could not do the call now and
// changed nothing (over HTTP: 503 with Retry-After, which webhook senders retry).
func Busy(reason, msg string, wait time.Duration) error {
	return retryLater(codes.Unavailable, reason, msg, nil, wait)
}

func retryLater(c codes.Code, reason, msg string, meta map[string]string, wait time.Duration) error {
	st := status.New(c, msg)
	withDetails, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: meta},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
	if err != nil {
		return st.Err()
	}
	return withDetails.Err()
}

// RetryDelay returns the RetryInfo delay of st, if it has one.
func RetryDelay(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// RetrySeconds rounds a wait up to whole seconds, at least one, for a Retry-After header.
func RetrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// RateLimitedFor is the refusal of a request over its customer's rate, to retry after wait.
func RateLimitedFor(wait time.Duration) error {
	secs := RetrySeconds(wait)
	return Retryable(RateLimited,
		fmt.Sprintf("rate limit: too many requests for this customer; retry in %d s", secs),
		map[string]string{"retry_after_seconds": fmt.Sprint(secs)}, wait)
}

// UploadsBusy is the refusal of an upload while the server holds limit bytes of uploads.
func UploadsBusy(limit int64) error {
	return Retryable(TooManyUploads,
		fmt.Sprintf("uploads: the server holds its limit of %d bytes of uploads in flight; retry shortly", limit),
		map[string]string{"limit_bytes": fmt.Sprint(limit), "retry_after_seconds": "1"}, time.Second)
}
