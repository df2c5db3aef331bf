#!/usr/bin/env bash
# S3 test peer: versitygw v1.8.0 (posix backend), listening on 127.0.0.1 only,
# on a free port, with fixed test credentials and a fresh data directory.
#
#   scripts/peers/s3.sh start   install (go install, only when the pinned binary is missing),
#                               start, wait until it answers, write .cache/peers/s3.env;
#                               a running peer is reused
#   scripts/peers/s3.sh stop    stop the peer started by start and remove its data (no-op when none runs)
#   scripts/peers/s3.sh env     print the export line; use: eval "$(scripts/peers/s3.sh env)"
#   scripts/peers/s3.sh status  exit 0 when the peer answers
#   scripts/peers/s3.sh install only install the pinned binary (bench/soak starts its own peer)
#
# Files: .cache/bin/versitygw, .cache/peers/s3.{env,pid,port,log}, data under
# .cache/peers/s3/. Idempotent: start twice starts one peer.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=v1.8.0
module=github.com/versity/versitygw
bin="$root/.cache/bin/versitygw"
state="$root/.cache/peers"
envfile="$state/s3.env"
pidfile="$state/s3.pid"
portfile="$state/s3.port"
logfile="$state/s3.log"
datadir="$state/s3"
access=hlsfleet-test
secret=hlsfleet-test-secret
region=us-east-1

say() { echo "s3 peer: $*" >&2; }
die() { say "$*"; exit 1; }

# answers PORT: true when an HTTP server answers on 127.0.0.1:PORT (an
# unsigned request gets 403 from versitygw; any HTTP status will do).
answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null) || true
  [ -n "$code" ] && [ "$code" != 000 ]
}

running() {
  [ -s "$pidfile" ] && [ -s "$portfile" ] || return 1
  kill -0 "$(cat "$pidfile")" 2>/dev/null || return 1
  answers "$(cat "$portfile")"
}

# installed: true when $bin is versitygw at the pinned version.
installed() {
  [ -x "$bin" ] || return 1
  go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|\$)"
}

install() {
  command -v go >/dev/null || die "go is needed to install versitygw"
  command -v curl >/dev/null || die "curl is needed (Debian: apt-get install curl)"
  installed && return 0
  say "installing $module/cmd/versitygw@$version (one time, a few minutes)"
  mkdir -p "$(dirname "$bin")"
  # Outside the module, so that its go.mod plays no part.
  (cd "$state" && GOBIN="$(dirname "$bin")" GOFLAGS=-buildvcs=false \
    go install "$module/cmd/versitygw@$version" >"$state/s3-install.log" 2>&1) ||
    { cat "$state/s3-install.log" >&2; die "go install failed"; }
  installed || die "installed $bin is not $module $version"
}

# freeport prints a TCP port on 127.0.0.1 that nothing listens on now.
freeport() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

writeenv() {
  echo "export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$1 AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=$region HLSFLEET_S3_PATH_STYLE=true" >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

start() {
  mkdir -p "$state"
  if running; then
    writeenv "$(cat "$portfile")"
    say "already running on 127.0.0.1:$(cat "$portfile") (pid $(cat "$pidfile"))"
    return 0
  fi
  stop quiet
  install
  local attempt port pid dir i
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=$(freeport)
    mkdir -p "$datadir"
    dir=$(mktemp -d "$datadir/data.XXXXXX")
    # Object metadata (ETag, checksums) lives in extended attributes of the
    # object's own file, published with it in one rename: versitygw's
    # --sidecar mode keeps it in separate files, and then a GET racing a PUT
    # can return one version's checksum with another version's bytes.
    # versitygw checks at startup that the filesystem has user xattrs.
    (exec setsid "$bin" --port "127.0.0.1:$port" --access "$access" --secret "$secret" \
      --region "$region" --quiet posix "$dir" \
      </dev/null >"$logfile" 2>&1) &
    pid=$!
    echo "$pid" >"$pidfile"
    echo "$port" >"$portfile"
    for ((i = 0; i < 150; i++)); do # 15 s
      kill -0 "$pid" 2>/dev/null || break
      if answers "$port"; then
        writeenv "$port"
        say "started on 127.0.0.1:$port (pid $pid); env in ${envfile#"$root/"}"
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      cat "$logfile" >&2
      stop quiet
      die "versitygw did not answer within 15 s"
    fi
    # It exited: most likely the port was taken meanwhile. Try another.
    say "versitygw exited while starting on port $port; log:"
    cat "$logfile" >&2
    rm -rf "$dir"
    rm -f "$pidfile" "$portfile"
  done
  die "versitygw would not start (log above)"
}

stop() {
  if [ -s "$pidfile" ]; then
    local pid i
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      [ "${1:-}" = quiet ] || say "stopped (pid $pid)"
    fi
  fi
  rm -f "$pidfile" "$portfile" "$envfile"
  rm -rf "$datadir"
}

case "${1:-}" in
  start) start ;;
  install) mkdir -p "$state"; install ;;
  stop) stop ;;
  env)
    running || die "not running: start it with scripts/peers/s3.sh start"
    cat "$envfile"
    ;;
  status)
    if running; then say "running on 127.0.0.1:$(cat "$portfile") (pid $(cat "$pidfile"))"; else say "not running"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|env|status|install" >&2; exit 2 ;;
esac
