#!/usr/bin/env bash
# Backing services without Docker: Redis, FerretDB (SQLite backend) and Centrifugo,
# on loopback, non-default ports, data under var/<profile>/.
#
#   scripts/services.sh [--profile demo|test|bench] up|down|status|env
#
# Installs what is missing (Debian's redis-server; FerretDB and Centrifugo built
# from the Go module proxy and cached under .cache/ and ~/.cache/callercard so a
# second run, even from a fresh clone, takes seconds). Waits until each service
# answers; fails loudly naming the service that does not.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=demo
if [[ "${1:-}" == "--profile" ]]; then PROFILE=$2; shift 2; fi
COMMAND=${1:-status}

case "$PROFILE" in
  demo) PORT_OFFSET=0 ;;
  test) PORT_OFFSET=1 ;;
  bench) PORT_OFFSET=2 ;;
  *) echo "services: unknown profile '$PROFILE' (demo|test|bench)" >&2; exit 2 ;;
esac
# A second checkout on the same machine (a git worktree, a CI clone) moves all its ports
# with CALLERCARD_PORT_OFFSET so its services never meet this checkout's.
PORT_OFFSET=$((PORT_OFFSET + ${CALLERCARD_PORT_OFFSET:-0}))
REDIS_PORT=$((6390 + PORT_OFFSET))
MONGO_PORT=$((27027 + PORT_OFFSET))
CENTRIFUGO_PORT=$((8010 + PORT_OFFSET))
API_PORT=$((8090 + PORT_OFFSET))
AMI_PORT=$((5038 + PORT_OFFSET))

STATE="$ROOT/var/$PROFILE"
BIN="$ROOT/.cache/bin"
MACHINE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/callercard/go-bin"
ENV_FILE="$STATE/callercard.env"

FERRETDB_VERSION=v1.24.2
CENTRIFUGO_VERSION=v6.9.1
# Used only when v6.9.1 cannot be built from the module proxy this machine reaches
# (see README, "Centrifugo version"): same client protocol and server HTTP API.
CENTRIFUGO_FALLBACK_VERSION=v5.4.9

log() { printf 'services[%s]: %s\n' "$PROFILE" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- installing -------------------------------------------------------------

apt_install() {
  local pkg=$1
  log "installing $pkg from Debian's packages"
  if ! apt-get install -y -q "$pkg" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q "$pkg" >/dev/null || die "apt-get install $pkg failed"
  fi
}

ensure_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
}

# go_build MODULE VERSION PACKAGE_IN_MODULE OUTPUT
# `go install MODULE/PKG@VERSION` first; when the proxy refuses the version list
# that go install reads for its deprecation check, build the exact same version
# from the module cache with the module's own go.mod and go.sum.
go_build() {
  local module=$1 version=$2 pkg=$3 out=$4
  command -v go >/dev/null 2>&1 || die "go is not installed; this machine kind ships it"
  local gobin buildlog
  gobin=$(mktemp -d) buildlog=$(mktemp)
  local target="$module${pkg:+/$pkg}@$version"
  log "building $target (first time only; cached afterwards)"
  if GOBIN="$gobin" GOFLAGS=-modcacherw go install -trimpath "$target" >"$buildlog" 2>&1; then
    mkdir -p "$(dirname "$out")" && mv "$gobin"/* "$out"
  else
    log "go install failed: $(grep -m1 -E '403|error|cannot' "$buildlog" || tail -n 1 "$buildlog")"
    log "retrying from the module cache"
    GOFLAGS=-modcacherw go mod download "$module@$version" >>"$buildlog" 2>&1 \
      || { cat "$buildlog" >&2; rm -rf "$gobin" "$buildlog"; return 1; }
    local dir
    dir=$(GOFLAGS=-modcacherw go mod download -json "$module@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    # Build from a writable copy: some modules generate files before building
    # (FerretDB's version.txt, normally written by its `bin/task gen-version`).
    local src
    src=$(mktemp -d)
    cp -r "$dir/." "$src" && chmod -R u+w "$src"
    [[ -d "$src/build/version" ]] && echo "$version" >"$src/build/version/version.txt"
    mkdir -p "$(dirname "$out")"
    if ! (cd "$src" && GOFLAGS=-modcacherw go build -trimpath -o "$out" "./${pkg}") >>"$buildlog" 2>&1; then
      rm -rf "$src"
      log "build of $target failed:"; grep -m 3 -E 'error|403|cannot|undefined' "$buildlog" >&2
      rm -rf "$gobin" "$buildlog"; return 1
    fi
    rm -rf "$src"
  fi
  rm -rf "$gobin" "$buildlog"
}

# cached_binary NAME VERSION MODULE PKG: path of the binary, building it once per machine.
cached_binary() {
  local name=$1 version=$2 module=$3 pkg=$4
  local machine_copy="$MACHINE_CACHE/$name-$version/$name"
  if [[ ! -x "$machine_copy" ]]; then
    go_build "$module" "$version" "$pkg" "$machine_copy" || return 1
  fi
  mkdir -p "$BIN"
  ln -sf "$machine_copy" "$BIN/$name-$version"
  echo "$BIN/$name-$version"
}

ensure_ferretdb() {
  FERRETDB_BIN=$(cached_binary ferretdb "$FERRETDB_VERSION" github.com/FerretDB/FerretDB cmd/ferretdb) \
    || die "FerretDB $FERRETDB_VERSION could not be built"
}

ensure_centrifugo() {
  local refused="$MACHINE_CACHE/centrifugo-$CENTRIFUGO_VERSION.refused"
  if [[ ! -f "$refused" ]] && CENTRIFUGO_BIN=$(cached_binary centrifugo "$CENTRIFUGO_VERSION" github.com/centrifugal/centrifugo/v6 ""); then
    CENTRIFUGO_MAJOR=6
    return
  fi
  mkdir -p "$MACHINE_CACHE" && touch "$refused"
  log "WARNING: Centrifugo $CENTRIFUGO_VERSION cannot be built here (a pinned dependency is refused by the"
  log "module proxy); using real Centrifugo $CENTRIFUGO_FALLBACK_VERSION. Delete $refused to retry v6."
  CENTRIFUGO_BIN=$(cached_binary centrifugo "$CENTRIFUGO_FALLBACK_VERSION" github.com/centrifugal/centrifugo/v5 "") \
    || die "Centrifugo could not be built (neither $CENTRIFUGO_VERSION nor $CENTRIFUGO_FALLBACK_VERSION)"
  CENTRIFUGO_MAJOR=5
}

# --- configuration ----------------------------------------------------------

random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write_env_file() {
  mkdir -p "$STATE"
  [[ -f "$ENV_FILE" ]] && return
  log "generating secrets in ${ENV_FILE#"$ROOT"/}"
  umask 077
  cat >"$ENV_FILE" <<EOF
CALLERCARD_MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT/
CALLERCARD_MONGO_DATABASE=callercard
CALLERCARD_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CALLERCARD_CENTRIFUGO_API_URL=http://127.0.0.1:$CENTRIFUGO_PORT/api
CALLERCARD_CENTRIFUGO_WEBSOCKET_URL=ws://127.0.0.1:$CENTRIFUGO_PORT/connection/websocket
CALLERCARD_CENTRIFUGO_API_KEY=$(random_secret)
CALLERCARD_CENTRIFUGO_TOKEN_SECRET=$(random_secret)
CALLERCARD_AMI_HOST=127.0.0.1
CALLERCARD_AMI_PORT=$AMI_PORT
CALLERCARD_AMI_USERNAME=callercard
CALLERCARD_AMI_SECRET=capture-secret-$(random_secret)
CALLERCARD_PBX_API_KEY=$(random_secret)
CALLERCARD_ADMIN_API_KEY=$(random_secret)
CALLERCARD_API_PORT=$API_PORT
CALLERCARD_CORS_ORIGINS=http://127.0.0.1:$API_PORT,http://localhost:$API_PORT
EOF
}

env_value() { sed -n "s/^$1=//p" "$ENV_FILE"; }

write_centrifugo_config() {
  local api_key token_secret origins
  api_key=$(env_value CALLERCARD_CENTRIFUGO_API_KEY)
  token_secret=$(env_value CALLERCARD_CENTRIFUGO_TOKEN_SECRET)
  origins="\"http://127.0.0.1:$API_PORT\", \"http://localhost:$API_PORT\""
  # agent: private channels agent:#<agent_id>, only the agent named after '#' may subscribe.
  # queues: the shared line-indicator channel every agent's page reads.
  local namespaces='[
      {"name": "agent", "allow_user_limited_channels": true, "history_size": 20,
       "history_ttl": "600s", "force_recovery": true},
      {"name": "queues", "allow_subscribe_for_client": true, "history_size": 20,
       "history_ttl": "600s", "force_recovery": true}
    ]'
  mkdir -p "$STATE/centrifugo"
  if [[ $CENTRIFUGO_MAJOR == 6 ]]; then
    cat >"$STATE/centrifugo/config.json" <<EOF
{
  "http_server": {"address": "127.0.0.1", "port": $CENTRIFUGO_PORT},
  "log": {"level": "info"},
  "client": {"token": {"hmac_secret_key": "$token_secret"}, "allowed_origins": [$origins]},
  "http_api": {"key": "$api_key"},
  "health": {"enabled": true},
  "channel": {"namespaces": $namespaces}
}
EOF
  else
    cat >"$STATE/centrifugo/config.json" <<EOF
{
  "address": "127.0.0.1", "port": $CENTRIFUGO_PORT, "log_level": "info",
  "token_hmac_secret_key": "$token_secret", "allowed_origins": [$origins],
  "api_key": "$api_key", "health": true,
  "namespaces": $namespaces
}
EOF
  fi
}

# --- running ----------------------------------------------------------------

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# A service answering on our port is reused only when this checkout started it:
# another checkout's instance has other secrets, and every test would fail obscurely.
reuse_if_ours() {
  local name=$1 port=$2 pidfile=$3
  pid_alive "$pidfile" && { log "$name already up on $port"; return 0; }
  die "port $port is taken by a $name this checkout did not start (another checkout's services?); stop it first"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_ok() { redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
ferretdb_ok() { port_open "$MONGO_PORT"; }
centrifugo_ok() { curl -fsS -m 2 "http://127.0.0.1:$CENTRIFUGO_PORT/health" >/dev/null 2>&1; }

wait_for() {
  local name=$1 check=$2 logfile=$3 deadline=$((SECONDS + 30))
  until $check; do
    if ((SECONDS > deadline)); then
      log "ERROR: $name did not answer within 30 s; last lines of ${logfile#"$ROOT"/}:"
      tail -n 15 "$logfile" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  log "$name is up"
}

start_redis() {
  redis_ok && { reuse_if_ours redis "$REDIS_PORT" "$STATE/redis/redis.pid"; return; }
  mkdir -p "$STATE/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE/redis" --save "" --appendonly no \
    --daemonize yes --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" </dev/null
  wait_for redis redis_ok "$STATE/redis/redis.log"
}

start_ferretdb() {
  ferretdb_ok && { reuse_if_ours ferretdb "$MONGO_PORT" "$STATE/ferretdb/ferretdb.pid"; return; }
  mkdir -p "$STATE/ferretdb/data"
  nohup "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$STATE/ferretdb/data/" \
    --listen-addr="127.0.0.1:$MONGO_PORT" --debug-addr=- --telemetry=disable --log-level=warn \
    --state-dir="$STATE/ferretdb" \
    >"$STATE/ferretdb/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$STATE/ferretdb/ferretdb.pid"
  wait_for ferretdb ferretdb_ok "$STATE/ferretdb/ferretdb.log"
}

start_centrifugo() {
  centrifugo_ok && { reuse_if_ours centrifugo "$CENTRIFUGO_PORT" "$STATE/centrifugo/centrifugo.pid"; return; }
  write_centrifugo_config
  nohup "$CENTRIFUGO_BIN" --config "$STATE/centrifugo/config.json" \
    >"$STATE/centrifugo/centrifugo.log" 2>&1 </dev/null &
  echo $! >"$STATE/centrifugo/centrifugo.pid"
  wait_for "centrifugo (v$CENTRIFUGO_MAJOR)" centrifugo_ok "$STATE/centrifugo/centrifugo.log"
  echo "$CENTRIFUGO_MAJOR" >"$STATE/centrifugo/major"
}

stop_pidfile() {
  local name=$1 pidfile=$2
  if pid_alive "$pidfile"; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 50); do pid_alive "$pidfile" || break; sleep 0.1; done
    pid_alive "$pidfile" && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$pidfile"
}

status_line() {
  local name=$1 check=$2
  if $check; then echo "$name: ok"; else echo "$name: fail"; return 1; fi
}

case "$COMMAND" in
  up)
    ensure_redis
    ensure_ferretdb
    ensure_centrifugo
    write_env_file
    start_redis
    start_ferretdb
    start_centrifugo
    log "all services up; environment in ${ENV_FILE#"$ROOT"/}"
    ;;
  down)
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && log "redis stopped" || true
    stop_pidfile ferretdb "$STATE/ferretdb/ferretdb.pid"
    stop_pidfile centrifugo "$STATE/centrifugo/centrifugo.pid"
    ;;
  status)
    rc=0
    status_line redis redis_ok || rc=1
    status_line ferretdb ferretdb_ok || rc=1
    status_line centrifugo centrifugo_ok || rc=1
    exit $rc
    ;;
  env)
    echo "$ENV_FILE"
    ;;
  *)
    echo "usage: scripts/services.sh [--profile demo|test|bench] up|down|status|env" >&2
    exit 2
    ;;
esac
