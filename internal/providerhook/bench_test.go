package providerhook_test

import (
	"testing"

	"github.com/anonjob/anonjob/internal/providerhook"
)

// BenchmarkParseJSON parses a completion webhook as the built-in engine sends it.
func BenchmarkParseJSON(b *testing.B) {
	body := []byte(`{"customer_id":"c","file_id":"0190c6f2-0000-7000-8000-000000000001","file_status":"done",` +
		`"original_link":"http://127.0.0.1:8090/v1/file/f/original","anonymized_link":"http://127.0.0.1:8090/v1/file/f/anonymized",` +
		`"binary_mask_link":"http://127.0.0.1:8090/v1/file/f/binary-mask","instance_mask_link":"http://127.0.0.1:8090/v1/file/f/instance-mask",` +
		`"metadata_link":"http://127.0.0.1:8090/v1/file/f/metadata"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := providerhook.Parse("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}
