// Package job holds the job domain: what a job is, which statuses it moves through and which
// moves are allowed. It knows nothing of storage or transport.
package job

import (
	"net/url"
	"time"
)

// Job is one image handed to the anonymization engine.
type Job struct {
	ID             string    `json:"id"`
	Customer       string    `json:"customer"` // the API key's owner; scopes every read
	Status         Status    `json:"status"`
	Revision       int64     `json:"revision"`
	Spec                     // what the client asked for
	InputSize      int64     `json:"input_size"`
	ProviderFileID string    `json:"provider_file_id,omitempty"`
	CreateTime     time.Time `json:"create_time"`
	UpdateTime     time.Time `json:"update_time"`
	Error          *Error    `json:"error,omitempty"`
	Results        *Results  `json:"results,omitempty"`
}

// Spec is what a client submits alongside the image.
type Spec struct {
	Method      Method `json:"method"`
	Targets            // which classes to anonymize
	RequestID   string `json:"request_id,omitempty"`
	CallbackURL string `json:"callback_url,omitempty"`
	ContentType string `json:"content_type"`
}

// Targets are the object classes the engine should look for.
type Targets struct {
	Face         bool `json:"face"`
	LicensePlate bool `json:"license_plate"`
	Person       bool `json:"person"`
	Vehicle      bool `json:"vehicle"`
}

// Any reports whether at least one class is asked for.
func (t Targets) Any() bool { return t.Face || t.LicensePlate || t.Person || t.Vehicle }

// Error says why a job failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Results are the engine's links to what a finished job produced.
type Results struct {
	OriginalLink     string `json:"original_link,omitempty"`
	AnonymizedLink   string `json:"anonymized_link,omitempty"`
	BinaryMaskLink   string `json:"binary_mask_link,omitempty"`
	InstanceMaskLink string `json:"instance_mask_link,omitempty"`
	MetadataLink     string `json:"metadata_link,omitempty"`
}

// FileURL is the address of one result file of a job on anonjob's own HTTP face,
// <public>/v1/jobs/{id}/files/{kind}: what clients are given instead of the engine's links,
// which are internal. It needs the API key of the job's customer.
func FileURL(public *url.URL, id, kind string) string {
	return public.JoinPath("v1/jobs", id, "files", kind).String()
}

// Method is how detections are anonymized.
type Method string

// The methods the provider protocol defines.
const (
	MethodBlur     Method = "blur"
	MethodPixelate Method = "pixelate"
	MethodBlacken  Method = "blacken"
	MethodDetect   Method = "detect"
)

// Methods lists every valid method, in documentation order.
func Methods() []Method {
	return []Method{MethodBlur, MethodPixelate, MethodBlacken, MethodDetect}
}

// Valid reports whether m is one of Methods.
func (m Method) Valid() bool {
	switch m {
	case MethodBlur, MethodPixelate, MethodBlacken, MethodDetect:
		return true
	}
	return false
}
