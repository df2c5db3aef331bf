# hlsfleet container images. Debian 12 (bookworm) throughout, so FFmpeg is
# 5.1 (libavcodec 59), the ABI go-astiav v0.16.0 binds to.
#
#   docker build --target worker     -t hlsfleet-worker .
#   docker build --target worker-gpu -t hlsfleet-worker-gpu .
#   docker build --target lambda     -t hlsfleet-lambda .
#
# The lambda image is a Lambda container image: its entrypoint runs the
# bootstrap under the AWS Lambda Runtime Interface Emulator when
# AWS_LAMBDA_RUNTIME_API is unset (a local `docker run`), and the bare
# bootstrap on Lambda. Locally:
#   docker run --rm -p 127.0.0.1:9000:8080 -e HLSFLEET_QUEUE_URL=... hlsfleet-lambda
#   curl -XPOST http://127.0.0.1:9000/2015-03-31/functions/function/invocations -d @event.json
# internal/dockerfile checks the targets, bases, users and copied
# binaries of this file.

ARG GO_VERSION=1.26.8
# Keep in step with scripts/peers/rie.sh (the test checks it).
ARG RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d

# ---- build: Go + FFmpeg 5.1 headers --------------------------------------
FROM golang:${GO_VERSION}-bookworm AS build
ARG RIE_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config gcc libc6-dev \
      libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev \
      libswscale-dev libswresample-dev libavdevice-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -o /out/hlsfleet ./cmd/hlsfleet \
 && go build -trimpath -o /out/hlsfleet-lambda ./cmd/hlsfleet-lambda
# The emulator for local runs of the lambda image, pinned, from the Go proxy.
RUN CGO_ENABLED=0 GOBIN=/out go install \
      github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@${RIE_VERSION}

# ---- runtime: only the shared libraries the binaries link ----------------
FROM debian:12-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libavcodec59 libavformat59 libavfilter8 libavutil57 \
      libswscale6 libswresample4 libavdevice59 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hlsfleet \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/hlsfleet --create-home hlsfleet

# ---- lambda: the bootstrap, hlsfleet (inline jobs run `hlsfleet job-exec`) and the emulator
FROM runtime AS lambda
COPY --from=build /out/hlsfleet-lambda /out/hlsfleet /out/aws-lambda-rie /usr/local/bin/
COPY scripts/lambda-entrypoint.sh /usr/local/bin/lambda-entrypoint
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/lambda-entrypoint"]

# ---- worker-gpu: the worker with NVIDIA's decoders/encoders (the NVIDIA
# container toolkit mounts the driver's libraries for these capabilities)
FROM runtime AS worker-gpu
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=video,compute,utility
COPY --from=build /out/hlsfleet /usr/local/bin/hlsfleet
USER 10001:10001
WORKDIR /var/lib/hlsfleet
ENTRYPOINT ["/usr/local/bin/hlsfleet"]
CMD ["worker"]

# ---- worker (the default target): the CPU fleet's worker -----------------
FROM runtime AS worker
COPY --from=build /out/hlsfleet /usr/local/bin/hlsfleet
USER 10001:10001
WORKDIR /var/lib/hlsfleet
ENTRYPOINT ["/usr/local/bin/hlsfleet"]
CMD ["worker"]
