#!/bin/sh
# Entrypoint of the lambda container image (Dockerfile, target lambda). On
# Lambda, AWS_LAMBDA_RUNTIME_API is set and the bootstrap talks to it; in a
# local `docker run` it is not, and the bootstrap runs under the Runtime
# Interface Emulator, which serves invocations on port 8080 of the container
# (publish it on the host's loopback: -p 127.0.0.1:9000:8080).
set -e
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /usr/local/bin/aws-lambda-rie \
    --runtime-interface-emulator-address "${RIE_ADDRESS:-0.0.0.0:8080}" \
    /usr/local/bin/hlsfleet-lambda
fi
exec /usr/local/bin/hlsfleet-lambda
