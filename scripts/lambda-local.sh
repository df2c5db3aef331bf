#!/usr/bin/env bash
# make lambda-local: the Lambda bootstrap under aws-lambda-rie on 127.0.0.1,
# with the S3 (versitygw) and SQS (fauxqs) peers, a bucket and a queue, and
# a generated sample clip uploaded; prints the curl command that invokes it
# with an S3 event for the sample (lambda/testdata/s3-event.json). Ctrl-C
# stops the emulator and the peers.
#
#   LAMBDA_PORT   the invoke port (default 9000)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${LAMBDA_PORT:-9000}
state="$root/.cache/lambda-local"
mkdir -p "$state"
[ -x bin/hlsfleet-lambda ] && [ -x bin/hlsfleet ] || { echo "lambda-local: run make build first" >&2; exit 1; }
rie=$(scripts/peers/rie.sh path)

scripts/peers/s3.sh start
scripts/peers/sqs.sh start
trap 'scripts/peers/sqs.sh stop || true; scripts/peers/s3.sh stop || true' EXIT
eval "$(scripts/peers/sqs.sh env)"
eval "$(scripts/peers/s3.sh env)"

bucket=hlsfleet-local
s3="$AWS_ENDPOINT_URL_S3"
sigv4=(--aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
s3put() { curl -sf -X PUT "${sigv4[@]}" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" >/dev/null; }
s3put "$s3/$bucket" || true # exists already: fine
sqs() { # sqs ACTION JSON
  curl -sf -X POST -H 'Content-Type: application/x-amz-json-1.0' -H "X-Amz-Target: AmazonSQS.$1" \
    "${sigv4[@]/:s3/:sqs}" --data "$2" "$AWS_ENDPOINT_URL_SQS/"
}
queue=$(sqs CreateQueue '{"QueueName":"hlsfleet-local"}' | sed -n 's/.*"QueueUrl":"\([^"]*\)".*/\1/p')
[ -n "$queue" ] || { echo "lambda-local: creating the queue failed" >&2; exit 1; }

clip="$state/sample.mp4"
if [ ! -s "$clip" ]; then
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=640x360:rate=30:duration=10" \
    -f lavfi -i "sine=frequency=440:duration=10" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$clip"
fi
key=uploads/sample.mp4
s3put --data-binary @"$clip" "$s3/$bucket/$key" || { echo "lambda-local: uploading the sample failed" >&2; exit 1; }
size=$(stat -c %s "$clip")
etag=$(md5sum "$clip" | cut -d' ' -f1)
sed -e "s|BUCKET|$bucket|g" -e "s|KEY|$key|" -e "s|SIZE|$size|" -e "s|ETAG|$etag|" \
  lambda/testdata/s3-event.json >"$state/event.json"

api=$((port + 1))
cat <<MSG

lambda-local: bootstrap bin/hlsfleet-lambda under aws-lambda-rie on 127.0.0.1:$port
  queue (long uploads): $queue
  output:               s3://$bucket/hls/<key stem>/
  invoke with the sample's S3 event (a 10 s clip, transcoded inline):
    curl -s -XPOST http://127.0.0.1:$port/2015-03-31/functions/function/invocations -d @$state/event.json
  then look at:         curl -s ${sigv4[*]} -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' $s3/$bucket/hls/uploads/sample/job.json
  Ctrl-C stops the emulator and the peers.

MSG
env HLSFLEET_QUEUE_URL="$queue" HLSFLEET_OUTPUT_URL="s3://$bucket/hls" AWS_LAMBDA_FUNCTION_NAME=hlsfleet-local \
  "$rie" --runtime-interface-emulator-address "127.0.0.1:$port" --runtime-api-address "127.0.0.1:$api" \
  "$root/bin/hlsfleet-lambda"
