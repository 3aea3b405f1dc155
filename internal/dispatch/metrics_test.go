package dispatch

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsOutcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	for _, err := range []error{nil, nil, apiError(429, 0), apiError(503, 0), errors.New("reset"), errors.New("x")} {
		m.observeUpload(time.Second, err)
	}
	var none *Metrics
	none.observeUpload(time.Second, nil) // records nothing, and does not panic
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "anonjob_dispatch_upload_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			h := s.GetHistogram()
			if h.GetSampleSum() != float64(h.GetSampleCount()) {
				t.Errorf("%v: sum %v for %d uploads of a second", s.GetLabel(), h.GetSampleSum(), h.GetSampleCount())
			}
			got[s.GetLabel()[0].GetValue()] = h.GetSampleCount()
		}
	}
	want := map[string]uint64{"ok": 2, "throttled": 1, "error": 3}
	if len(got) != len(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("outcomes %v, want %v", got, want)
		}
	}
}
