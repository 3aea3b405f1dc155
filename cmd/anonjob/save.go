package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

var fileKinds = []string{"anonymized", "original", "binary-mask", "instance-mask", "metadata"}

// resultName is where a job's file of this kind goes, for an input saved under stem (its
// path below the output folder, without extension) with image extension ext: the anonymized
// image takes the input's own name, the others a suffix naming their kind.
func resultName(stem, ext, kind string) string {
	switch kind {
	case "anonymized":
		return stem + ext
	case "original":
		return stem + ".original" + ext
	case "metadata":
		return stem + ".metadata.json"
	default:
		return stem + "." + kind + ".png"
	}
}

func imageExt(contentType string) string {
	if contentType == "image/png" {
		return ".png"
	}
	return ".jpg"
}

// hasFile tells whether a DONE job offers a file of this kind.
func hasFile(j *anonjobv1.Job, kind string) bool {
	r := j.GetResults()
	return map[string]string{
		"anonymized": r.GetAnonymizedLink(), "original": r.GetOriginalLink(), "binary-mask": r.GetBinaryMaskLink(),
		"instance-mask": r.GetInstanceMaskLink(), "metadata": r.GetMetadataLink(),
	}[kind] != ""
}

// saveFile downloads one result file to dst, unless dst is already there. It writes to a
// temporary file first, so an interrupted download never looks finished on a later run.
func saveFile(ctx context.Context, client anonjobv1.JobServiceClient, id, kind, dst string) (skipped bool, err error) {
	if st, err := os.Stat(dst); err == nil && st.Size() > 0 {
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	stream, err := client.GetJobFile(ctx, &anonjobv1.GetJobFileRequest{Id: id, Kind: kind})
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, err
		}
		if _, err := tmp.Write(chunk.GetData()); err != nil {
			return false, err
		}
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return false, os.Rename(tmp.Name(), dst)
}

// saveResults saves the files of a DONE job named after stem; it returns how many it wrote
// and how many were already there.
func saveResults(ctx context.Context, client anonjobv1.JobServiceClient, j *anonjobv1.Job, kinds []string, stem, ext, source string) (saved, kept int, err error) {
	var errs []string
	for _, kind := range kinds {
		dst := resultName(stem, ext, kind)
		if source != "" && samePath(dst, source) {
			errs = append(errs, fmt.Sprintf("%s: would overwrite the input; choose another --out", dst))
			continue
		}
		skipped, err := saveFile(ctx, client, j.GetId(), kind, dst)
		switch {
		case err != nil:
			errs = append(errs, fmt.Sprintf("%s: %s", kind, describe(err)))
		case skipped:
			kept++
		default:
			saved++
		}
	}
	if len(errs) > 0 {
		return saved, kept, errors.New(strings.Join(errs, "; "))
	}
	return saved, kept, nil
}

func samePath(a, b string) bool {
	x, err1 := filepath.Abs(a)
	y, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && x == y
}
