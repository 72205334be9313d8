#!/usr/bin/env bash
# Backing services without Docker: Redis, a MongoDB-compatible store and Centrifugo,
# on loopback, non-default ports, data under var/<profile>/.
#
#   scripts/services.sh [--profile demo|test|bench|fresh|test-ferretdb2] [--store sqlite|ferretdb2]
#                       up|down|status|env|store
#
# The store (--store, else $CALLERCARD_STORE, else sqlite): sqlite is FerretDB v1.24.2 on SQLite, built here;
# ferretdb2 is FerretDB v2.5 on PostgreSQL 15 with DocumentDB, which uses its indexes, prebuilt in the folder
# $CALLERCARD_FERRETDB2_DIR names (scripts/lib/ferretdb2.sh).
#
# Installs what is missing: Debian's redis-server; FerretDB and Centrifugo built from the
# Go module proxy once per machine into ~/.cache/callercard/go-bin (XDG_CACHE_HOME), each
# started once (--version) before it is cached, so a broken build never lands there, and
# checked again at every `up`. Waits until each service answers; fails loudly naming the
# service (or binary) that does not, and what to do about it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=demo
STORE=${CALLERCARD_STORE:-sqlite}
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --profile) PROFILE=${2:?--profile needs a value}; shift 2 ;;
    --store) STORE=${2:?--store needs a value}; shift 2 ;;
    *) echo "services: unknown option '$1'" >&2; exit 2 ;;
  esac
done
COMMAND=${1:-status}
case "$STORE" in
  sqlite|ferretdb2) ;;
  *) echo "services: unknown store '$STORE' (sqlite|ferretdb2; from --store or CALLERCARD_STORE)" >&2; exit 2 ;;
esac

case "$PROFILE" in
  demo) PORT_OFFSET=0 ;;
  test) PORT_OFFSET=1 ;;
  bench) PORT_OFFSET=2 ;;
  fresh) PORT_OFFSET=3 ;;  # the test suite's check of the install path a new machine takes
  test-ferretdb2) PORT_OFFSET=4 ;;  # the tests that run on the ferretdb2 store too (tests/support/stores.py)
  *) echo "services: unknown profile '$PROFILE' (demo|test|bench|fresh|test-ferretdb2)" >&2; exit 2 ;;
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
MACHINE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/callercard"
BINARY_CACHE="$MACHINE_CACHE/go-bin"
ENV_FILE="$STATE/callercard.env"
# The one Centrifugo configuration: the file production mounts (docker-compose), here with the
# addresses and secrets from the environment, as there.
CENTRIFUGO_CONFIG="$ROOT/deploy/centrifugo/config.json"

FERRETDB_VERSION=v1.24.2
CENTRIFUGO_VERSION=v6.9.1

log() { printf 'services[%s]: %s\n' "$PROFILE" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# shellcheck source=scripts/lib/postgres_reach.sh
source "$ROOT/scripts/lib/postgres_reach.sh"
# shellcheck source=scripts/lib/ferretdb2.sh
source "$ROOT/scripts/lib/ferretdb2.sh"

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

# Each binary's build recipe writes it to $1 from its exact module version; each reports its version
# the way its own release build does, so `reports_version` can tell a good build from a broken one.

# FerretDB embeds build/version/version.txt (its `bin/task gen-version` writes it; the module zip lacks
# it, and a binary built without it panics at start): always build from a writable copy of the module
# source with that file written.
build_ferretdb() {
  local out=$1 dir src
  dir=$(GOFLAGS=-modcacherw go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
        | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p') || return 1
  [[ -n "$dir" && -d "$dir/build/version" ]] || { echo "no module source for FerretDB $FERRETDB_VERSION"; return 1; }
  src=$(mktemp -d)
  cp -r "$dir/." "$src" && chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  (cd "$src" && GOFLAGS=-modcacherw go build -trimpath -o "$out" ./cmd/ferretdb)
  local rc=$?
  rm -rf "$src"
  return $rc
}

# Centrifugo's release build sets its version with -ldflags (goreleaser); `go install` alone reports 0.0.0.
build_centrifugo() {
  local out=$1 gobin rc
  gobin=$(mktemp -d)
  GOBIN="$gobin" GOFLAGS=-modcacherw go install -trimpath \
    -ldflags "-s -w -X github.com/centrifugal/centrifugo/v6/internal/build.Version=${CENTRIFUGO_VERSION#v}" \
    "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"
  rc=$?
  [[ $rc -eq 0 ]] && mv "$gobin/centrifugo" "$out"
  rm -rf "$gobin"
  return $rc
}

# reports_version NAME BINARY VERSION: the binary starts and says it is VERSION (prints what it said).
reports_version() {
  local name=$1 binary=$2 version=$3 said
  case "$name" in
    ferretdb) said=$(timeout 10 "$binary" --version 2>&1) ;;
    centrifugo) said=$(timeout 10 "$binary" version 2>&1) ;;
  esac
  local rc=$?
  printf '%s' "$said" | head -c 400
  [[ $rc -eq 0 ]] && grep -q -- "${version#v}" <<<"$said"
}

# cached_binary NAME VERSION: the path of a binary that starts and reports VERSION, built once per machine.
cached_binary() {
  local name=$1 version=$2
  local cached="$BINARY_CACHE/$name-$version/$name"
  if [[ -x "$cached" ]]; then
    reports_version "$name" "$cached" "$version" >/dev/null && { echo "$cached"; return 0; }
    log "the cached $name at $cached does not start as $version; rebuilding it"
  fi
  command -v go >/dev/null 2>&1 || die "go is not installed (this machine kind ships it): needed to build $name $version"
  local work buildlog said started=$SECONDS
  work=$(mktemp -d) buildlog="$STATE/build-$name.log"
  mkdir -p "$STATE"
  log "building $name $version from the Go module proxy (first run on this machine only; log: ${buildlog#"$ROOT"/})"
  if ! "build_$name" "$work/$name" >"$buildlog" 2>&1; then
    rm -rf "$work"
    grep -m 5 -E 'error|denied|403|404|cannot|undefined|no module' "$buildlog" >&2 || tail -n 5 "$buildlog" >&2
    die "building $name $version failed (full log: $buildlog). Fix: check that the Go module proxy answers ('go env GOPROXY'), then rerun; 'go clean -modcache' if the module cache is damaged"
  fi
  # Started once before it is cached: a binary that panics at start (as FerretDB without its
  # version file does) or reports another version never lands in the cache.
  if ! said=$(reports_version "$name" "$work/$name" "$version"); then
    rm -rf "$work"
    die "the freshly built $name does not start as $version; it said: ${said:-nothing}. Not cached. Fix: this script's build_$name recipe must match $name $version's own release build"
  fi
  mkdir -p "$(dirname "$cached")"
  mv "$work/$name" "$cached.partial" && mv "$cached.partial" "$cached"
  rm -rf "$work"
  log "$name $version built in $((SECONDS - started)) s and cached at $cached"
  echo "$cached"
}

ensure_ferretdb() { FERRETDB_BIN=$(cached_binary ferretdb "$FERRETDB_VERSION") || exit 1; }
ensure_centrifugo() { CENTRIFUGO_BIN=$(cached_binary centrifugo "$CENTRIFUGO_VERSION") || exit 1; }

# --- configuration ----------------------------------------------------------

random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# The secrets are generated once and kept; the addresses are written on every `up`, so the file always names
# the ports this run uses (a checkout moved to another CALLERCARD_PORT_OFFSET must not keep the old ones).
kept_secret() {
  local value=""
  [[ -f "$ENV_FILE" ]] && value=$(sed -n "s/^$1=//p" "$ENV_FILE")
  echo "${value:-${2:-}$(random_secret)}"
}

write_env_file() {
  mkdir -p "$STATE"
  [[ -f "$ENV_FILE" ]] || log "generating secrets in ${ENV_FILE#"$ROOT"/}"
  local centrifugo_api_key centrifugo_token_secret ami_secret pbx_api_key admin_api_key
  centrifugo_api_key=$(kept_secret CALLERCARD_CENTRIFUGO_API_KEY)
  centrifugo_token_secret=$(kept_secret CALLERCARD_CENTRIFUGO_TOKEN_SECRET)
  ami_secret=$(kept_secret CALLERCARD_AMI_SECRET capture-secret-)
  pbx_api_key=$(kept_secret CALLERCARD_PBX_API_KEY)
  admin_api_key=$(kept_secret CALLERCARD_ADMIN_API_KEY)
  umask 077
  cat >"$ENV_FILE.new" <<EOF
CALLERCARD_MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT/
CALLERCARD_MONGO_DATABASE=callercard
CALLERCARD_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CALLERCARD_CENTRIFUGO_API_URL=http://127.0.0.1:$CENTRIFUGO_PORT/api
CALLERCARD_CENTRIFUGO_WEBSOCKET_URL=ws://127.0.0.1:$CENTRIFUGO_PORT/connection/websocket
CALLERCARD_CENTRIFUGO_API_KEY=$centrifugo_api_key
CALLERCARD_CENTRIFUGO_TOKEN_SECRET=$centrifugo_token_secret
CALLERCARD_AMI_HOST=127.0.0.1
CALLERCARD_AMI_PORT=$AMI_PORT
CALLERCARD_AMI_USERNAME=callercard
CALLERCARD_AMI_SECRET=$ami_secret
CALLERCARD_PBX_API_KEY=$pbx_api_key
CALLERCARD_ADMIN_API_KEY=$admin_api_key
CALLERCARD_API_PORT=$API_PORT
CALLERCARD_CORS_ORIGINS=http://127.0.0.1:$API_PORT,http://localhost:$API_PORT
EOF
  mv "$ENV_FILE.new" "$ENV_FILE"
}

env_value() { sed -n "s/^$1=//p" "$ENV_FILE"; }

# Centrifugo reads every option from CENTRIFUGO_<PATH> too (http_api.key -> CENTRIFUGO_HTTP_API_KEY; lists
# space-separated): what differs per environment comes from here, the rest from $CENTRIFUGO_CONFIG.
centrifugo_env() {
  echo "CENTRIFUGO_HTTP_SERVER_ADDRESS=127.0.0.1"
  echo "CENTRIFUGO_HTTP_SERVER_PORT=$CENTRIFUGO_PORT"
  echo "CENTRIFUGO_HTTP_API_KEY=$(env_value CALLERCARD_CENTRIFUGO_API_KEY)"
  echo "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY=$(env_value CALLERCARD_CENTRIFUGO_TOKEN_SECRET)"
  echo "CENTRIFUGO_CLIENT_ALLOWED_ORIGINS=http://127.0.0.1:$API_PORT http://localhost:$API_PORT"
  # The Redis engine (config.json): this profile's Redis unless CENTRIFUGO_ENGINE_REDIS_ADDRESS names another.
  echo "CENTRIFUGO_ENGINE_REDIS_ADDRESS=${CENTRIFUGO_ENGINE_REDIS_ADDRESS:-redis://127.0.0.1:$REDIS_PORT/0}"
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

# A profile's services keep their data and environment file under var/<profile>/, whatever the port offset:
# starting the profile again with another CALLERCARD_PORT_OFFSET while it runs would put a second FerretDB on
# the same SQLite files and rewrite the environment file under the running tests.
refuse_second_offset() {
  local name port pidfile
  for name in redis:$REDIS_PORT:$STATE/redis/redis.pid ferretdb:$MONGO_PORT:$STATE/ferretdb/ferretdb.pid \
      ferretdb2:$MONGO_PORT:$FERRETDB2_STATE/ferretdb.pid centrifugo:$CENTRIFUGO_PORT:$STATE/centrifugo/centrifugo.pid; do
    IFS=: read -r name port pidfile <<<"$name"
    if pid_alive "$pidfile" && ! port_open "$port"; then
      die "profile $PROFILE of this checkout already runs ($name, pid $(cat "$pidfile")) on other ports than" \
        "$port: another CALLERCARD_PORT_OFFSET? Stop it with that offset first (scripts/services.sh --profile" \
        "$PROFILE down), or use another checkout"
    fi
  done
}

redis_ok() { redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
ferretdb_ok() { mongo_answers "$MONGO_PORT"; }
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
  port_open "$MONGO_PORT" && { reuse_if_ours ferretdb "$MONGO_PORT" "$STATE/ferretdb/ferretdb.pid"; return; }
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
  mkdir -p "$STATE/centrifugo"
  local -a env_vars
  mapfile -t env_vars < <(centrifugo_env)
  env "${env_vars[@]}" nohup "$CENTRIFUGO_BIN" --config "$CENTRIFUGO_CONFIG" \
    >"$STATE/centrifugo/centrifugo.log" 2>&1 </dev/null &
  echo $! >"$STATE/centrifugo/centrifugo.pid"
  wait_for "centrifugo $CENTRIFUGO_VERSION" centrifugo_ok "$STATE/centrifugo/centrifugo.log"
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

# The store this profile runs (started by this checkout), or nothing.
running_store() {
  if pid_alive "$STATE/ferretdb/ferretdb.pid"; then echo sqlite
  elif pid_alive "$FERRETDB2_STATE/ferretdb.pid"; then echo ferretdb2
  fi
}

case "$COMMAND" in
  up)
    running=$(running_store)
    [[ -z "$running" || "$running" == "$STORE" ]] || die "profile $PROFILE runs the $running store on port" \
      "$MONGO_PORT; to start $STORE instead, stop it first: scripts/services.sh --profile $PROFILE down"
    refuse_second_offset
    ensure_redis
    if [[ "$STORE" == ferretdb2 ]]; then ensure_ferretdb2; else ensure_ferretdb; fi
    ensure_centrifugo
    write_env_file
    start_redis
    if [[ "$STORE" == ferretdb2 ]]; then start_ferretdb2; else start_ferretdb; fi
    start_centrifugo
    log "all services up (store: $STORE); environment in ${ENV_FILE#"$ROOT"/}"
    ;;
  down)
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && log "redis stopped" || true
    stop_pidfile ferretdb "$STATE/ferretdb/ferretdb.pid"
    stop_ferretdb2
    stop_pidfile centrifugo "$STATE/centrifugo/centrifugo.pid"
    ;;
  status)
    rc=0
    shown=$(running_store)  # the store that runs, else the one asked for
    status_line redis redis_ok || rc=1
    if [[ "${shown:-$STORE}" == ferretdb2 ]]; then
      status_line "ferretdb2 (store ferretdb2: FerretDB v2.5 + DocumentDB)" ferretdb2_ok || rc=1
    else
      status_line "ferretdb (store sqlite: FerretDB $FERRETDB_VERSION)" ferretdb_ok || rc=1
    fi
    status_line centrifugo centrifugo_ok || rc=1
    exit $rc
    ;;
  env)
    echo "$ENV_FILE"
    ;;
  store)  # the store this profile runs, if it runs one
    running_store
    ;;
  *)
    echo "usage: scripts/services.sh [--profile demo|test|bench|fresh|test-ferretdb2] [--store sqlite|ferretdb2] up|down|status|env|store" >&2
    exit 2
    ;;
esac
