#!/usr/bin/env bash
# The one-minute tour: generates a 10 s 720p sample with a tone, starts the
# embedded fleet (`hlsfleet local`: local queue, file storage, a worker),
# submits the sample, follows it to the published master, stops the fleet and
# says where to look.
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
rm -rf "$out/sample"
echo "demo: starting the embedded fleet: bin/hlsfleet local --data $out/fleet"
bin/hlsfleet local --data "$out/fleet" --metrics-addr "" --log-level warn &
fleet=$!
trap 'kill -TERM $fleet 2>/dev/null || true; wait $fleet 2>/dev/null || true' EXIT
echo "demo: bin/hlsfleet submit --queue local://$out/fleet/queue --wait $src $out/sample"
bin/hlsfleet submit --queue "local://$out/fleet/queue" --wait --timeout 10m "$src" "$out/sample" >/dev/null
# The poster sits in the publishing attempt's folder; job.json names it.
poster=$(sed -n 's/.*"poster": *"\([^"]*\)".*/\1/p' "$out/sample/job.json")
cat <<MSG

demo: done.
  master playlist: $out/sample/master.m3u8
  job status:      $out/sample/job.json
  poster:          $out/sample/${poster:-poster.jpg}
  watch it:        bin/hlsfleet serve $out   then open http://127.0.0.1:8080/
                   (Chromium and Safari play HLS natively)
  the fleet:       bin/hlsfleet local --data $out/fleet   (drop files into $out/fleet/inbox)
  its dashboard:   http://127.0.0.1:8080/ while it runs (jobs, progress, dead letters, players, a drop zone)
MSG
