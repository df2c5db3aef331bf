#!/usr/bin/env bash
# SQS test peer: fauxqs (pinned in scripts/peers/fauxqs/package-lock.json),
# listening on 127.0.0.1 only, on a free port.
#
#   scripts/peers/sqs.sh start   install (npm ci, only when needed), start, wait until it answers,
#                                write .cache/peers/sqs.env; a running peer is reused
#   scripts/peers/sqs.sh stop    stop the peer started by start (no-op when none runs)
#   scripts/peers/sqs.sh env     print the export line; use: eval "$(scripts/peers/sqs.sh env)"
#   scripts/peers/sqs.sh status  exit 0 when the peer answers
#   scripts/peers/sqs.sh install only npm ci fauxqs (bench/soak starts its own peer with launch.mjs)
#
# Files: .cache/peers/sqs.{env,pid,port,log}. Idempotent: start twice starts one peer.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
pkg="$root/scripts/peers/fauxqs"
state="$root/.cache/peers"
envfile="$state/sqs.env"
pidfile="$state/sqs.pid"
portfile="$state/sqs.port"
logfile="$state/sqs.log"
region="${AWS_REGION:-us-east-1}"

say() { echo "sqs peer: $*" >&2; }
die() { say "$*"; exit 1; }

# answers PORT: true when an SQS ListQueues call on 127.0.0.1:PORT returns 200.
answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AmazonSQS.ListQueues' \
    -d '{}' "http://127.0.0.1:$1/" 2>/dev/null) || return 1
  [ "$code" = 200 ]
}

# ours PID: true when PID is alive and is our launcher (not a reused pid).
ours() {
  kill -0 "$1" 2>/dev/null || return 1
  [ ! -r "/proc/$1/cmdline" ] || tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'launch\.mjs'
}

running() {
  [ -s "$pidfile" ] && [ -s "$portfile" ] || return 1
  ours "$(cat "$pidfile")" || return 1
  answers "$(cat "$portfile")"
}

install() {
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed (Debian: apt-get install nodejs npm; fauxqs needs Node.js >= 20)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js $(node --version) found, fauxqs 1.9.2 needs >= 20"
  # node_modules is current when it was installed from this exact lock file.
  local want have=""
  want=$(sha256sum "$pkg/package-lock.json" | cut -d' ' -f1)
  [ -f "$pkg/node_modules/.hlsfleet-lock.sha256" ] && have=$(cat "$pkg/node_modules/.hlsfleet-lock.sha256")
  if [ "$want" != "$have" ] || [ ! -f "$pkg/node_modules/fauxqs/package.json" ]; then
    say "installing fauxqs with npm ci"
    (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error >"$state/npm.log" 2>&1) ||
      { cat "$state/npm.log" >&2; die "npm ci failed"; }
    echo "$want" >"$pkg/node_modules/.hlsfleet-lock.sha256"
  fi
}

writeenv() {
  echo "export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=$region" >"$envfile.tmp"
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
  rm -f "$portfile" "$envfile"
  (cd "$pkg" && AWS_REGION="$region" exec setsid node launch.mjs "$portfile" "${SQS_PEER_PORT:-0}" \
    </dev/null >"$logfile" 2>&1) &
  local pid=$!
  echo "$pid" >"$pidfile"
  local i
  for ((i = 0; i < 150; i++)); do # 15 s
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; rm -f "$pidfile"; die "fauxqs exited while starting (log above)"; }
    if [ -s "$portfile" ] && answers "$(cat "$portfile")"; then
      writeenv "$(cat "$portfile")"
      say "started on 127.0.0.1:$(cat "$portfile") (pid $pid); env in ${envfile#"$root/"}"
      return 0
    fi
    sleep 0.1
  done
  cat "$logfile" >&2
  stop quiet
  die "fauxqs did not answer within 15 s"
}

stop() {
  if [ -s "$pidfile" ]; then
    local pid i
    pid=$(cat "$pidfile")
    if ours "$pid"; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      [ "${1:-}" = quiet ] || say "stopped (pid $pid)"
    fi
  fi
  rm -f "$pidfile" "$portfile" "$envfile"
}

case "${1:-}" in
  start) start ;;
  install) mkdir -p "$state"; install ;;
  stop) stop ;;
  env)
    running || die "not running: start it with scripts/peers/sqs.sh start"
    cat "$envfile"
    ;;
  status)
    if running; then say "running on 127.0.0.1:$(cat "$portfile") (pid $(cat "$pidfile"))"; else say "not running"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|env|status|install" >&2; exit 2 ;;
esac
