package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDir is where Debian's opencv-data package installs the cascades.
const DefaultDir = "/usr/share/opencv4/haarcascades"

// InstallCommand installs the cascade files this package expects.
const InstallCommand = "scripts/install-detector-data.sh"

// Cascade files used by the detectors.
const (
	FrontalFaceDefault = "haarcascade_frontalface_default.xml"
	FrontalFaceAlt2    = "haarcascade_frontalface_alt2.xml"
	ProfileFace        = "haarcascade_profileface.xml"
	RussianPlate       = "haarcascade_russian_plate_number.xml"
)

// cascadeSHA256 pins the files of opencv-data 4.6.0+dfsg-12 (Debian 12):
// a different file would silently change what gets anonymized.
func cascadeSHA256(name string) (string, bool) {
	switch name {
	case FrontalFaceDefault:
		return "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0", true
	case FrontalFaceAlt2:
		return "7b0c967d9abbdfbde025eb9c786947d151b6426040d07a8f9562ed8fd90724b4", true
	case ProfileFace:
		return "b39a4a3be45539db146a7fc1d3e761a292c196eb88421185e6a615b3055e612d", true
	case RussianPlate:
		return "814cb5954682af570e58361f9e5f8b5b513a4112776bb9ecacef9f0e4ca6c2d7", true
	}
	return "", false
}

// LoadCascade reads one of the known cascade files from dir (DefaultDir
// when empty), checks its SHA-256 and parses it. A missing file yields an
// error that names InstallCommand.
func LoadCascade(dir, name string) (*Cascade, error) {
	if dir == "" {
		dir = DefaultDir
	}
	want, ok := cascadeSHA256(name)
	if !ok {
		return nil, fmt.Errorf("unknown cascade %q", name)
	}
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("detector file %s is missing; install it with %s (Debian package opencv-data 4.6.0+dfsg-12): %w", path, InstallCommand, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read detector file: %w", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("detector file %s has sha256 %s, want %s; reinstall it with %s", path, got, want, InstallCommand)
	}
	c, err := ParseCascade(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
