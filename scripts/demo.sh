#!/usr/bin/env bash
# Generates a 10 s 720p sample with a tone, transcodes it with the default
# ladder and says where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_DIR:-demo-out}
mkdir -p "$out"
src="$out/sample.mp4"
if [ ! -s "$src" ]; then
  echo "demo: generating $src (10 s, 1280x720, 30 fps, 440 Hz tone)"
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=10" \
    -f lavfi -i "sine=frequency=440:duration=10" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 128k -shortest "$src"
fi
echo "demo: bin/hlsfleet transcode $src $out/sample"
bin/hlsfleet transcode --log-level warn "$src" "$out/sample"
cat <<MSG

demo: done.
  master playlist: $out/sample/master.m3u8
  poster:          $out/sample/poster.jpg
  watch it:        bin/hlsfleet serve $out   then open http://127.0.0.1:8080/
                   (Chromium and Safari play HLS natively)
MSG
