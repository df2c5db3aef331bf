#!/usr/bin/env bash
# Installs what hlsfleet needs to build and test, only what is missing.
# Idempotent: a second run installs nothing. Pinned: Debian 12's FFmpeg 5.1
# (libavcodec 59, the ABI go-astiav v0.16.0 is written for) and the Go
# modules in go.sum.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(pkg-config gcc curl libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev
      libswscale-dev libswresample-dev libavdevice-dev ffmpeg
      chromium) # chromium: the dashboard's browser tests (driven by playwright-core)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# FFmpeg must be 5.1 (libavcodec 59.x): later releases change the ABI that
# go-astiav v0.16.0 binds to.
avc=$(pkg-config --modversion libavcodec)
case "$avc" in
  59.*) ;;
  *) echo "setup: libavcodec $avc found, but hlsfleet needs FFmpeg 5.1 (libavcodec 59.x, Debian 12)" >&2; exit 1 ;;
esac

command -v go >/dev/null || { echo "setup: Go 1.26 is required (https://go.dev/dl/)" >&2; exit 1; }
# The SQS test peer (fauxqs, npm) needs Node.js 20 or later.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing Debian's nodejs and npm for the SQS test peer"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
go mod download

# The dashboard's JavaScript from npm, pinned by dashboard/web/package-lock.json:
# hls.js is embedded in the binary (copied into dashboard/static/vendor, which
# git ignores), playwright-core drives Debian's chromium in the browser tests.
web=dashboard/web
if ! cmp -s "$web/package-lock.json" "$web/node_modules/.hlsfleet-lock" 2>/dev/null; then
  echo "setup: npm ci in $web"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$web/package-lock.json" "$web/node_modules/.hlsfleet-lock"
fi
cmp -s "$web/node_modules/hls.js/dist/hls.min.js" dashboard/static/vendor/hls.min.js 2>/dev/null ||
  cp "$web/node_modules/hls.js/dist/hls.min.js" dashboard/static/vendor/hls.min.js
echo "setup: ok (FFmpeg libavcodec $avc, $(go version | cut -d' ' -f3))"
