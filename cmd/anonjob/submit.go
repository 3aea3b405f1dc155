package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type submitCmd struct {
	Paths        []string `arg:"" name:"path" help:"Images (JPEG or PNG), folders (searched recursively) or globs."`
	Method       string   `help:"blur, pixelate, blacken or detect." default:"blur" enum:"blur,pixelate,blacken,detect"`
	Face         bool     `help:"Anonymize faces."`
	LicensePlate bool     `name:"license-plate" help:"Anonymize licence plates."`
	Person       bool     `help:"Anonymize whole persons."`
	Vehicle      bool     `help:"Anonymize whole vehicles."`
	RequestID    string   `name:"request-id" help:"Idempotency key of a single image; default: derived from the image and the options, so submitting again returns the same job."`
	CallbackURL  string   `name:"callback-url" help:"URL to notify when each job ends."`
	Concurrency  int      `help:"Uploads (and downloads) at once." default:"8"`
	Wait         bool     `help:"Follow every job until it ends (a progress bar on a terminal, a line per job otherwise); exit non-zero unless all end DONE."`
	Out          string   `help:"Save each job's results into this folder as it finishes, named after the input, keeping the folder structure (implies --wait); files already there are not downloaded again." type:"path"`
	Files        []string `help:"Which results --out saves." default:"anonymized" enum:"anonymized,original,binary-mask,instance-mask,metadata"`
}

func (c *submitCmd) Run(e *env) error {
	inputs, err := expandInputs(c.Paths)
	if err != nil {
		return err
	}
	if c.RequestID != "" && len(inputs) > 1 {
		return fmt.Errorf("--request-id names one job, but %d images were given; leave it out to derive one per image", len(inputs))
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: want 1 or more", c.Concurrency)
	}
	if !c.Face && !c.LicensePlate && !c.Person && !c.Vehicle {
		c.Face, c.LicensePlate = true, true // what anonymization usually means
	}
	b := newBatch(e, c, inputs)
	return b.run()
}

// request reads one image and builds its CreateJob request.
func (c *submitCmd) request(in input) (*anonjobv1.CreateJobRequest, error) {
	data, err := os.ReadFile(in.path)
	if err != nil {
		return nil, err
	}
	ct := mime.TypeByExtension(strings.ToLower(filepath.Ext(in.path)))
	if ct != "image/jpeg" && ct != "image/png" {
		ct = http.DetectContentType(data)
	}
	req := &anonjobv1.CreateJobRequest{
		Image:  &httpbody.HttpBody{ContentType: ct, Data: data},
		Method: c.Method, Face: c.Face, LicensePlate: c.LicensePlate, Person: c.Person,
		Vehicle: c.Vehicle, RequestId: c.RequestID, CallbackUrl: c.CallbackURL,
	}
	if req.RequestId == "" {
		req.RequestId = contentRequestID(req)
	}
	return req, nil
}

// contentRequestID derives an idempotency key from everything that makes the job what it is,
// so that the same image with the same options is one job however often it is submitted,
// and a changed option is a new one.
func contentRequestID(r *anonjobv1.CreateJobRequest) string {
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "anonjob-cli-v1\x00%s\x00%s\x00%t%t%t%t\x00%s\x00", r.GetImage().GetContentType(), r.GetMethod(),
		r.GetFace(), r.GetLicensePlate(), r.GetPerson(), r.GetVehicle(), r.GetCallbackUrl())
	_, _ = h.Write(r.GetImage().GetData())
	return "cli-" + hex.EncodeToString(h.Sum(nil))[:40]
}
