# shellcheck shell=bash disable=SC2034  # SRV_* and RUN_ID/OUT are read by the sourcing scripts
# bench/common.sh — shell helpers shared by every benchmark script (run_dist.sh, run_storage.sh,
# run_history.sh, run_push.sh). Sourced, not run. Every process a script starts is recorded and
# killed on exit (with its descendants), the broker it started is always stopped, raw outputs go
# to bench/results/<UTC time>-<bench>/ (run_dist.sh: bench/results/<UTC time>/).
#
# The sourcing script sets BENCH (its name, for messages) and ROOT first, and may set
# RESULTS_SUFFIX (default "-${BENCH}") before bench_setup.

log() { printf '%s: %s\n' "${BENCH}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

PIDS=()            # processes this script started and must not leave behind
BROKER_PORT=""     # set by start_broker: stopped on exit
PG_PORT=""         # set by start_postgres: stopped on exit
TMP=""             # scratch directory, removed on exit
KEEP_TMP=0

# Kills a process we started and, first, its descendants (e.g. pemx under GNU time).
kill_tree() {
  local pid=$1 child
  for child in $(cat /proc/"${pid}"/task/*/children 2>/dev/null); do kill_tree "${child}"; done
  kill -KILL "${pid}" 2>/dev/null || true
}

cleanup() {
  local rc=$? p
  trap - INT TERM
  for p in "${PIDS[@]:-}"; do
    [[ -n "${p}" ]] && kill -0 "${p}" 2>/dev/null && kill_tree "${p}"
  done
  if [[ -n "${BROKER_PORT}" ]]; then
    "${ROOT}/tests/broker/kafka.sh" stop "${BROKER_PORT}" >/dev/null 2>&1 || true
  fi
  if [[ -n "${PG_PORT}" ]]; then
    "${ROOT}/tests/postgres/postgres.sh" stop "${PG_PORT}" >/dev/null 2>&1 || true
  fi
  if [[ -n "${TMP}" && "${KEEP_TMP}" == 0 ]]; then rm -rf "${TMP}"; fi
  exit "${rc}"
}

# Call once the options are parsed: traps, scratch dir, results dir (OUT), run id.
bench_setup() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
  LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
  OUT="${ROOT}/bench/results/${RUN_ID}${RESULTS_SUFFIX-"-${BENCH}"}"
  mkdir -p "${OUT}"
  # bench/run_all.sh learns each script's results folder from this file.
  if [[ -n "${PEMX_BENCH_RECORD_OUT:-}" ]]; then printf '%s\n' "${OUT}" >>"${PEMX_BENCH_RECORD_OUT}"; fi
  TMP="$(mktemp -d "/tmp/pemx-${BENCH}.XXXXXX")"
  GNU_TIME=""
  if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then GNU_TIME=/usr/bin/time; fi
  [[ -n "${GNU_TIME}" ]] || log "GNU time not found: peak RSS is read from /proc/PID/status (VmHWM)"
}

# Forgets a pid (after it was reaped), so that a recycled pid is never signalled.
forget_pid() {
  local q keep=()
  for q in "${PIDS[@]:-}"; do [[ -z "${q}" || "${q}" == "$1" ]] || keep+=("${q}"); done
  PIDS=("${keep[@]:-}")
}

# Runs a command in the background and waits for it, so that a signal to this script is
# handled at once (bash defers traps until a foreground child ends). Returns its status.
run_child() {
  local p rc=0
  "$@" &
  p=$!
  PIDS+=("${p}")
  wait "${p}" || rc=$?
  forget_pid "${p}"
  return "${rc}"
}

# Children of a process (the command GNU time runs), waiting up to 2 s for it to appear.
child_of() {
  local parent=$1 kids="" i
  for ((i = 0; i < 100; i++)); do
    kids="$(cat "/proc/${parent}/task/${parent}/children" 2>/dev/null | tr -d ' ' || true)"
    [[ -n "${kids}" ]] && break
    sleep 0.02
  done
  printf '%s\n' "${kids}"
}

# Peak RSS (KiB) of a finished command from its GNU time report.
peak_rss() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1" 2>/dev/null || true; }

# CPU time (user + system, in seconds) a live process has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo ""
}

# CPU ticks (CLK_TCK) per thread of a live process so far, one `name utime stime` line each
# (the name is the thread's comm with spaces replaced).
thread_cpu() {
  local t stat name
  for t in "/proc/$1/task/"*; do
    stat="$(cat "${t}/stat" 2>/dev/null)" || continue
    name="${stat#*(}"; name="${name%)*}"
    awk -v n="${name// /_}" '{print n, $12, $13}' <<<"${stat##*) }"
  done
  return 0
}

start_broker() {  # port
  log "starting the broker on 127.0.0.1:$1 ..."
  BROKER_PORT=$1
  "${ROOT}/tests/broker/kafka.sh" start "$1" >/dev/null
}

# A fresh PostgreSQL 15 (tests/postgres/postgres.sh: initdb in a temporary directory, fsync
# and synchronous_commit on, shared_buffers 64 MB), always stopped on exit. Sets PG_CONN (its
# libpq URI, with the test role's password).
start_postgres() {  # port
  log "starting PostgreSQL on 127.0.0.1:$1 ..."
  PG_PORT=$1
  PG_CONN="$("${ROOT}/tests/postgres/postgres.sh" start "$1" 2>"${OUT}/postgres.log")" \
    || { cat "${OUT}/postgres.log" >&2; die "PostgreSQL did not start"; }
}

# PG_CONN with search_path set to SCHEMA (created by pg_psql), for the stores and baselines.
pg_conn_for() {  # schema
  printf '%s?options=-csearch_path%%3D%s\n' "${PG_CONN}" "$1"
}

pg_psql() {  # sql (on PG_CONN, quiet, unaligned, stops at the first error)
  psql "${PG_CONN}" -X -q -v ON_ERROR_STOP=1 -At -c "SET client_min_messages = warning; $1"
}

# CPU time (user + system, seconds) the PostgreSQL server started by start_postgres has used so
# far: the postmaster's own and that of its children it reaped (backends that exited), plus
# its live children's (backends, checkpointer, WAL writer, autovacuum, ...).
postgres_cpu_seconds() {
  local pm
  pm="$(head -n 1 "${TMPDIR:-/tmp}/pemx-postgres.${PG_PORT}/data/postmaster.pid" 2>/dev/null || true)"
  [[ -n "${pm}" ]] || { echo ""; return; }
  python3 - "${pm}" <<'PY'
import os, sys
pm, hz = sys.argv[1], os.sysconf("SC_CLK_TCK")
def fields(pid):  # /proc/PID/stat after the command name: [0] is field 3 (state)
    s = open(f"/proc/{pid}/stat").read()
    return s[s.rindex(")") + 2:].split()
f = fields(pm)
ticks = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
for kid in open(f"/proc/{pm}/task/{pm}/children").read().split():
    try:
        k = fields(kid)
        ticks += int(k[11]) + int(k[12])
    except OSError:
        pass  # exited meanwhile: now in the postmaster's cutime/cstime
print(ticks / hz)
PY
}

# CPU time (user + system, seconds) of a finished command from its GNU time report.
time_cpu() {
  awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ {t += $2} END {if (NR) print t}' \
    "$1" 2>/dev/null || true
}

# Starts a server in the background, under GNU time when there is one (report in TIMEFILE),
# with stderr to LOG. Sets SRV_TPID (what to wait for) and SRV_PID (the server itself).
start_server() {  # log timefile command...
  local logf=$1 timef=$2
  shift 2
  if [[ -n "${GNU_TIME}" ]]; then
    "${GNU_TIME}" -v -o "${timef}" "$@" 2>"${logf}" >"${logf}.stdout" &
    SRV_TPID=$!
    PIDS+=("${SRV_TPID}")
    SRV_PID="$(child_of "${SRV_TPID}")"
    [[ -n "${SRV_PID}" ]] || die "cannot find the server under GNU time (pid ${SRV_TPID})"
  else
    "$@" 2>"${logf}" >"${logf}.stdout" &
    SRV_TPID=$!
    SRV_PID=${SRV_TPID}
  fi
  PIDS+=("${SRV_PID}")
}

# SIGTERM to the server started last, bounded wait (45 s, then SIGKILL); sets SRV_HWM (KiB,
# from /proc before it exits) and returns nothing; its exit code is in SRV_EXIT.
stop_server() {
  local i
  SRV_HWM="$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/${SRV_PID}/status" 2>/dev/null || true)"
  kill -TERM "${SRV_PID}" 2>/dev/null || true
  for ((i = 0; i < 450; i++)); do kill -0 "${SRV_PID}" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "${SRV_PID}" 2>/dev/null; then
    log "server ${SRV_PID} did not stop in 45 s; SIGKILL"
    kill -KILL "${SRV_PID}" 2>/dev/null || true
  fi
  SRV_EXIT=0
  wait "${SRV_TPID}" || SRV_EXIT=$?
  forget_pid "${SRV_TPID}"
  forget_pid "${SRV_PID}"
}

# The port pemx's http stage listens on, from its "listening" log line (http.listen with
# port 0 picks a free one). Waits up to 60 s; fails if pemx ends first.
pemx_port() {  # log pid
  local i port=""
  for ((i = 0; i < 600; i++)); do
    port="$(grep -o '"component":"http","msg":"listening"[^}]*"port":[0-9]*' "$1" 2>/dev/null \
      | head -n 1 | grep -o '[0-9]*$' || true)"
    [[ -n "${port}" ]] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  printf '%s\n' "${port}"
}

# The port in a bench program's first JSON line on stdout ({"port":P,...}).
json_port() {  # file pid
  local i port=""
  for ((i = 0; i < 300; i++)); do
    port="$(grep -o '"port":[0-9]*' "$1" 2>/dev/null | head -n 1 | cut -d: -f2 || true)"
    [[ -n "${port}" ]] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  printf '%s\n' "${port}"
}

# Waits until GET URL answers 200 (up to SECONDS); returns 1 otherwise.
wait_http_ok() {  # url seconds
  python3 - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
}

# Runs wrk and extracts the JSON line the Lua script prints at the end into OUTFILE.
run_wrk() {  # outfile rawfile wrk-args...
  local outf=$1 raw=$2
  shift 2
  run_child wrk "$@" >"${raw}" 2>&1 || { cat "${raw}" >&2; die "wrk failed"; }
  sed -n 's/^PEMX_WRK_JSON //p' "${raw}" >"${outf}"
  [[ -s "${outf}" ]] || { cat "${raw}" >&2; die "wrk printed no PEMX_WRK_JSON line"; }
}

# A one-line JSON summary of a pemx process: exit code, peak RSS, warn/error log lines.
pemx_proc_json() {  # log timefile exit hwm [extra json members]
  local v
  v="$(peak_rss "$2")"
  printf '{"exit_code":%d,"peak_rss_kib":%s,"warn_lines":%d,"error_lines":%d%s}\n' \
    "$3" "${v:-${4:-null}}" \
    "$(grep -c '"level":"warn"' "$1" || true)" "$(grep -c '"level":"error"' "$1" || true)" \
    "${5:+,$5}"
}

machine_description() {
  local cpu
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  printf '%s cores (%s), %s RAM, %s; shared with other engineers'"'"' builds and tests, so noisy (load average %s at the start, %s at the end); %s\n' \
    "$(nproc)" "${cpu:-unknown CPU}" \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
    "$(. /etc/os-release && echo "${PRETTY_NAME}")" "${LOAD_START}" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$1"
}

code_description() {
  local commit dirty
  commit="$(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo '?')"
  dirty="$(git -C "${ROOT}" status --porcelain -- src plugins include pemx.toml 2>/dev/null | wc -l)"
  printf 'commit %s%s; librdkafka %s; SQLite %s\n' "${commit}" \
    "$( ((dirty > 0)) && echo ' + uncommitted changes in src/plugins/include/pemx.toml')" \
    "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" \
    "$(pkg-config --modversion sqlite3 2>/dev/null || echo '?')"
}

# Completes OUT/summary.json, the machine-readable summary bench/run_all.sh builds the table
# of docs/benchmarks.md from. The script's summary step writes {"figures": [...]}, each figure
# {"key", "label", "unit", "value", "baseline", "ratio", ...} (medians of the rounds); this
# adds what every summary has: the bench, run id, command, commit, and the machine (cores, CPU
# model, load average at the start and now), and "smoke" when PEMX_BENCH_SMOKE is set.
stamp_summary_json() {  # bench command
  local commit dirty
  commit="$(git -C "${ROOT}" rev-parse HEAD 2>/dev/null || echo '?')"
  dirty="$(git -C "${ROOT}" status --porcelain -- src plugins include pemx.toml 2>/dev/null | wc -l)"
  python3 - "${OUT}/summary.json" "$1" "$2" "${RUN_ID}" "${commit}" "${dirty}" "${LOAD_START}" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
    "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" "${OUT}" \
    "${PEMX_BENCH_SMOKE:-}" <<'PY'
import json, os, sys
path, bench, command, run_id, commit, dirty, load_start, load_end, cores, cpu, rdkafka, out, \
    smoke = sys.argv[1:14]
try:
    summary = json.load(open(path))
except (OSError, ValueError):
    summary = {"figures": []}
summary.update({
    "bench": bench, "run_id": run_id, "command": command, "results": out,
    "commit": commit, "uncommitted_changes": int(dirty) > 0, "librdkafka": rdkafka,
    "smoke": bool(smoke),  # bench/run_all.sh --quick: tiny counts, not figures to document
    "machine": {"cores": int(cores), "cpu": cpu or "unknown CPU",
                "load_start": load_start, "load_end": load_end}})
json.dump(summary, open(path, "w"), indent=1)
PY
}

# Replaces the block between <!-- NAME-results:begin --> and <!-- NAME-results:end --> in
# docs/benchmarks.md with the summary file. Refused when PEMX_BENCH_NO_UPDATE_DOC is set
# (bench/run_all.sh --quick sets it: smoke runs never overwrite the documented figures).
update_doc() {  # name summary
  local doc="${ROOT}/docs/benchmarks.md"
  if [[ -n "${PEMX_BENCH_NO_UPDATE_DOC:-}" ]]; then
    log "not updating ${doc}: PEMX_BENCH_NO_UPDATE_DOC is set (a smoke run)"
    return 1
  fi
  python3 - "${doc}" "$2" "$1" <<'PY'
import sys
doc, summary, name = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3]
begin, end = f"<!-- {name}-results:begin -->", f"<!-- {name}-results:end -->"
text = open(doc).read()
if begin not in text or end not in text:
    sys.exit(f"{doc}: markers {begin} / {end} not found")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(f"{head}{begin}\n{summary}\n{end}{tail}")
PY
  log "updated ${doc}"
}
