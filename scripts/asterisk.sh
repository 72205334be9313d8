#!/usr/bin/env bash
# A real Asterisk for the live PBX tests and for recording captures, without Docker.
#
#   scripts/asterisk.sh [--profile test|record] up|down|status|env
#
# Takes the Asterisk build from one variable, CALLERCARD_TEST_ASTERISK: a folder holding
# asterisk-22.10.1-debian12-amd64.tar.xz, run-asterisk.sh and SHA256SUMS. Verifies the tarball's
# checksum, unpacks it once per machine into ${XDG_CACHE_HOME:-~/.cache}/callercard/, installs the
# Debian runtime packages it needs (and sip-tester, SIPp, which plays the agents' phones) when
# missing, renders the test PBX (tests/live/pbx/ plus the project's own asterisk/conf/ snippets)
# with this checkout's ports and secrets, and starts it. Ports move with CALLERCARD_PORT_OFFSET.
# The secrets and the API's port come from var/<profile>/callercard.env (scripts/services.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=test
if [[ "${1:-}" == "--profile" ]]; then PROFILE=$2; shift 2; fi
COMMAND=${1:-status}

case "$PROFILE" in
  test) PORT_OFFSET=1 ;;
  record) PORT_OFFSET=5 ;;  # recording captures (tools/record_capture.py) beside a running test suite
  *) echo "asterisk: unknown profile '$PROFILE' (test|record)" >&2; exit 2 ;;
esac
PORT_OFFSET=$((PORT_OFFSET + ${CALLERCARD_PORT_OFFSET:-0}))
AMI_PORT=$((25038 + PORT_OFFSET))
SIP_PORT=$((25060 + PORT_OFFSET))
PHONE_PORT_BASE=$((25100 + PORT_OFFSET * 10))  # phone 20N listens on PHONE_PORT_BASE + N
PHONES=(201 202 203)

VERSION=22.10.1
TARBALL=asterisk-$VERSION-debian12-amd64.tar.xz
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/callercard"
STATE="$ROOT/var/$PROFILE"
RUN="$STATE/asterisk"
ENV_FILE="$STATE/callercard.env"
PBX_ENV="$RUN/pbx.env"
# Debian 12 runtime libraries of the build (its README), and SIPp.
PACKAGES=(xz-utils libedit2 libjansson4 libsqlite3-0 libssl3 libuuid1 libxml2 libxslt1.1 libcurl4 libsrtp2-1 libpq5
          sip-tester)

log() { printf 'asterisk[%s]: %s\n' "$PROFILE" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

how_to_get_one() {
  cat >&2 <<EOF
asterisk: CALLERCARD_TEST_ASTERISK is not set. Point it at a folder holding $TARBALL,
  run-asterisk.sh and SHA256SUMS (a build of Asterisk $VERSION with PJSIP for Debian 12 amd64; CI's
  .ci/run names the project's shared build), or run the stack with docker-compose (docker-compose.yml's
  asterisk service) and point CALLERCARD_AMI_* at it.
EOF
}

source_dir() {
  [[ -n "${CALLERCARD_TEST_ASTERISK:-}" ]] || { how_to_get_one; exit 3; }
  local dir=$CALLERCARD_TEST_ASTERISK
  [[ "$dir" = /* ]] || dir="$ROOT/$dir"
  [[ -d "$dir" ]] || die "CALLERCARD_TEST_ASTERISK=$CALLERCARD_TEST_ASTERISK is not a folder"
  for file in "$TARBALL" run-asterisk.sh SHA256SUMS; do
    [[ -f "$dir/$file" ]] || die "$dir has no $file"
  done
  (cd "$dir" && pwd)
}

ensure_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} from Debian's packages"
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
}

# The unpacked tree, once per machine and per tarball checksum.
ensure_tree() {
  local src=$1 sum expected tree
  expected=$(awk -v f="$TARBALL" '$2 == f || $2 == "*" f {print $1}' "$src/SHA256SUMS")
  [[ -n "$expected" ]] || die "$src/SHA256SUMS lists no $TARBALL"
  tree="$CACHE/asterisk-$VERSION-${expected:0:12}"
  if [[ -f "$tree/.unpacked" ]]; then echo "$tree/asterisk-$VERSION-debian12-amd64"; return; fi
  sum=$(sha256sum "$src/$TARBALL" | cut -d' ' -f1)
  [[ "$sum" == "$expected" ]] || die "$src/$TARBALL has sha256 $sum, SHA256SUMS says $expected: not using it"
  log "unpacking $TARBALL into $tree (once per machine)"
  rm -rf "$tree.partial" && mkdir -p "$tree.partial"
  tar -xJf "$src/$TARBALL" -C "$tree.partial"
  rm -rf "$tree" && mv "$tree.partial" "$tree"
  touch "$tree/.unpacked"
  echo "$tree/asterisk-$VERSION-debian12-amd64"
}

env_value() { sed -n "s/^$1=//p" "$ENV_FILE"; }

# Recording needs no callercard services: the captures log in as callercard / capture-secret, as the first
# ones did, and the dialplan's lookups reach no API (CURL() fails at once, the call goes on).
write_record_env() {
  [[ "$PROFILE" == record && ! -f "$ENV_FILE" ]] || return 0
  mkdir -p "$STATE"
  printf '%s\n' CALLERCARD_AMI_USERNAME=callercard CALLERCARD_AMI_SECRET=capture-secret \
    CALLERCARD_PBX_API_KEY=capture-pbx-key "CALLERCARD_API_PORT=$((AMI_PORT + 1))" >"$ENV_FILE"
}

# The test PBX's configuration with this checkout's ports and secrets: tests/live/pbx/ and the
# project's snippets, the snippets' placeholders filled in as an admin would.
render_config() {
  local out=$1 api_port secret key phone
  write_record_env
  [[ -f "$ENV_FILE" ]] || die "no ${ENV_FILE#"$ROOT"/}: run scripts/services.sh --profile $PROFILE up first"
  api_port=$(env_value CALLERCARD_API_PORT)
  secret=$(env_value CALLERCARD_AMI_SECRET)
  key=$(env_value CALLERCARD_PBX_API_KEY)
  rm -rf "$out" && mkdir -p "$out"
  cp "$ROOT"/tests/live/pbx/*.conf "$ROOT"/asterisk/conf/*.conf "$out/"
  local -a subst=(-e "s#@SIP_PORT@#$SIP_PORT#g" -e "s#REPLACE_WITH_CALLERCARD_AMI_SECRET#$secret#g"
                  -e "s#REPLACE_WITH_CALLERCARD_PBX_API_KEY#$key#g"
                  -e "s#http://callercard.internal:8090#http://127.0.0.1:$api_port#g")
  for phone in "${PHONES[@]}"; do subst+=(-e "s#@PHONE_${phone}_PORT@#$((PHONE_PORT_BASE + phone - 200))#g"); done
  sed -i "${subst[@]}" "$out"/*.conf
  # A capture records everything the PBX says, not only what the listener asks for: no eventfilter there.
  if [[ "$PROFILE" == record ]]; then sed -i '/^eventfilter/d' "$out/manager_callercard.conf"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running() { [[ -f "$RUN/run/asterisk.pid" ]] && kill -0 "$(cat "$RUN/run/asterisk.pid")" 2>/dev/null; }

write_pbx_env() {
  {
    echo "CALLERCARD_LIVE_AMI_PORT=$AMI_PORT"
    echo "CALLERCARD_LIVE_SIP_PORT=$SIP_PORT"
    for phone in "${PHONES[@]}"; do echo "CALLERCARD_LIVE_PHONE_${phone}_PORT=$((PHONE_PORT_BASE + phone - 200))"; done
    echo "CALLERCARD_LIVE_CLI=$RUN/run/cli.sh"
    echo "CALLERCARD_LIVE_CONF=$RUN/conf"
  } >"$PBX_ENV"
}

up() {
  if running; then log "already up on AMI $AMI_PORT"; write_pbx_env; return; fi
  port_open "$AMI_PORT" && die "port $AMI_PORT is taken by an Asterisk this checkout did not start; stop it first"
  local src tree started=$SECONDS
  src=$(source_dir)
  ensure_packages
  tree=$(ensure_tree "$src")
  mkdir -p "$RUN"
  render_config "$RUN/conf"
  # The copy inside the tarball is the one its tree was built with; the folder's own is the same script.
  AMI_USER=$(env_value CALLERCARD_AMI_USERNAME) AMI_SECRET=$(env_value CALLERCARD_AMI_SECRET) \
    "$src/run-asterisk.sh" "$tree" "$RUN/conf" "$AMI_PORT" "$RUN/run" >"$RUN/start.log" 2>&1 \
    || { cat "$RUN/start.log" >&2; die "Asterisk did not start (console: ${RUN#"$ROOT"/}/run/log/console.log)"; }
  write_pbx_env
  log "Asterisk $VERSION up in $((SECONDS - started)) s: AMI 127.0.0.1:$AMI_PORT, SIP 127.0.0.1:$SIP_PORT, phones ${PHONES[*]} on $((PHONE_PORT_BASE + 1))+; environment in ${PBX_ENV#"$ROOT"/}"
}

down() {
  if [[ -x "$RUN/run/stop.sh" ]] && running; then
    "$RUN/run/stop.sh"
    log "Asterisk stopped"
  fi
}

case "$COMMAND" in
  up) up ;;
  down) down ;;
  status)
    if running && port_open "$AMI_PORT"; then echo "asterisk: ok (AMI $AMI_PORT)"; else echo "asterisk: fail"; exit 1; fi
    ;;
  env) echo "$PBX_ENV" ;;
  *) echo "usage: scripts/asterisk.sh [--profile test|record] up|down|status|env" >&2; exit 2 ;;
esac
