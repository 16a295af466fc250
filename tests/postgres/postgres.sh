#!/usr/bin/env bash
# Runs Debian's PostgreSQL server (15) for PEMX tests: a fresh cluster (initdb) in a temporary
# directory, listening only on 127.0.0.1:PORT, fsync on (the store's tests check durability),
# with a test role and database (the role may create roles, end other sessions, and pause a
# replica's replay, for fault tests). When run as root, the server runs as the unprivileged user
# `nobody` (PostgreSQL refuses to run as root).
#
# Usage: tests/postgres/postgres.sh start PORT | start-replica PORT PRIMARY_PORT | stop PORT |
#        status PORT | kill PORT | restart PORT | pause PORT | resume PORT
#   start   prints the libpq connection string postgresql://USER:PASS@127.0.0.1:PORT/DB on
#           stdout once the server accepts connections; progress and errors go to stderr.
#           When our server already runs on PORT, prints its string again (idempotent).
#   start-replica
#           a hot-standby streaming replica on PORT of our server on PRIMARY_PORT (started by
#           `start`): pg_basebackup -R from it, then started read-only; prints its connection
#           string (the same role, password and database) once it accepts connections.
#           Idempotent like start. stop, status, kill, restart, pause and resume take its PORT.
#   stop    stops it (fast shutdown, then immediate) and removes its directory; nothing to do
#           is not an error.
#   status  exit 0 and print the connection string if it runs, exit 1 otherwise.
#   kill    an immediate shutdown (as after a crash: sessions cut, no checkpoint) that keeps
#           the directory, so that `restart` brings the same data back (fault tests).
#   restart starts the killed (or stopped-by-kill) server again on its data; prints the
#           connection string once it accepts connections (crash recovery included).
#   pause   SIGSTOPs the server and all its processes: connections stay open, nothing answers
#           (a hung server). resume SIGCONTs them. A paused server must be resumed before stop.
# Environment: PEMX_POSTGRES_BIN (the server's bin directory; default the newest
# /usr/lib/postgresql/*/bin), PEMX_POSTGRES_START_TIMEOUT (seconds, default 60).
# See tests/postgres/README.md.
set -euo pipefail

readonly DB_NAME="pemx_test"
readonly DB_USER="pemx_test"
readonly RUN_AS="nobody"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $(basename "$0") start|stop|status|kill|restart|pause|resume PORT" >&2
  echo "       $(basename "$0") start-replica PORT PRIMARY_PORT" >&2
  exit 2
}

bin_dir() {
  if [[ -n "${PEMX_POSTGRES_BIN:-}" ]]; then
    [[ -x "${PEMX_POSTGRES_BIN}/postgres" ]] || die "PEMX_POSTGRES_BIN=${PEMX_POSTGRES_BIN} has no postgres binary"
    printf '%s\n' "${PEMX_POSTGRES_BIN}"
    return
  fi
  # pg_config --bindir names the client's directory (/usr/bin), not the server's.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$dir" && -x "$dir/postgres" ]] ||
    die "no PostgreSQL server under /usr/lib/postgresql/*/bin (install it: scripts/install-deps.sh --test, or apt-get install postgresql)"
  printf '%s\n' "$dir"
}

state_dir() { printf '%s/pemx-postgres.%s\n' "${TMPDIR:-/tmp}" "$1"; }

# Runs a command as the server's user (itself when not root).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$RUN_AS" -- "$@"
  else
    "$@"
  fi
}

connection_string() {  # DIR PORT
  printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$DB_USER" "$(cat "$1/password")" "$2" "$DB_NAME"
}

running() {  # DIR: the server of DIR answers
  local dir=$1 bin
  [[ -f "$dir/data/postmaster.pid" ]] || return 1
  bin=$(bin_dir)
  as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

check_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || die "bad port '$1' (expected 1..65535)"
}

# Before a start on PORT: exit 0 printing the string when our server already runs there;
# else clears a leftover directory of ours, fails when another process holds the port, and
# makes the empty directory (mode 700).
prepare_start() {  # PORT
  local port=$1 dir
  check_port "$port"
  dir=$(state_dir "$port")
  if [[ -f "$dir/password" ]] && running "$dir"; then
    log "already running on 127.0.0.1:$port ($dir)"
    connection_string "$dir" "$port"
    exit 0
  fi
  if [[ -d "$dir" ]]; then cmd_stop "$port" 2>/dev/null || true; fi
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is taken by another process; choose another port"
  fi
  mkdir -p "$dir"
  chmod 700 "$dir"
}

cmd_start() {
  local port=$1 dir bin password
  prepare_start "$port"
  dir=$(state_dir "$port")
  bin=$(bin_dir)
  password=$(head -c 18 /dev/urandom | base64 | tr '+/' 'AB')
  printf '%s' "$password" >"$dir/password"
  printf '%s' "$(head -c 18 /dev/urandom | base64 | tr '+/' 'AB')" >"$dir/superuser"
  if [[ $(id -u) -eq 0 ]]; then chown -R "$RUN_AS" "$dir"; fi

  log "initdb into $dir/data ($bin)"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/superuser" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed (log above)"; }
  # Loopback only; the unix socket stays inside the directory. fsync and full_page_writes on.
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 100
shared_buffers = 64MB
logging_collector = off
# A streaming replica (start-replica) may connect; WAL kept for one stopped for a while.
wal_level = replica
max_wal_senders = 4
wal_keep_size = 128MB
EOF
  # initdb's pg_hba.conf allows replication from 127.0.0.1 (scram-sha-256); start-replica
  # depends on it, so make sure rather than assume.
  grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' \
    "$dir/data/pg_hba.conf" ||
    echo "host replication all 127.0.0.1/32 scram-sha-256" >>"$dir/data/pg_hba.conf"
  log "starting on 127.0.0.1:$port"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -t "${PEMX_POSTGRES_START_TIMEOUT:-60}" start >/dev/null; then
    tail -n 20 "$dir/server.log" >&2 || true
    die "the server did not start (log above: $dir/server.log)"
  fi
  as_owner env PGPASSWORD="$(cat "$dir/superuser")" \
    "$bin/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    >/dev/null <<EOF || die "could not create the test role and database (see $dir/server.log)"
CREATE ROLE $DB_USER LOGIN CREATEROLE PASSWORD '$password';
GRANT pg_signal_backend TO $DB_USER;
CREATE DATABASE $DB_NAME OWNER $DB_USER;
\connect $DB_NAME
GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO $DB_USER;
EOF
  connection_string "$dir" "$port"
}

cmd_start_replica() {
  local port=$1 primary_port=$2 dir primary bin
  check_port "$port"
  check_port "$primary_port"
  [[ "$port" != "$primary_port" ]] || die "the replica needs a port of its own"
  primary=$(state_dir "$primary_port")
  [[ -f "$primary/password" ]] && running "$primary" ||
    die "no server of ours on port $primary_port (start it first: $0 start $primary_port)"
  prepare_start "$port"
  dir=$(state_dir "$port")
  bin=$(bin_dir)
  # The roles are the primary's (replicated), hence the same passwords.
  cp "$primary/password" "$primary/superuser" "$dir/"
  if [[ $(id -u) -eq 0 ]]; then chown -R "$RUN_AS" "$dir"; fi

  # As the superuser (the test role has no REPLICATION). -R writes primary_conninfo and
  # standby.signal; a fast checkpoint and no fsync of the copy: the cluster is tiny.
  log "pg_basebackup from 127.0.0.1:$primary_port into $dir/data"
  if ! as_owner env PGPASSWORD="$(cat "$dir/superuser")" "$bin/pg_basebackup" \
    -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/data" -R -X stream \
    --checkpoint=fast --no-sync >"$dir/basebackup.log" 2>&1; then
    tail -n 20 "$dir/basebackup.log" >&2 || true
    die "pg_basebackup failed (log above; the primary's: $primary/server.log)"
  fi
  # The primary's postgresql.conf came along: the replica's own port and socket directory.
  cat >>"$dir/data/postgresql.conf" <<EOF
# the replica of 127.0.0.1:$primary_port (tests/postgres/postgres.sh start-replica)
port = $port
unix_socket_directories = '$dir'
hot_standby = on
# Not the primary's durability: a replica of test data, rebuilt by start-replica. Without
# fsync its start-up also skips syncing the copied data directory (seconds on a busy disk).
fsync = off
EOF
  log "starting the replica on 127.0.0.1:$port"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -t "${PEMX_POSTGRES_START_TIMEOUT:-60}" start >/dev/null; then
    tail -n 20 "$dir/server.log" >&2 || true
    die "the replica did not start (log above: $dir/server.log)"
  fi
  connection_string "$dir" "$port"
}

cmd_stop() {
  local port=$1 dir bin
  check_port "$port"
  dir=$(state_dir "$port")
  [[ -d "$dir" ]] || return 0
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    signal_server "$port" CONT || true  # a paused server cannot stop
    bin=$(bin_dir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  log "stopped 127.0.0.1:$port"
}

# The postmaster's pid (first line of postmaster.pid), or nothing.
postmaster_pid() {  # DIR
  [[ -f "$1/data/postmaster.pid" ]] && head -n 1 "$1/data/postmaster.pid"
}

cmd_kill() {
  local port=$1 dir bin
  check_port "$port"
  dir=$(state_dir "$port")
  [[ -f "$dir/password" ]] || die "no server of ours on port $port (start it first)"
  signal_server "$port" CONT || true  # a paused server first resumes
  running "$dir" || { log "not running on 127.0.0.1:$port"; return 0; }
  bin=$(bin_dir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null ||
    die "pg_ctl could not stop the server (see $dir/server.log)"
  log "killed 127.0.0.1:$port (immediate shutdown; data kept in $dir)"
}

cmd_restart() {
  local port=$1 dir bin
  check_port "$port"
  dir=$(state_dir "$port")
  [[ -f "$dir/password" && -d "$dir/data" ]] || die "no data of ours for port $port (use start)"
  if ! running "$dir"; then
    bin=$(bin_dir)
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -t "${PEMX_POSTGRES_START_TIMEOUT:-60}" start >/dev/null; then
      tail -n 20 "$dir/server.log" >&2 || true
      die "the server did not restart (log above: $dir/server.log)"
    fi
    log "restarted on 127.0.0.1:$port"
  fi
  connection_string "$dir" "$port"
}

# SIGSTOP or SIGCONT to the postmaster and its children (the backends, the auxiliary processes).
signal_server() {  # PORT SIGNAL
  local dir pid
  dir=$(state_dir "$1")
  pid=$(postmaster_pid "$dir" || true)
  [[ -n "$pid" ]] || return 1
  # shellcheck disable=SC2046 # one pid per word
  kill -s "$2" "$pid" $(pgrep -P "$pid" || true)
}

cmd_pause() {
  check_port "$1"
  signal_server "$1" STOP || die "no server of ours on port $1"
  log "paused 127.0.0.1:$1"
}
cmd_resume() {
  check_port "$1"
  signal_server "$1" CONT || die "no server of ours on port $1"
  log "resumed 127.0.0.1:$1"
}

cmd_status() {
  local port=$1 dir
  check_port "$port"
  dir=$(state_dir "$port")
  if [[ -f "$dir/password" ]] && running "$dir"; then
    connection_string "$dir" "$port"
  else
    exit 1
  fi
}

if [[ "${1:-}" == start-replica ]]; then
  (($# == 3)) || usage
  cmd_start_replica "$2" "$3"
  exit 0
fi
(($# == 2)) || usage
case "$1" in
  start) cmd_start "$2" ;;
  stop) cmd_stop "$2" ;;
  status) cmd_status "$2" ;;
  kill) cmd_kill "$2" ;;
  restart) cmd_restart "$2" ;;
  pause) cmd_pause "$2" ;;
  resume) cmd_resume "$2" ;;
  *) usage ;;
esac
