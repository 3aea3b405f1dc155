package providerhook_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/providerhook"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	s := providerhook.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	other := providerhook.NewSigner([]byte("another key of thirty-two bytes!"))
	tok := s.Token("job-1")
	switch {
	case !s.Verify("job-1", tok):
		t.Fatal("own token refused")
	case s.Verify("job-2", tok):
		t.Fatal("token accepted for another job")
	case other.Verify("job-1", tok):
		t.Fatal("token accepted under another key")
	case s.Verify("job-1", tok[:len(tok)-1]), s.Verify("job-1", ""), s.Verify("job-1", "%%%"):
		t.Fatal("mangled token accepted")
	}
}

func TestCallbackURL(t *testing.T) {
	t.Parallel()
	s := providerhook.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	for _, base := range []string{"https://anonjob.example", "https://anonjob.example/", "https://anonjob.example/prefix"} {
		b, _ := url.Parse(base)
		u := s.CallbackURL(b, "job-1")
		if !strings.HasSuffix(u.Path, providerhook.Path) || !strings.HasPrefix(u.Path, "/") {
			t.Errorf("%s: path %q", base, u.Path)
		}
		q := u.Query()
		if q.Get("job_id") != "job-1" || !s.Verify("job-1", q.Get("token")) {
			t.Errorf("%s: query %q", base, u.RawQuery)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, contentType, body string
		want                    providerhook.Payload
		errField                string
	}{
		{"json", "application/json",
			`{"customer_id": "c", "file_id": "f", "file_status": "done", "anonymized_link": "https://e/a"}`,
			providerhook.Payload{CustomerID: "c", FileID: "f", FileStatus: "done", AnonymizedLink: "https://e/a"}, ""},
		{"json number id", "application/json; charset=utf-8", `{"customer_id": 12, "file_id": "f", "file_status": "DONE", "extra": [1]}`,
			providerhook.Payload{}, "extra"},
		{"json numbers", "application/json", `{"customer_id": 12, "file_id": 34, "file_status": "failed"}`,
			providerhook.Payload{CustomerID: "12", FileID: "34", FileStatus: "failed"}, ""},
		{"form", "application/x-www-form-urlencoded", "customer_id=c&file_id=f&file_status=done&metadata_link=http%3A%2F%2Fe%2Fm%3Fa%3D1",
			providerhook.Payload{CustomerID: "c", FileID: "f", FileStatus: "done", MetadataLink: "http://e/m?a=1"}, ""},
		{"documented lines", "text/plain", "{\n    customer_id=c\n    file_id=f\n    file_status=\"done\"\n    original_link=\"https://api.celantur.com/v1/file/f/original\"\n}",
			providerhook.Payload{CustomerID: "c", FileID: "f", FileStatus: "done", OriginalLink: "https://api.celantur.com/v1/file/f/original"}, ""},
		{"json without content type", "", `{"file_id": "f", "file_status": "done"}`,
			providerhook.Payload{FileID: "f", FileStatus: "done"}, ""},
		{"missing file id", "application/json", `{"file_status": "done"}`, providerhook.Payload{}, "file_id"},
		{"missing status", "application/x-www-form-urlencoded", `file_id=f`, providerhook.Payload{}, "file_status"},
		{"bad json", "application/json", `{"file_id": `, providerhook.Payload{}, "payload"},
		{"json array", "application/json", `[1,2]`, providerhook.Payload{}, "payload"},
		{"json after the object", "application/json", `{"file_id": "f", "file_status": "done"} {"file_id": "g"}`, providerhook.Payload{}, "payload"},
		{"nested object", "application/json", `{"file_id": {"id": "f"}, "file_status": "done"}`, providerhook.Payload{}, "file_id"},
		{"null value", "application/json", `{"file_id": "f", "file_status": "done", "customer_id": null}`,
			providerhook.Payload{FileID: "f", FileStatus: "done"}, ""},
		{"line without =", "text/plain", "file_id f", providerhook.Payload{}, "payload"},
		{"bad link", "application/json", `{"file_id": "f", "file_status": "done", "binary_mask_link": "file:///etc/passwd"}`, providerhook.Payload{}, "binary_mask_link"},
		{"bad form", "application/x-www-form-urlencoded", "file_id=%zz", providerhook.Payload{}, "payload"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := providerhook.Parse(tc.contentType, []byte(tc.body))
			if tc.errField != "" {
				var fe *providerhook.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.errField {
					t.Fatalf("Parse() error = %v, want field %q", err, tc.errField)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("application/json", []byte(`{"file_id": "f", "file_status": "done"}`))
	f.Add("application/x-www-form-urlencoded", []byte("file_id=f&file_status=done"))
	f.Add("text/plain", []byte("{\n file_id=f\n file_status=\"done\"\n}"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p, err := providerhook.Parse(contentType, body)
		if err != nil {
			var fe *providerhook.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if p.FileID == "" || p.FileStatus == "" {
			t.Fatalf("accepted a payload without file_id or file_status: %+v", p)
		}
	})
}

// TestTokenExpiryAndRotation: an expired token is refused; after a rotation the old key's
// tokens are accepted while it is kept, and not once it is dropped.
func TestTokenExpiryAndRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := []byte("0123456789abcdef0123456789abcdef"), []byte("another key of thirty-two bytes!")
	s := providerhook.NewKeyedSigner([][]byte{oldKey}, time.Hour)
	if s.Verify("job-1", s.TokenAt("job-1", time.Now().Add(-time.Second))) {
		t.Fatal("an expired token was accepted")
	}
	if !s.Verify("job-1", s.TokenAt("job-1", time.Now().Add(time.Minute))) {
		t.Fatal("an unexpired token was refused")
	}
	old := s.Token("job-1")
	copied := s
	s.SetKeys([][]byte{newKey, oldKey})
	fresh := copied.Token("job-1") // copies share the keys
	if !s.Verify("job-1", old) || !s.Verify("job-1", fresh) {
		t.Fatal("tokens of the current and the kept key must verify")
	}
	if providerhook.NewKeyedSigner([][]byte{newKey}, time.Hour).Verify("job-1", old) {
		t.Fatal("a token of a dropped key was accepted")
	}
	if !providerhook.NewKeyedSigner([][]byte{newKey}, time.Hour).Verify("job-1", fresh) {
		t.Fatal("the new key did not mint the new token")
	}
}
