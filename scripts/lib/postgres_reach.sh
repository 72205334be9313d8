# Sourced by scripts/postgres.sh and scripts/lib/ferretdb2.sh. Run as root, PostgreSQL runs as the `postgres` user
# (it refuses root), which must be able to enter every directory down to its data: a checkout under /root or
# under a `mktemp -d` folder (mode 700) made initdb fail with only "Permission denied" in its log.

# The first directory on the way to $1 the postgres user cannot enter; nothing when it can (or when not root).
postgres_blocked_at() {
  [[ $(id -u) -eq 0 ]] || return 0
  local path="" part parts
  IFS=/ read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    [[ -n "$part" ]] || continue
    path+="/$part"
    [[ -d "$path" ]] || return 0  # not made yet: made by root below its parent, which was checked
    runuser -u postgres -- test -x "$path" || { echo "$path"; return 0; }
  done
}

# Dies (with the caller's die) naming the directory and the fix when the postgres user cannot reach $1.
require_postgres_reach() {
  local blocked
  blocked=$(postgres_blocked_at "$1")
  [[ -z "$blocked" ]] || die "PostgreSQL runs as the postgres user here (the services run as root), and that user" \
    "cannot enter $blocked on the way to ${1}. Let it in (chmod o+x $blocked) or put the checkout under a" \
    "directory every user can enter (e.g. /work or /srv)"
}
