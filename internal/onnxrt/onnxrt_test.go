package onnxrt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	for _, tc := range []struct {
		name, path, sum string
		want            []string // substrings of the error; none: no error
	}{
		{"matching", good, abc, nil},
		{"missing", filepath.Join(dir, "nope"), abc, []string{"face model", "nope", "is missing", InstallCommand}},
		{"altered", good, strings.Repeat("0", 64), []string{"face model", good, "has sha256 " + abc, InstallCommand}},
		{"folder", dir, abc, []string{"face model", dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyFile(tc.path, tc.sum, "face model")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
