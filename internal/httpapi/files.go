package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// filesPattern is GetJobFile's REST route.
const filesPattern = "/v1/jobs/{id}/files/{kind}"

// fileHandler serves GetJobFile as the file itself. The generated gateway would write each
// streamed chunk followed by the JSON stream delimiter, corrupting binary files; this handler
// forwards the same gRPC call (through the interceptors, with the request's metadata) and
// writes the bytes as they come.
func fileHandler(mux *runtime.ServeMux, client anonjobv1.JobServiceClient) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		_, outbound := runtime.MarshalerForRequest(mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, anonjobv1.JobService_GetJobFile_FullMethodName,
			runtime.WithHTTPPathPattern(filesPattern))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
			return
		}
		stream, err := client.GetJobFile(ctx, &anonjobv1.GetJobFileRequest{Id: params["id"], Kind: params["kind"]})
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		first, err := stream.Recv()
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		ct := first.GetContentType()
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if _, err := w.Write(first.GetData()); err != nil {
			return
		}
		for {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// The status line is gone: cut the connection so the client sees a truncated
				// body rather than a short file that looks complete.
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(msg.GetData()); err != nil {
				return
			}
		}
	}
}
