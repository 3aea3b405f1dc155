package plates

import (
	"context"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkDetect1080p is the character search over the 1920x1080 collage of the face set.
func BenchmarkDetect1080p(b *testing.B) {
	img := testimages.Collage(b)
	d := New(Config{})
	for b.Loop() {
		if _, err := d.Detect(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
}
