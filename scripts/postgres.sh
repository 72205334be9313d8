#!/usr/bin/env bash
# A PostgreSQL 15 cluster of this checkout's own (Debian's postgresql-15), on loopback: the database a test or a
# benchmark plays "the CRM's database" with, for the sql lookup source. Data under var/<profile>/postgres.
#
#   scripts/postgres.sh [--profile test|bench|demo] up|down|status|url
#
# Port 5440 + the profile's offset (demo 0, test 1, bench 2) + CALLERCARD_PORT_OFFSET, like every other port of
# the services script. `up` installs postgresql-15 when missing (apt), creates the cluster on first use (its
# superuser's password generated into var/<profile>/postgres.password), starts it and waits until it answers;
# `url` prints the superuser's SQLAlchemy URL (postgresql+asyncpg://...). As root, the server runs as the
# `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=demo
if [[ "${1:-}" == "--profile" ]]; then PROFILE=$2; shift 2; fi
COMMAND=${1:-status}

case "$PROFILE" in
  demo) OFFSET=0 ;;
  test) OFFSET=1 ;;
  bench) OFFSET=2 ;;
  *) echo "postgres: unknown profile '$PROFILE' (demo|test|bench)" >&2; exit 2 ;;
esac
PORT=$((5440 + OFFSET + ${CALLERCARD_PORT_OFFSET:-0}))
STATE="$ROOT/var/$PROFILE"
DATA="$STATE/postgres"
PASSWORD_FILE="$STATE/postgres.password"
LOG="$STATE/postgres.log"
BIN=/usr/lib/postgresql/15/bin

log() { printf 'postgres[%s]: %s\n' "$PROFILE" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=scripts/lib/postgres_reach.sh
source "$ROOT/scripts/lib/postgres_reach.sh"

# PostgreSQL refuses to run as root: then the cluster belongs to the postgres user.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_installed() {
  [[ -x "$BIN/postgres" ]] && return
  [[ $(id -u) -eq 0 ]] || die "postgresql-15 is not installed; run: sudo apt-get install -y postgresql-15"
  log "installing postgresql-15 from Debian's packages"
  apt-get install -y -q postgresql-15 >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 || true;
    apt-get install -y -q postgresql-15 >/dev/null || die "apt-get install postgresql-15 failed"; }
}

running() { as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

create_cluster() {
  log "creating a cluster in ${DATA#"$ROOT"/}"
  mkdir -p "$STATE"
  require_postgres_reach "$STATE"
  [[ -f "$PASSWORD_FILE" ]] || (umask 077; head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$PASSWORD_FILE")
  mkdir -p "$DATA"
  local pwfile
  pwfile=$(mktemp)
  cp "$PASSWORD_FILE" "$pwfile"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$DATA" "$pwfile"; fi
  chmod 700 "$DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$LOG" 2>&1 || { rm -f "$pwfile"; die "initdb failed (see $LOG)"; }
  rm -f "$pwfile"
}

up() {
  ensure_installed
  [[ -f "$DATA/PG_VERSION" ]] || create_cluster
  if ! running; then
    [[ $(id -u) -eq 0 ]] && touch "$LOG" && chown postgres: "$LOG"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 start \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DATA -c fsync=off -c synchronous_commit=off" >/dev/null \
      || die "PostgreSQL did not start on port $PORT (see $LOG)"
  fi
  for _ in $(seq 1 100); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && { log "up on 127.0.0.1:$PORT"; return; }
    sleep 0.1
  done
  die "PostgreSQL does not answer on 127.0.0.1:$PORT (see $LOG)"
}

down() {
  if [[ -f "$DATA/PG_VERSION" ]] && running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null && log "stopped"
  fi
}

case "$COMMAND" in
  up) up ;;
  down) down ;;
  status) if [[ -f "$DATA/PG_VERSION" ]] && running; then log "running on $PORT"; else log "not running"; exit 3; fi ;;
  url) echo "postgresql+asyncpg://postgres:$(cat "$PASSWORD_FILE")@127.0.0.1:$PORT/postgres" ;;
  *) echo "usage: scripts/postgres.sh [--profile test|bench|demo] up|down|status|url" >&2; exit 2 ;;
esac
