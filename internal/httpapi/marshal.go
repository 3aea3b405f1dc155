package httpapi

import (
	"io"
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/encoding/protojson"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// bodyMarshaler writes JSON (and HttpBody responses verbatim) and reads JSON, except that a
// request body bound to a google.api.HttpBody field is taken raw, with the request's media type:
// that is how POST /v1/jobs takes the image itself as its body, and the webhook its payload.
type bodyMarshaler struct {
	*runtime.HTTPBodyMarshaler
	contentType string // the media type this instance is registered for
}

func newBodyMarshaler(contentType string) *bodyMarshaler {
	return &bodyMarshaler{
		HTTPBodyMarshaler: &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}},
		contentType: contentType,
	}
}

// NewDecoder reads HttpBody targets raw and everything else as JSON.
func (m *bodyMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		var target **httpbody.HttpBody
		switch b := v.(type) {
		case **httpbody.HttpBody:
			target = b
		case *httpbody.HttpBody:
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			b.ContentType, b.Data = m.contentType, data
			return nil
		default:
			return m.HTTPBodyMarshaler.NewDecoder(r).Decode(v)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		*target = &httpbody.HttpBody{ContentType: m.contentType, Data: data}
		return nil
	})
}

// marshalerOptions registers the body marshaler for every media type a raw body may have.
func marshalerOptions() []runtime.ServeMuxOption {
	opts := []runtime.ServeMuxOption{runtime.WithMarshalerOption(runtime.MIMEWildcard, newBodyMarshaler(""))}
	for _, mt := range []string{"application/json", "image/jpeg", "image/png",
		"application/x-www-form-urlencoded", "text/plain", "application/octet-stream"} {
		opts = append(opts, runtime.WithMarshalerOption(mt, newBodyMarshaler(mt)))
	}
	return opts
}

// normalizeStatuses lets query strings write job statuses the way people do (done, DONE,
// comma-separated) as well as the enum's full name (JOB_STATUS_DONE). It rewrites the request's
// query rather than replacing the gateway's parser, which is a process-wide setting.
func normalizeStatuses(values url.Values) url.Values {
	vs, ok := values["status"]
	if !ok {
		return values
	}
	fixed := make([]string, 0, len(vs))
	for _, v := range vs {
		for _, s := range strings.Split(v, ",") {
			fixed = append(fixed, statusName(s))
		}
	}
	out := make(url.Values, len(values))
	for k, v := range values {
		out[k] = v
	}
	out["status"] = fixed
	return out
}

func statusName(s string) string {
	up := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "JOB_STATUS_")
	if _, ok := anonjobv1.JobStatus_value["JOB_STATUS_"+up]; ok {
		return "JOB_STATUS_" + up
	}
	return s
}
