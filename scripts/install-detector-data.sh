#!/bin/sh
# Installs the OpenCV Haar cascade files used by anonjob's built-in engine
# (internal/detect) and verifies them. Needs root (or sudo) on Debian 12.
#
# The version is pinned because detection results depend on the exact
# cascade files; the Go code checks the same SHA-256 sums at load time.
set -eu

PACKAGE=opencv-data
VERSION=4.6.0+dfsg-12
DIR=/usr/share/opencv4/haarcascades

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

if [ "$(dpkg-query -W -f='${Version}' "$PACKAGE" 2>/dev/null || true)" != "$VERSION" ]; then
	$SUDO apt-get update
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$PACKAGE=$VERSION"
fi

cd "$DIR"
sha256sum -c - <<'SUMS'
0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0  haarcascade_frontalface_default.xml
7b0c967d9abbdfbde025eb9c786947d151b6426040d07a8f9562ed8fd90724b4  haarcascade_frontalface_alt2.xml
b39a4a3be45539db146a7fc1d3e761a292c196eb88421185e6a615b3055e612d  haarcascade_profileface.xml
814cb5954682af570e58361f9e5f8b5b513a4112776bb9ecacef9f0e4ca6c2d7  haarcascade_russian_plate_number.xml
SUMS
echo "detector data installed: $PACKAGE $VERSION in $DIR"
