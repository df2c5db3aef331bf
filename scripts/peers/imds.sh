#!/usr/bin/env bash
# IMDS test peer: amazon-ec2-metadata-mock v1.13.0 (the EC2 instance metadata
# service, with spot interruption, rebalance and ASG lifecycle scenarios).
# Tests start their own mock on 127.0.0.1 on a free port; this script only
# installs the pinned binary.
#
#   scripts/peers/imds.sh install   go install it into .cache/bin (only when the
#                                   pinned binary is missing); idempotent
#   scripts/peers/imds.sh path      print the binary's path (exit 1 when not installed)
#
# Tests find it at .cache/bin/ec2-metadata-mock, or at $HLSFLEET_IMDS_MOCK.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=v1.13.0
module=github.com/aws/amazon-ec2-metadata-mock
bin="$root/.cache/bin/ec2-metadata-mock"
state="$root/.cache/peers"

say() { echo "imds peer: $*" >&2; }
die() { say "$*"; exit 1; }

# installed: true when $bin is ec2-metadata-mock at the pinned version.
installed() {
  [ -x "$bin" ] || return 1
  go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|\$)"
}

install() {
  installed && return 0
  command -v go >/dev/null || die "go is needed to install ec2-metadata-mock"
  say "installing $module/cmd/ec2-metadata-mock@$version (one time)"
  mkdir -p "$(dirname "$bin")" "$state"
  # Outside the module, so that its go.mod plays no part.
  (cd "$state" && GOBIN="$(dirname "$bin")" GOFLAGS=-buildvcs=false \
    go install "$module/cmd/ec2-metadata-mock@$version" >"$state/imds-install.log" 2>&1) ||
    { cat "$state/imds-install.log" >&2; die "go install failed"; }
  installed || die "installed $bin is not $module $version"
  say "installed ${bin#"$root/"}"
}

case "${1:-}" in
  install) install ;;
  path)
    installed || die "not installed: run scripts/peers/imds.sh install"
    echo "$bin"
    ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
