#!/usr/bin/env bash
#  Install every Debian package docusnap needs to build, run and test.
#  Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git
    libzmq3-dev libczmq-dev libmsgpack-dev
    libcurl4-openssl-dev libsqlite3-dev libmicrohttpd-dev libjansson-dev
    libtesseract-dev libleptonica-dev tesseract-ocr tesseract-ocr-eng
    imagemagick fonts-dejavu-core
    python3 python3-msgpack python3-zmq sqlite3 curl valgrind clang clang-format
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
