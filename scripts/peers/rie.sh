#!/usr/bin/env bash
# aws-lambda-rie (the AWS Lambda Runtime Interface Emulator), pinned, for the
# Lambda tests, `make lambda-local` and the Lambda benchmark. Tests start
# their own emulator on a free 127.0.0.1 port; this script only installs it.
#
#   scripts/peers/rie.sh install   go install the pinned version into .cache/bin (only when missing)
#   scripts/peers/rie.sh path      print the binary's path (installing first)
#
# The emulator listens on all interfaces unless told otherwise: always pass
# --runtime-interface-emulator-address 127.0.0.1:PORT. Its default function
# timeout is 300 s (AWS_LAMBDA_FUNCTION_TIMEOUT).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
module=github.com/aws/aws-lambda-runtime-interface-emulator
version=v0.0.0-20261030222936-bef5c4ba774d
bin="$root/.cache/bin/aws-lambda-rie"
state="$root/.cache/peers"

say() { echo "rie: $*" >&2; }
die() { say "$*"; exit 1; }

installed() {
  [ -x "$bin" ] || return 1
  go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|\$)"
}

install() {
  installed && return 0
  command -v go >/dev/null || die "go is needed to install aws-lambda-rie"
  say "installing $module/cmd/aws-lambda-rie@$version (one time)"
  mkdir -p "$(dirname "$bin")" "$state"
  # Outside the module, so that its go.mod plays no part.
  (cd "$state" && GOBIN="$(dirname "$bin")" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install "$module/cmd/aws-lambda-rie@$version" >"$state/rie-install.log" 2>&1) ||
    { cat "$state/rie-install.log" >&2; die "go install failed"; }
  installed || die "installed $bin is not $module $version"
}

case "${1:-}" in
  install) install ;;
  path) install; echo "$bin" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
