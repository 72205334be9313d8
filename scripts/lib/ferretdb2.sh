# Sourced by scripts/services.sh: the ferretdb2 store, FerretDB v2.5 on PostgreSQL 15 with DocumentDB, whose
# queries use their indexes (FerretDB v1.24.2, the sqlite store, never does; see README "Services without Docker").
#
# It comes prebuilt from one folder, $CALLERCARD_FERRETDB2_DIR, holding the tarball and its SHA256SUMS. Each `up`
# verifies the tarball against SHA256SUMS, unpacks it once per machine into $MACHINE_CACHE/ferretdb2-<sum>/ (a new
# tarball gets a new folder), runs the stack's own `docdb-stack.sh install` (apt: PostgreSQL 15 from
# bookworm-security, rum, postgis; the extensions copied into /usr) when this machine lacks what it installs, and
# starts it: PostgreSQL on 127.0.0.1:$FERRETDB2_PG_PORT and FerretDB on the profile's Mongo port, state under
# var/<profile>/ferretdb2/. Uses services.sh's log, die, pid_alive, port_open, stop_pidfile and wait_for.

FERRETDB2_TARBALL=ferretdb2-documentdb-pg15-debian12-amd64.tar.gz
FERRETDB2_STATE="$STATE/ferretdb2"
# Below the kernel's ephemeral range (32768-60999 here): at the Mongo port + 10000 a busy test run's outgoing
# connections took the port as their own end now and then, and PostgreSQL failed with "Address already in use".
FERRETDB2_PG_PORT=$((MONGO_PORT - 10000))
# The stack's extensions were built against this PostgreSQL (older servers lack symbols they use).
FERRETDB2_POSTGRESQL=15.20-0+deb12u1
PG_BIN=/usr/lib/postgresql/15/bin

# The sha256 SHA256SUMS gives for the tarball (empty when it has no line for it).
ferretdb2_expected_sum() {
  awk -v file="$FERRETDB2_TARBALL" '$2 == file || $2 == "*" file { print $1 }' "$1/SHA256SUMS"
}

# ensure_ferretdb2: FERRETDB2_STACK is the verified, unpacked stack, installed on this machine; or the script dies
# naming what is missing and how to get it.
ensure_ferretdb2() {
  local dir=${CALLERCARD_FERRETDB2_DIR:-}
  [[ -n "$dir" ]] || die "the ferretdb2 store needs CALLERCARD_FERRETDB2_DIR: the folder holding $FERRETDB2_TARBALL" \
    "and its SHA256SUMS (FerretDB v2.5 + DocumentDB built for Debian 12 / PostgreSQL 15; CI's .ci/run sets it)." \
    "Set it, or use the default store: --store sqlite"
  [[ -f "$dir/$FERRETDB2_TARBALL" && -f "$dir/SHA256SUMS" ]] \
    || die "CALLERCARD_FERRETDB2_DIR=$dir does not hold $FERRETDB2_TARBALL and SHA256SUMS"
  local sum
  sum=$(ferretdb2_expected_sum "$dir")
  [[ -n "$sum" ]] || die "$dir/SHA256SUMS has no line for $FERRETDB2_TARBALL"
  # Verified at every `up`, not only before unpacking (~50 ms): the cache is keyed by the expected sum.
  sha256sum --status -c <<<"$sum  $dir/$FERRETDB2_TARBALL" \
    || die "$dir/$FERRETDB2_TARBALL does not match its SHA256SUMS (damaged or replaced); get the folder again"
  local cache="$MACHINE_CACHE/ferretdb2-${sum:0:16}"
  if [[ ! -f "$cache/docdb-stack/MANIFEST.sha256" ]]; then
    log "unpacking $FERRETDB2_TARBALL into $cache (first run on this machine only)"
    rm -rf "$cache.partial" && mkdir -p "$cache.partial"
    tar -xzf "$dir/$FERRETDB2_TARBALL" -C "$cache.partial" \
      && (cd "$cache.partial/docdb-stack" && sha256sum --quiet -c MANIFEST.sha256) >&2 \
      || { rm -rf "$cache.partial"; die "unpacking $dir/$FERRETDB2_TARBALL failed (see above)"; }
    rm -rf "$cache" && mv "$cache.partial" "$cache"
  fi
  FERRETDB2_STACK="$cache/docdb-stack"
  ferretdb2_installed || install_ferretdb2
}

# What `docdb-stack.sh install` puts on the machine is there: Debian's packages at the version the extensions need,
# and the stack's extension files in /usr, byte for byte.
ferretdb2_installed() {
  local package version
  for package in postgresql-15 postgresql-15-rum postgresql-15-postgis-3; do
    [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) == "install ok installed" ]] || return 1
  done
  version=$(dpkg-query -W -f='${Version}' postgresql-15)
  dpkg --compare-versions "$version" ge "$FERRETDB2_POSTGRESQL" || return 1
  (cd "$FERRETDB2_STACK" && sed -n 's#  root/usr/#  /usr/#p' MANIFEST.sha256 | sha256sum --status -c 2>/dev/null)
}

install_ferretdb2() {
  local installlog="$STATE/install-ferretdb2.log"
  [[ $(id -u) == 0 ]] || die "ferretdb2 is not installed on this machine (PostgreSQL >= $FERRETDB2_POSTGRESQL," \
    "postgresql-15-rum, postgresql-15-postgis-3, DocumentDB in /usr); installing needs root: sudo $FERRETDB2_STACK/docdb-stack.sh install"
  mkdir -p "$STATE"
  log "installing ferretdb2's PostgreSQL 15 packages and extensions (apt; once per machine; log: ${installlog#"$ROOT"/})"
  # One install at a time on a shared machine: apt holds its own lock and would fail a second one.
  if ! flock "$MACHINE_CACHE/ferretdb2-install.lock" "$FERRETDB2_STACK/docdb-stack.sh" install >"$installlog" 2>&1; then
    grep -v '^\(Get\|Hit\|Ign\|Reading\|Fetched\)' "$installlog" | tail -n 5 >&2
    die "installing ferretdb2 failed (full log: $installlog). Fix what the lines above name (bookworm-security" \
      "in apt's sources gives PostgreSQL $FERRETDB2_POSTGRESQL), then rerun"
  fi
  ferretdb2_installed || die "docdb-stack.sh install finished but the machine still lacks what it installs;" \
    "see $installlog"
  log "ferretdb2 installed"
}

# mongo_answers PORT: the server on PORT answers a real command ({listDatabases: 1} on admin, which FerretDB v2
# answers from PostgreSQL) with ok: 1. Raw OP_MSG over bash's /dev/tcp: no client needed before the venv exists.
mongo_answers() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # header (length 71, request id 1, response to 0, opcode 2013 OP_MSG), flags 0, section kind 0, then the BSON
    # document {listDatabases: int32 1, nameOnly: true, $db: "admin"} (50 bytes)
    printf "%b" "\x47\0\0\0\x01\0\0\0\0\0\0\0\xdd\x07\0\0" "\0\0\0\0" "\0" "\x32\0\0\0" \
      "\x10listDatabases\0\x01\0\0\0" "\x08nameOnly\0\x01" "\x02\$db\0\x06\0\0\0admin\0" "\0" >&3
    length=$(head -c 4 <&3 | od -An -tu4 | tr -d " ")
    [[ -n "$length" ]] && head -c $((length - 4)) <&3 | od -An -v -tx1 | tr -d " \n"
  ' _ "$1" 2>/dev/null | grep -q '016f6b00000000000000f03f'  # the field "ok": double 1.0
}

ferretdb2_ok() { mongo_answers "$MONGO_PORT"; }

pg_running() { [[ -f "$FERRETDB2_STATE/pg/postmaster.pid" ]] && as_postgres "$PG_BIN/pg_ctl" -D "$FERRETDB2_STATE/pg" status >/dev/null 2>&1; }
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_ferretdb2() {
  if port_open "$MONGO_PORT"; then
    pid_alive "$FERRETDB2_STATE/ferretdb.pid" \
      || die "port $MONGO_PORT is taken by a store this checkout did not start (another checkout's services?); stop it first"
    if ferretdb2_ok && port_open "$FERRETDB2_PG_PORT"; then log "ferretdb2 already up on $MONGO_PORT"; return; fi
    log "ferretdb2 on $MONGO_PORT does not answer, or its PostgreSQL is not on $FERRETDB2_PG_PORT (started by an" \
      "older version of this script); restarting it"
    stop_ferretdb2
  fi
  # A PostgreSQL left running without its FerretDB (FerretDB killed) would make the stack's start fail.
  pg_running && as_postgres "$PG_BIN/pg_ctl" -D "$FERRETDB2_STATE/pg" -m fast -w stop >/dev/null
  port_open "$FERRETDB2_PG_PORT" && die "port $FERRETDB2_PG_PORT (ferretdb2's PostgreSQL: the Mongo port - 10000)" \
    "is taken by a process this checkout did not start; stop it, or move every port with CALLERCARD_PORT_OFFSET"
  mkdir -p "$FERRETDB2_STATE"
  # The stack hands its own folder to the postgres user; everything above it must let that user through.
  require_postgres_reach "$(dirname "$FERRETDB2_STATE")"
  # The stack writes PostgreSQL's port into the cluster's config once, at initdb: a cluster made under another
  # CALLERCARD_PORT_OFFSET would come up on the old port while FerretDB dials the new one.
  [[ -f "$FERRETDB2_STATE/pg/postgresql.conf" ]] \
    && sed -i -E "s/^port = [0-9]+$/port = $FERRETDB2_PG_PORT/" "$FERRETDB2_STATE/pg/postgresql.conf"
  if ! "$FERRETDB2_STACK/docdb-stack.sh" start "$MONGO_PORT" "$FERRETDB2_STATE" "$FERRETDB2_PG_PORT" \
       >>"$FERRETDB2_STATE/start.log" 2>&1; then
    tail -n 5 "$FERRETDB2_STATE/start.log" "$FERRETDB2_STATE/pg.log" >&2 2>/dev/null || true
    die "ferretdb2 did not start (logs: $FERRETDB2_STATE/start.log, pg.log, ferretdb.log)"
  fi
  wait_for "ferretdb2 (FerretDB v2.5 + DocumentDB)" ferretdb2_ok "$FERRETDB2_STATE/ferretdb.log"
}

stop_ferretdb2() {
  stop_pidfile ferretdb2 "$FERRETDB2_STATE/ferretdb.pid"
  if pg_running; then
    as_postgres "$PG_BIN/pg_ctl" -D "$FERRETDB2_STATE/pg" -m fast -w stop >/dev/null && log "ferretdb2's postgresql stopped"
  fi
}
