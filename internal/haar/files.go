package haar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/anonjob/anonjob/internal/detect"
)

// RussianPlate is the licence-plate cascade of OpenCV (Debian's opencv-data
// 4.6.0+dfsg-12), which the install script copies into the detector folder.
const RussianPlate = "haarcascade_russian_plate_number.xml"

// cascadeSHA256 pins the cascade files this package loads: a different file
// would silently change what gets anonymized.
func cascadeSHA256(name string) (string, bool) {
	switch name {
	case RussianPlate:
		return "814cb5954682af570e58361f9e5f8b5b513a4112776bb9ecacef9f0e4ca6c2d7", true
	}
	return "", false
}

// LoadCascade reads one of the known cascade files from dir
// (detect.DefaultDir when empty), checks its SHA-256 and parses it. A missing file yields an
// error that names InstallCommand.
func LoadCascade(dir, name string) (*Cascade, error) {
	if dir == "" {
		dir = detect.DefaultDir
	}
	want, ok := cascadeSHA256(name)
	if !ok {
		return nil, fmt.Errorf("unknown cascade %q", name)
	}
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("detector file %s is missing; install it with %s: %w", path, detect.InstallCommand, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read detector file: %w", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("detector file %s has sha256 %s, want %s; reinstall it with %s", path, got, want, detect.InstallCommand)
	}
	c, err := ParseCascade(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
