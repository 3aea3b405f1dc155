package providerhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// Payload is a Celantur v1 completion webhook.
type Payload struct {
	CustomerID       string
	FileID           string
	FileStatus       string
	OriginalLink     string
	AnonymizedLink   string
	BinaryMaskLink   string
	InstanceMaskLink string
	MetadataLink     string
	// Error is the engine's reason for a failure, when it gives one (anonjob's engine does).
	Error string
}

// FieldError names the payload field that is wrong.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Parse reads a webhook body. The provider documents the payload as key=value lines and sends
// JSON; form encoding is accepted too. Unknown keys are ignored; file_id and file_status are
// required, and links must be absolute http(s) URLs.
func Parse(contentType string, body []byte) (Payload, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	var fields map[string]string
	var err error
	trimmed := bytes.TrimSpace(body)
	switch {
	case mt == "application/x-www-form-urlencoded":
		fields, err = parseForm(trimmed)
	case mt == "application/json" || json.Valid(trimmed):
		fields, err = parseJSON(trimmed)
	default:
		fields, err = parseLines(trimmed)
	}
	if err != nil {
		return Payload{}, err
	}
	p := Payload{
		CustomerID:       fields["customer_id"],
		FileID:           fields["file_id"],
		FileStatus:       strings.ToLower(fields["file_status"]),
		OriginalLink:     fields["original_link"],
		AnonymizedLink:   fields["anonymized_link"],
		BinaryMaskLink:   fields["binary_mask_link"],
		InstanceMaskLink: fields["instance_mask_link"],
		MetadataLink:     fields["metadata_link"],
		Error:            fields["error"],
	}
	return p, p.validate()
}

func (p Payload) validate() error {
	switch {
	case p.FileID == "":
		return &FieldError{Field: "file_id", Msg: "is required"}
	case p.FileStatus == "":
		return &FieldError{Field: "file_status", Msg: "is required"}
	}
	for _, l := range []struct{ name, v string }{
		{"original_link", p.OriginalLink}, {"anonymized_link", p.AnonymizedLink},
		{"binary_mask_link", p.BinaryMaskLink}, {"instance_mask_link", p.InstanceMaskLink},
		{"metadata_link", p.MetadataLink},
	} {
		if l.v == "" {
			continue
		}
		u, err := url.Parse(l.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &FieldError{Field: l.name, Msg: "must be an absolute http or https URL"}
		}
	}
	return nil
}

func parseForm(body []byte) (map[string]string, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &FieldError{Field: "payload", Msg: "is not valid form encoding: " + err.Error()}
	}
	out := make(map[string]string, len(v))
	for k := range v {
		out[k] = v.Get(k)
	}
	return out, nil
}

// parseJSON accepts a flat object whose values are strings, numbers, booleans or null:
// customer_id in particular may arrive as a number.
func parseJSON(body []byte) (map[string]string, error) {
	// One decoder for the whole object: numbers stay as written (UseNumber), and anything
	// after the object is refused as json.Unmarshal would.
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(&raw)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("invalid data after the top-level value")
	}
	if err != nil {
		return nil, &FieldError{Field: "payload", Msg: "is not a JSON object: " + err.Error()}
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch t := v.(type) {
		case string:
			out[k] = t
		case json.Number:
			out[k] = t.String()
		case bool:
			out[k] = strconv.FormatBool(t)
		case nil:
		default:
			return nil, &FieldError{Field: k, Msg: "must be a string, number or boolean"}
		}
	}
	return out, nil
}

// parseLines reads the documented form: optional surrounding braces, one key=value per line,
// values optionally double-quoted.
func parseLines(body []byte) (map[string]string, error) {
	s := strings.TrimSpace(string(body))
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"))
	out := map[string]string{}
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), ","))
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, &FieldError{Field: "payload", Msg: fmt.Sprintf("line %d is not key=value", n+1)}
		}
		v = strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
