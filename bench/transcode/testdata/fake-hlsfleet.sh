#!/bin/sh
# A stand-in for `hlsfleet transcode [--no-storyboard] [--no-quality] --ladder
# FILE INPUT OUTPUT`, used to test
# the benchmark harness while the real binary does not exist: it writes a
# one-rendition HLS presentation (360p) with a master playlist via ffmpeg.
set -eu
[ "$1" = transcode ] || { echo "hlsfleet: usage: transcode [--no-storyboard] [--no-quality] --ladder FILE INPUT OUTPUT" >&2; exit 1; }
shift
while [ "$1" = --no-storyboard ] || [ "$1" = --no-quality ]; do shift; done
[ "$1" = --ladder ] || { echo "hlsfleet: usage: transcode [--no-storyboard] [--no-quality] --ladder FILE INPUT OUTPUT" >&2; exit 1; }
in=$3 out=$4
mkdir -p "$out"
exec ffmpeg -nostdin -hide_banner -loglevel error -y -i "$in" \
  -map 0:v:0 -map 0:a:0 -vf scale=-2:360 -c:v libx264 -preset veryfast -g 60 -keyint_min 60 -sc_threshold 0 \
  -b:v 700000 -c:a aac -b:a 128000 -ac 2 \
  -f hls -hls_time 4 -hls_playlist_type vod -master_pl_name master.m3u8 \
  -var_stream_map v:0,a:0 \
  -hls_segment_filename "$out/360p_%v/segment_%05d.ts" "$out/360p_%v/index.m3u8"
