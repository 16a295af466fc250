#!/usr/bin/env bash
# bench/run_history.sh — how many history requests (GET /event?productIds=<10 ids>) per
# second `pemx --role=web` answers from a store of 1,000,000 events, against a Boost.Beast
# server that answers a fixed body of the same size with the same I/O threads.
#
#   1. builds pemx and the bench programs (Release) in BUILD_DIR unless --no-build;
#   2. writes a store file of EVENTS events with pemx_bench_make_store (the store's own code:
#      EventGenerator, seed SEED, a product id used for 1 to 3 events, so ~EVENTS/2 products)
#      and the list of its product ids, or reuses them from --store-dir;
#   3. probe: runs pemx --role=web on the file (kafka.brokers=embedded: only HTTP is measured,
#      the storage consumer idles) and asks 2,000 random queries to learn the average size of
#      its answers (the baseline's body size) and check that they are 200s with events;
#   4. for each of ROUNDS rounds, one after the other:
#        a. pemx_bench_fixed_http (2 io threads, the body size from 3) on a free loopback port;
#        b. pemx --role=web on the same file, HTTP on a free loopback port;
#      each gets WARMUP s of load (discarded), then DURATION s of
#      `wrk -t THREADS -c CONNECTIONS` running bench/history.lua (10 random ids of the list
#      per request); requests/s, p50/p99 latency and non-2xx answers come from wrk, the
#      server's CPU time over the measured run from /proc; then SIGTERM;
#        c. pemx_bench_sqlite_history: the same questions asked of SQLite directly on the same
#           file, in process, one thread (no HTTP): SQLite's own CPU per query, measured in two
#           halves of DURATION/2 s right before and right after pemx's load (b) and merged, so
#           that each round's three figures come from the same minute of a shared machine;
#   5. prints a table (per round, medians, ratio median(pemx)/median(baseline) of requests/s;
#      issue 13's CPU figure per round, pemx / (baseline + SQLite alone) of that round, and its
#      median over the rounds) and with --update-doc rewrites the history results block of
#      docs/benchmarks.md.
#
# With --store postgres, the same events are also written into a fresh PostgreSQL 15 on
# 127.0.0.1:PG_PORT (tests/postgres/postgres.sh, stopped on exit) by pemx_bench_make_store
# --postgres (the postgres_store backend's own code, then VACUUM ANALYZE), and each round runs
# the baseline, pemx on the SQLite file and pemx on PostgreSQL (the repo's config with
# [stages.store] switched to postgres_store), one after the other under the same load; the
# PostgreSQL server's CPU time (every process of the cluster, from /proc) is measured beside
# pemx's; then PostgreSQL alone (pemx_bench_pg_history: a plain libpq client asking the same
# questions, its CPU plus the server's), the baseline of issue 13's figure on this store;
# SQLite alone is not run; --update-doc rewrites the history-postgres block.
#
# Raw outputs go to bench/results/<UTC time>-run_history/ (-run_history_pg with --store
# postgres). Needs: wrk (Debian package wrk), python3, GNU time (optional); for postgres the
# PostgreSQL 15 server and psql. No broker.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_history
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"

ROUNDS=3
EVENTS=1000000
SEED=1
DURATION=20
WARMUP=3
CONNECTIONS=64
THREADS=2
IDS_PER_REQUEST=10
PROBE_REQUESTS=2000
STORE_DIR=""
BUILD_DIR="${ROOT}/build-bench"
BUILD=1
UPDATE_DOC=0
CONFIG=""
STORE=sqlite
PG_PORT_OPT=39097

usage() {
  cat <<EOF
usage: bench/run_history.sh [options]
  --rounds R          rounds of (baseline, pemx) (default ${ROUNDS})
  --events N          events in the store (default ${EVENTS})
  --seed S            generator seed (default ${SEED})
  --duration SECONDS  measured load per server and round (default ${DURATION})
  --warmup SECONDS    load before each measurement, discarded (default ${WARMUP})
  --connections C     wrk connections (default ${CONNECTIONS})
  --threads T         wrk threads (default ${THREADS})
  --ids N             product ids per request (default ${IDS_PER_REQUEST}; pemx allows 1..100)
  --store-dir DIR     keep the store file and its id list in DIR and reuse them next time
                      (default: a scratch directory, removed at the end)
  --build-dir DIR     where to build (default build-bench)
  --no-build          use the binaries already in --build-dir
  --update-doc        write the results into docs/benchmarks.md
  --config FILE       the pemx config (default: the repo's pemx.toml)
  --store S           sqlite (default), or postgres: pemx on PostgreSQL too, beside SQLite
  --pg-port P         PostgreSQL's port with --store postgres (default ${PG_PORT_OPT})
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --ids) IDS_PER_REQUEST="$2"; shift 2 ;;
    --store-dir) STORE_DIR="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --update-doc) UPDATE_DOC=1; shift ;;
    --config) CONFIG="$2"; shift 2 ;;
    --store) STORE="$2"; shift 2 ;;
    --pg-port) PG_PORT_OPT="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
for v in ROUNDS EVENTS DURATION WARMUP CONNECTIONS THREADS IDS_PER_REQUEST; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "${v}: a non-negative integer" >&2; exit 2; }
done
((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "--rounds: 1..20" >&2; exit 2; }
((EVENTS >= 1 && DURATION >= 1 && DURATION <= 600 && WARMUP <= 60)) || { echo "--events >= 1, --duration 1..600, --warmup 0..60" >&2; exit 2; }
((CONNECTIONS >= 1 && THREADS >= 1 && CONNECTIONS >= THREADS)) || { echo "--connections >= --threads >= 1" >&2; exit 2; }
((IDS_PER_REQUEST >= 1 && IDS_PER_REQUEST <= 100)) || { echo "--ids: 1..100" >&2; exit 2; }
[[ "${STORE}" == sqlite || "${STORE}" == postgres ]] || { echo "--store: sqlite or postgres" >&2; exit 2; }
if [[ "${STORE}" == postgres ]]; then
  command -v psql >/dev/null || { echo "psql not found (scripts/install-deps.sh --test)" >&2; exit 2; }
  RESULTS_SUFFIX="-run_history_pg"
fi
# The results blocks of docs/benchmarks.md: history[-postgres] (10 ids), ...-ids1 (1 id).
DOC_BLOCK="history"
[[ "${STORE}" == sqlite ]] || DOC_BLOCK+="-postgres"
case "${IDS_PER_REQUEST}" in
  10) ;;
  1) DOC_BLOCK+="-ids1" ;;
  *) ((UPDATE_DOC == 0)) || { echo "--update-doc: only with --ids 10 or --ids 1 (the documented blocks)" >&2; exit 2; } ;;
esac
command -v python3 >/dev/null || die "python3 not found"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
CONFIG="$(cd "$(dirname "${CONFIG:-${ROOT}/pemx.toml}")" && pwd)/$(basename "${CONFIG:-pemx.toml}")"
[[ -f "${CONFIG}" ]] || die "no config ${CONFIG}"
COMMAND_LINE="bench/run_history.sh --rounds ${ROUNDS} --events ${EVENTS} --seed ${SEED} --duration ${DURATION} --warmup ${WARMUP} --connections ${CONNECTIONS} --threads ${THREADS} --ids ${IDS_PER_REQUEST}"
[[ "${CONFIG}" == "${ROOT}/pemx.toml" ]] || COMMAND_LINE+=" --config ${CONFIG}"
[[ "${STORE}" == sqlite ]] || COMMAND_LINE+=" --store ${STORE} --pg-port ${PG_PORT_OPT}"

if ((BUILD)); then
  log "building in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPEMX_BUILD_TESTS=OFF >/dev/null
  ninja -C "${BUILD_DIR}" -j2 pemx pemx_bench_make_store pemx_bench_fixed_http \
    pemx_bench_sqlite_history >/dev/null
  if [[ "${STORE}" == postgres ]]; then ninja -C "${BUILD_DIR}" -j2 pemx_bench_pg_history >/dev/null; fi
fi
PEMX="${BUILD_DIR}/pemx"
MAKE_STORE="${BUILD_DIR}/bench/pemx_bench_make_store"
FIXED="${BUILD_DIR}/bench/pemx_bench_fixed_http"
RAW_SQLITE="${BUILD_DIR}/bench/pemx_bench_sqlite_history"
RAW_PG="${BUILD_DIR}/bench/pemx_bench_pg_history"
NEEDED=("${PEMX}" "${MAKE_STORE}" "${FIXED}" "${RAW_SQLITE}")
[[ "${STORE}" == postgres ]] && NEEDED+=("${RAW_PG}")
for b in "${NEEDED[@]}"; do
  [[ -x "${b}" ]] || die "missing ${b} (build first, or drop --no-build)"
done

bench_setup

# --- the store file ---------------------------------------------------------------------------
DIR="${STORE_DIR:-${TMP}}"
mkdir -p "${DIR}"
DB="${DIR}/history-${EVENTS}-seed${SEED}.db"
IDS="${DIR}/history-${EVENTS}-seed${SEED}.ids"
if [[ -f "${DB}" && -f "${IDS}" && -f "${DB}.json" ]]; then
  log "reusing ${DB}"
  cp "${DB}.json" "${OUT}/make_store.json"
else
  rm -f "${DB}" "${DB}-wal" "${DB}-shm" "${IDS}" "${DB}.json"
  log "writing ${EVENTS} events into ${DB} ..."
  run_child "${MAKE_STORE}" --path "${DB}" --ids-out "${IDS}" --count "${EVENTS}" --seed "${SEED}" \
    >"${OUT}/make_store.json" 2>"${OUT}/make_store.log" \
    || { cat "${OUT}/make_store.json" "${OUT}/make_store.log" >&2; die "writing the store failed"; }
  cp "${OUT}/make_store.json" "${DB}.json"
fi
log "$(cat "${OUT}/make_store.json")"
DB_BYTES="$(stat -c %s "${DB}")"

# --- the same events in PostgreSQL (--store postgres) -------------------------------------------
if [[ "${STORE}" == postgres ]]; then
  start_postgres "${PG_PORT_OPT}"
  PG_VERSION="$(pg_psql "SHOW server_version")"
  pg_psql "CREATE SCHEMA history" || die "cannot create a schema in the test PostgreSQL"
  PG_STORE="$(pg_conn_for history)"
  log "writing the same ${EVENTS} events into PostgreSQL ..."
  run_child "${MAKE_STORE}" --postgres "${PG_STORE}" --ids-out "${TMP}/pg.ids" --count "${EVENTS}" \
    --seed "${SEED}" >"${OUT}/make_store_pg.json" 2>"${OUT}/make_store_pg.log" \
    || { cat "${OUT}/make_store_pg.json" "${OUT}/make_store_pg.log" >&2; die "writing the PostgreSQL store failed"; }
  cmp -s "${TMP}/pg.ids" "${IDS}" || die "the PostgreSQL store's product ids differ from the SQLite file's"
  log "$(cat "${OUT}/make_store_pg.json")"
  PG_BYTES="$(pg_psql "SELECT pg_total_relation_size('history.events')")"
  python3 - "${CONFIG}" "${PG_STORE}" "${TMP}/pemx-pg.toml" <<'PY'
import sys
text, conn, out = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
old = 'type = "sqlite_store"\n'
at = text.index(old)
end = text.index("\n", at + len(old))
if not text.startswith("path ", at + len(old)):
    sys.exit("the config's sqlite_store section does not start with type and path")
text = text[:at] + f'type = "postgres_store"\nconnection = "{conn}"' + text[end:]
open(out, "w").write(text)
PY
  PEMX_PG_CMD=("${PEMX}" --role=web --config "${TMP}/pemx-pg.toml" --set kafka.brokers=embedded
               --set "http.listen=127.0.0.1:0" --set log.stats_interval=10s)
  "${PEMX}" check-config "${PEMX_PG_CMD[@]:2}" >"${OUT}/check-config-pg.txt" || die "pemx's PostgreSQL config is invalid"
fi

PEMX_CMD=("${PEMX}" --role=web --config "${CONFIG}" --set kafka.brokers=embedded
          --set "store.path=${DB}" --set "http.listen=127.0.0.1:0" --set log.stats_interval=10s)
"${PEMX}" check-config "${PEMX_CMD[@]:2}" >"${OUT}/check-config.txt" || die "pemx config is invalid"

start_pemx() {  # name [pg]
  if [[ "${2:-}" == pg ]]; then
    start_server "${OUT}/$1.log" "${OUT}/$1.time" "${PEMX_PG_CMD[@]}"
  else
    start_server "${OUT}/$1.log" "${OUT}/$1.time" "${PEMX_CMD[@]}"
  fi
  SRV_PORT="$(pemx_port "${OUT}/$1.log" "${SRV_PID}")"
  [[ -n "${SRV_PORT}" ]] || { tail -n 20 "${OUT}/$1.log" >&2; die "pemx did not start listening"; }
  wait_http_ok "http://127.0.0.1:${SRV_PORT}/readyz" 60 || die "pemx is not ready (see ${OUT}/$1.log)"
}

# --- probe: the size of pemx's answers --------------------------------------------------------
log "probe: ${PROBE_REQUESTS} random queries to pemx for the size of its answers ..."
probe() {  # out.json
python3 - "${SRV_PORT}" "${IDS}" "${IDS_PER_REQUEST}" "${PROBE_REQUESTS}" "${SEED}" \
  >"$1" <<'PY' || die "probe failed (see $1)"
import http.client, json, random, sys
port, ids_file, k, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ids = [l.strip() for l in open(ids_file) if l.strip()]
rnd = random.Random(seed)
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
statuses, body_bytes, events, empty = {}, 0, 0, 0
for _ in range(n):
    conn.request("GET", "/event?productIds=" + ",".join(rnd.choice(ids) for _ in range(k)))
    r = conn.getresponse()
    body = r.read()
    statuses[r.status] = statuses.get(r.status, 0) + 1
    body_bytes += len(body)
    if r.status == 200:
        got = len(json.loads(body))
        events += got
        empty += got == 0
ok = statuses.get(200, 0) == n and empty == 0
print(json.dumps({"requests": n, "statuses": statuses, "mean_body_bytes": round(body_bytes / n),
                  "mean_events": round(events / n, 2), "empty_answers": empty, "ok": ok}))
sys.exit(0 if ok else 1)
PY
}
start_pemx probe
probe "${OUT}/probe.json"
stop_server
if [[ "${STORE}" == postgres ]]; then
  start_pemx probe-pg pg
  probe "${OUT}/probe-pg.json"
  stop_server
  log "probe (PostgreSQL): $(cat "${OUT}/probe-pg.json")"
fi
BODY_BYTES="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean_body_bytes"])' "${OUT}/probe.json")"
log "probe: $(cat "${OUT}/probe.json")"

# --- rounds -----------------------------------------------------------------------------------
load_server() {  # name url
  local name=$1 url=$2 cpu0 cpu1 sys0 sys1 pg0 pg1
  export PEMX_BENCH_IDS="${IDS}" PEMX_BENCH_IDS_PER_REQUEST="${IDS_PER_REQUEST}"
  if ((WARMUP > 0)); then
    run_wrk "${OUT}/${name}.warmup.json" "${OUT}/${name}.warmup.wrk.txt" -t "${THREADS}" \
      -c "${CONNECTIONS}" -d "${WARMUP}s" --timeout 10s -s "${ROOT}/bench/history.lua" "${url}"
  fi
  cpu0="$(cpu_seconds "${SRV_PID}")"
  [[ -z "${PG_PORT}" ]] || pg0="$(postgres_cpu_seconds)"
  sys0="$(system_jiffies)"
  run_wrk "${OUT}/${name}.wrk.json" "${OUT}/${name}.wrk.txt" -t "${THREADS}" -c "${CONNECTIONS}" \
    -d "${DURATION}s" --timeout 10s -s "${ROOT}/bench/history.lua" "${url}"
  sys1="$(system_jiffies)"
  [[ -z "${PG_PORT}" ]] || pg1="$(postgres_cpu_seconds)"
  cpu1="$(cpu_seconds "${SRV_PID}")"
  # The PostgreSQL server's CPU over the run (null without one).
  PG_CPU=null
  [[ -z "${PG_PORT}" ]] || PG_CPU="$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "${pg0:-0}" "${pg1:-0}")"
  SRV_CPU="$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "${cpu0:-0}" "${cpu1:-0}")"
  # The machine's busy share over the run (every process: wrk, the server, anything else).
  BUSY="$(python3 -c 'import sys
b0, t0 = map(int, sys.argv[1].split()); b1, t1 = map(int, sys.argv[2].split())
print(round((b1 - b0) / max(1, t1 - t0), 3))' "${sys0}" "${sys1}")"
}

# "busy total" jiffies of all CPUs from /proc/stat: user nice system idle iowait irq softirq
# (steal, the time the hypervisor gave elsewhere, and guest, counted in user, left out); busy
# is all but idle and iowait.
system_jiffies() {
  awk '/^cpu / {t = 0; for (i = 2; i <= 8; i++) t += $i; print t - $5 - $6, t; exit}' /proc/stat
}

rate() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.0f requests/s, p50 %.1f ms, p99 %.1f ms, non-2xx %d" % (d["requests_per_s"], d["p50_ms"], d["p99_ms"], d["errors_status"]))' "$1"
}

# SQLite alone for DURATION/2 s (at least 1): part a before pemx's load, part b after it.
sqlite_alone() {  # round part
  local half=$(((DURATION + 1) / 2)) part=0
  [[ "$2" == a ]] || part=1
  run_child "${RAW_SQLITE}" --path "${DB}" --ids-file "${IDS}" --ids "${IDS_PER_REQUEST}" \
    --threads 1 --duration "${half}" --seed "$((SEED + 2 * $1 + part))" \
    >"${OUT}/sqlite.r$1$2.json" 2>"${OUT}/sqlite.r$1$2.log" \
    || { cat "${OUT}/sqlite.r$1$2.log" >&2; die "pemx_bench_sqlite_history failed"; }
}
# The two parts as one: their queries, rows and CPU added.
merge_sqlite() {  # round
  python3 - "${OUT}/sqlite.r$1a.json" "${OUT}/sqlite.r$1b.json" >"${OUT}/sqlite.r$1.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
q, rows, cpu, el = (a[k] + b[k] for k in ("queries", "rows", "cpu_s", "elapsed_s"))
print(json.dumps({"tool": a["tool"], "parts": [a["cpu_ms_per_query"], b["cpu_ms_per_query"]],
                  "queries": q, "rows": rows, "rows_per_query": rows / q, "elapsed_s": el,
                  "queries_per_s": q / el, "cpu_s": cpu, "cpu_ms_per_query": 1000 * cpu / q}))
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
  log "round ${r}/${ROUNDS}: baseline (fixed ${BODY_BYTES}-byte body) ..."
  start_server "${OUT}/base.r${r}.log" "${OUT}/base.r${r}.time" "${FIXED}" --threads 2 \
    --body-bytes "${BODY_BYTES}"
  SRV_PORT="$(json_port "${OUT}/base.r${r}.log.stdout" "${SRV_PID}")"
  [[ -n "${SRV_PORT}" ]] || die "the baseline server did not start"
  load_server "base.r${r}" "http://127.0.0.1:${SRV_PORT}/"
  stop_server
  printf '{"exit_code":%d,"cpu_s":%s,"busy":%s}\n' "${SRV_EXIT}" "${SRV_CPU}" "${BUSY}" \
    >"${OUT}/base.r${r}.proc.json"
  log "round ${r}/${ROUNDS}: baseline $(rate "${OUT}/base.r${r}.wrk.json")"
  sleep 1

  if [[ "${STORE}" == sqlite ]]; then
    log "round ${r}/${ROUNDS}: SQLite alone, first half (same questions, in process, one thread) ..."
    sqlite_alone "${r}" a
  fi

  log "round ${r}/${ROUNDS}: pemx ..."
  start_pemx "pemx.r${r}"
  load_server "pemx.r${r}" "http://127.0.0.1:${SRV_PORT}/"
  stop_server
  pemx_proc_json "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${SRV_EXIT}" "${SRV_HWM}" \
    "\"cpu_s\":${SRV_CPU},\"busy\":${BUSY}" >"${OUT}/pemx.r${r}.proc.json"
  log "round ${r}/${ROUNDS}: pemx $(rate "${OUT}/pemx.r${r}.wrk.json")"
  sleep 1

  if [[ "${STORE}" == postgres ]]; then
    log "round ${r}/${ROUNDS}: pemx on PostgreSQL ..."
    start_pemx "pemxpg.r${r}" pg
    load_server "pemxpg.r${r}" "http://127.0.0.1:${SRV_PORT}/"
    stop_server
    pemx_proc_json "${OUT}/pemxpg.r${r}.log" "${OUT}/pemxpg.r${r}.time" "${SRV_EXIT}" "${SRV_HWM}" \
      "\"cpu_s\":${SRV_CPU},\"postgres_cpu_s\":${PG_CPU},\"busy\":${BUSY}" >"${OUT}/pemxpg.r${r}.proc.json"
    log "round ${r}/${ROUNDS}: pemx on PostgreSQL $(rate "${OUT}/pemxpg.r${r}.wrk.json")"
    sleep 1
    # PostgreSQL alone: the same questions from a plain libpq client, one connection; its own
    # CPU (in its JSON line) plus the server's over the same seconds.
    log "round ${r}/${ROUNDS}: PostgreSQL alone (same questions, one libpq connection) ..."
    pg0="$(postgres_cpu_seconds)"
    run_child "${RAW_PG}" --conn "${PG_STORE}" --ids-file "${IDS}" --ids "${IDS_PER_REQUEST}" \
      --threads 1 --duration "${DURATION}" --seed "$((SEED + r))" >"${OUT}/pgalone.r${r}.json" \
      2>"${OUT}/pgalone.r${r}.log" || { cat "${OUT}/pgalone.r${r}.log" >&2; die "pemx_bench_pg_history failed"; }
    pg1="$(postgres_cpu_seconds)"
    python3 - "${OUT}/pgalone.r${r}.json" "${pg0:-0}" "${pg1:-0}" <<'PY'
import json, sys
path, before, after = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
line = json.load(open(path))
line["postgres_cpu_s"] = round(after - before, 2)
json.dump(line, open(path, "w"))
PY
    log "round ${r}/${ROUNDS}: PostgreSQL alone $(cat "${OUT}/pgalone.r${r}.json")"
    sleep 1
    continue
  fi

  log "round ${r}/${ROUNDS}: SQLite alone, second half ..."
  sqlite_alone "${r}" b
  merge_sqlite "${r}"
  log "round ${r}/${ROUNDS}: SQLite alone $(cat "${OUT}/sqlite.r${r}.json")"
done

if [[ "${STORE}" == postgres ]]; then
MACHINE="$(machine_description "wrk, the server, PostgreSQL and SQLite all run on these 2 cores; the SQLite file and the PostgreSQL table are in the page cache after the first round")"
python3 - "${OUT}" "${ROUNDS}" "${EVENTS}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description); PostgreSQL ${PG_VERSION}" "${DB_BYTES}" "${PG_BYTES}" "${DURATION}" \
  "${IDS_PER_REQUEST}" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, rounds, events, command, machine, run_id, code, db_bytes, pg_bytes, duration, ids = sys.argv[1:12]
rounds, events, db_bytes, pg_bytes = int(rounds), int(events), int(db_bytes), int(pg_bytes)
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
mib = lambda k: f"{k / 1024:.0f} MiB" if isinstance(k, (int, float)) else "?"
made, probe, probe_pg = load("make_store.json"), load("probe.json"), load("probe-pg.json")
made_pg = load("make_store_pg.json")
rows = []
rps = {"base": [], "sq": [], "pg": []}
cpu = {"base": [], "sq": [], "pg": [], "pgsrv": [], "alone": []}
lat = {"sq50": [], "sq99": [], "pg50": [], "pg99": []}
def per_req(v, w):
    return 1000 * v / w["requests"] if isinstance(v, (int, float)) and w.get("requests") else None
f3 = lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else "?"
errs = lambda w: (f"{w['errors_status']}/{w['errors_connect'] + w['errors_read'] + w['errors_write']}"
                  f"/{w['errors_timeout']}")
for r in range(1, rounds + 1):
    b, s, p = load(f"base.r{r}.wrk.json"), load(f"pemx.r{r}.wrk.json"), load(f"pemxpg.r{r}.wrk.json")
    bp, sp, pp = load(f"base.r{r}.proc.json"), load(f"pemx.r{r}.proc.json"), load(f"pemxpg.r{r}.proc.json")
    rps["base"].append(b["requests_per_s"]); rps["sq"].append(s["requests_per_s"])
    rps["pg"].append(p["requests_per_s"])
    c = {"base": per_req(bp.get("cpu_s"), b), "sq": per_req(sp.get("cpu_s"), s),
         "pg": per_req(pp.get("cpu_s"), p), "pgsrv": per_req(pp.get("postgres_cpu_s"), p)}
    a = load(f"pgalone.r{r}.json")
    if a.get("queries") and a.get("cpu_s") is not None and a.get("postgres_cpu_s") is not None:
        c["alone"] = 1000 * (a["cpu_s"] + a["postgres_cpu_s"]) / a["queries"]
    for k, v in c.items():
        if v is not None: cpu[k].append(v)
    lat["sq50"].append(s["p50_ms"]); lat["sq99"].append(s["p99_ms"])
    lat["pg50"].append(p["p50_ms"]); lat["pg99"].append(p["p99_ms"])
    total = c["pg"] + c["pgsrv"] if c["pg"] is not None and c["pgsrv"] is not None else None
    rows.append("| " + " | ".join([
        str(r), f"{b['requests_per_s']:,.0f}", errs(b), f3(c["base"]),
        f"{s['requests_per_s']:,.0f}", f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", errs(s),
        f3(c["sq"]),
        f"{p['requests_per_s']:,.0f}", f"{p['p50_ms']:.1f}", f"{p['p99_ms']:.1f}", errs(p),
        f3(c["pg"]), f3(c["pgsrv"]), f3(total), mib(pp.get("peak_rss_kib")),
        f"{sp.get('exit_code')}/{pp.get('exit_code')}"]) + " |")
m = {k: statistics.median(v) for k, v in rps.items()}
mc = {k: statistics.median(v) if v else None for k, v in cpu.items()}
ml = {k: statistics.median(v) for k, v in lat.items()}
print(f"### `pemx --role=web` history (GET /event) on PostgreSQL and on SQLite, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; pemx with kafka.brokers=embedded (only HTTP is measured)")
print(f"- machine: {machine}")
print(f"- stores: the same {made.get('stored', 0):,} EventGenerator events of "
      f"{made.get('products', 0):,} products written by pemx_bench_make_store, into a SQLite file "
      f"({db_bytes / 2**20:,.0f} MiB) and, through the postgres_store backend, into one "
      f"PostgreSQL table ({made_pg.get('stored', 0):,} rows, table and indexes "
      f"{pg_bytes / 2**20:,.0f} MiB, VACUUM ANALYZE after the load; server: tests/postgres/postgres.sh, "
      f"shared_buffers 64 MB; pemx's reader pool: `readers` = 4)")
print(f"- answers to {probe.get('requests')} random queries: SQLite {probe.get('mean_events')} events, "
      f"{probe.get('mean_body_bytes'):,} bytes on average (the baseline's body size); PostgreSQL "
      f"{probe_pg.get('mean_events')} events, {probe_pg.get('mean_body_bytes'):,} bytes; all 200: "
      f"{'yes' if probe.get('ok') and probe_pg.get('ok') else 'NO'}")
print(f"- load: wrk, {duration} s per server and round after a warm-up; each request names random "
      f"existing product ids (bench/history.lua); per round: baseline, pemx on SQLite, pemx on "
      f"PostgreSQL\n")
print("| round | baseline requests/s | baseline non-2xx/socket errors/timeouts | baseline CPU ms per request | "
      "SQLite: pemx requests/s | p50 ms | p99 ms | non-2xx/socket errors/timeouts | pemx CPU ms per request | "
      "PostgreSQL: pemx requests/s | p50 ms | p99 ms | non-2xx/socket errors/timeouts | pemx CPU ms per request | "
      "PostgreSQL server CPU ms per request | pemx + server CPU ms per request | pemx peak RSS (PostgreSQL) | "
      "pemx exit (SQLite/PostgreSQL) |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print("\n".join(rows))
ratio = lambda k: m[k] / m["base"] if m["base"] else 0
print(f"\n**Medians: baseline {m['base']:,.0f} requests/s; pemx on SQLite {m['sq']:,.0f} "
      f"(ratio {ratio('sq'):.2f}, p50 {ml['sq50']:.1f} ms, p99 {ml['sq99']:.1f} ms); pemx on "
      f"PostgreSQL {m['pg']:,.0f} (ratio {ratio('pg'):.2f}, p50 {ml['pg50']:.1f} ms, p99 "
      f"{ml['pg99']:.1f} ms); PostgreSQL / SQLite = {m['pg'] / m['sq'] if m['sq'] else 0:.2f}.**")
if all(mc[k] is not None for k in mc):
    print(f"CPU per request (medians): fixed-body server {mc['base']:.3f} ms; pemx on SQLite "
          f"{mc['sq']:.3f} ms (SQLite runs inside pemx); pemx on PostgreSQL {mc['pg']:.3f} ms plus "
          f"the PostgreSQL server's {mc['pgsrv']:.3f} ms = {mc['pg'] + mc['pgsrv']:.3f} ms, "
          f"{(mc['pg'] + mc['pgsrv']) / mc['sq']:.1f} times the SQLite store's.")
own = mc["base"] + mc["alone"] if mc["base"] is not None and mc["alone"] is not None else None
pg_total = mc["pg"] + mc["pgsrv"] if mc["pg"] is not None and mc["pgsrv"] is not None else None
if own and pg_total:
    print(f"PostgreSQL alone (a plain libpq client asking the same questions on one connection, "
          f"its CPU plus the server's): {mc['alone']:.3f} ms per query; with a fixed HTTP answer "
          f"({mc['base']:.3f} ms) {own:.3f} ms against pemx's {pg_total:.3f} ms (pemx + server): "
          f"**ratio {pg_total / own:.2f}** (target <= 1.5: {'met' if pg_total / own <= 1.5 else 'NOT met'}).")
print("pemx's warn line is the embedded Kafka notice (`embedded Kafka cluster started`).")
# summary.json (bench/run_all.sh): medians; issue 13's figure is pemx's CPU per request (its
# own and the server's) against a fixed HTTP answer's plus PostgreSQL alone's.
json.dump({"figures": [
    {"key": f"history.postgres.ids{ids}.requests", "label": f"history on PostgreSQL, {ids} id{'s' if ids != '1' else ''} "
     "per request", "unit": "requests/s", "value": m["pg"], "baseline": m["base"],
     "baseline_label": "fixed-body HTTP server", "ratio": ratio("pg")},
    {"key": f"history.postgres.ids{ids}.cpu", "label": f"history on PostgreSQL, {ids} id{'s' if ids != '1' else ''} per "
     "request, CPU per request (pemx + server)", "unit": "ms", "value": pg_total,
     "baseline": own, "baseline_label": "fixed HTTP answer + PostgreSQL alone (client + server)",
     "ratio": pg_total / own if pg_total and own else None, "lower_is_better": True}]},
    open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json "history-postgres-ids${IDS_PER_REQUEST}" "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"
if ((UPDATE_DOC)); then update_doc "${DOC_BLOCK}" "${OUT}/summary.md"; fi
exit 0
fi
MACHINE="$(machine_description "wrk, the server and (for pemx) SQLite all run on these 2 cores; the store file is in the page cache after the first round")"
python3 - "${OUT}" "${ROUNDS}" "${EVENTS}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description)" "${DB_BYTES}" "${DURATION}" "${IDS_PER_REQUEST}" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, rounds, events, command, machine, run_id, code, db_bytes, duration, ids = sys.argv[1:11]
rounds, events, db_bytes = int(rounds), int(events), int(db_bytes)
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
mib = lambda k: f"{k / 1024:.0f} MiB" if isinstance(k, (int, float)) else "?"
made, probe = load("make_store.json"), load("probe.json")
rows, base, pemx, raw = [], [], [], []
base_cpu, pemx_cpu, busy, round_ratio = [], [], [], []
for r in range(1, rounds + 1):
    b, p = load(f"base.r{r}.wrk.json"), load(f"pemx.r{r}.wrk.json")
    bp, pp, s = load(f"base.r{r}.proc.json"), load(f"pemx.r{r}.proc.json"), load(f"sqlite.r{r}.json")
    base.append(b["requests_per_s"]); pemx.append(p["requests_per_s"]); raw.append(s)
    if bp.get("cpu_s") is not None and b["requests"]: base_cpu.append(1000 * bp["cpu_s"] / b["requests"])
    if pp.get("cpu_s") is not None and p["requests"]: pemx_cpu.append(1000 * pp["cpu_s"] / p["requests"])
    if bp.get("busy") is not None: busy.append(bp["busy"])
    # Issue 13's figure within the round: pemx's CPU per request against the fixed answer's
    # plus SQLite alone's, all three measured in the same few minutes.
    rr = None
    if bp.get("cpu_s") is not None and pp.get("cpu_s") is not None and b["requests"] and p["requests"]:
        rr = (pp["cpu_s"] / p["requests"]) / (bp["cpu_s"] / b["requests"] + s["cpu_ms_per_query"] / 1000)
        round_ratio.append(rr)
    errs = lambda w: (f"{w['errors_status']}/{w['errors_connect'] + w['errors_read'] + w['errors_write']}"
                      f"/{w['errors_timeout']}")
    cpu_ms = lambda proc, w: (f"{1000 * proc['cpu_s'] / w['requests']:.3f}"
                              if proc.get("cpu_s") is not None and w["requests"] else "?")
    rows.append("| " + " | ".join([
        str(r), f"{b['requests_per_s']:,.0f}", f"{b['p50_ms']:.1f}", f"{b['p99_ms']:.1f}",
        errs(b), cpu_ms(bp, b),
        f"{p['requests_per_s']:,.0f}", f"{p['p50_ms']:.1f}", f"{p['p99_ms']:.1f}", errs(p),
        cpu_ms(pp, p), mib(pp.get("peak_rss_kib")), str(pp.get("exit_code")),
        f"{pp.get('warn_lines')}/{pp.get('error_lines')}",
        f"{s['queries_per_s']:,.0f}", f"{s['cpu_ms_per_query']:.3f}",
        "/".join(f"{x:.3f}" for x in s.get("parts", [])) or "-",
        f"{rr:.2f}" if rr is not None else "?"]) + " |")
mb, mp = statistics.median(base), statistics.median(pemx)
ratio = mp / mb if mb else 0
p50 = statistics.median(load(f"pemx.r{r}.wrk.json")["p50_ms"] for r in range(1, rounds + 1))
p99 = statistics.median(load(f"pemx.r{r}.wrk.json")["p99_ms"] for r in range(1, rounds + 1))
b50 = statistics.median(load(f"base.r{r}.wrk.json")["p50_ms"] for r in range(1, rounds + 1))
b99 = statistics.median(load(f"base.r{r}.wrk.json")["p99_ms"] for r in range(1, rounds + 1))
print(f"### `pemx --role=web` history (GET /event) vs fixed-body server, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; pemx with kafka.brokers=embedded (only HTTP is measured)")
print(f"- machine: {machine}")
print(f"- store: {made.get('stored', 0):,} EventGenerator events of {made.get('products', 0):,} "
      f"products (1 to 3 events each) written by pemx_bench_make_store, {db_bytes / 2**20:,.0f} MiB; "
      f"pemx's answers to {probe.get('requests')} random queries: {probe.get('mean_events')} events, "
      f"**{probe.get('mean_body_bytes'):,} bytes** on average (the baseline's body size), all 200")
print(f"- load: wrk, {duration} s per server and round after a warm-up; each request names random "
      f"existing product ids (bench/history.lua)\n")
print("| round | baseline requests/s | baseline p50 ms | baseline p99 ms | baseline non-2xx/socket errors/timeouts | "
      "baseline CPU ms per request | pemx requests/s | pemx p50 ms | pemx p99 ms | "
      "pemx non-2xx/socket errors/timeouts | pemx CPU ms per request | pemx peak RSS | pemx exit | "
      "pemx warn/error lines | SQLite alone queries/s | SQLite alone CPU ms per query | "
      "SQLite alone before/after pemx | pemx CPU / (baseline + SQLite alone) |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print("\n".join(rows))
print(f"\n**Median baseline {mb:,.0f} requests/s (p50 {b50:.1f} ms, p99 {b99:.1f} ms); median pemx "
      f"{mp:,.0f} requests/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms); ratio median(pemx) / "
      f"median(baseline) = {ratio:.2f}** (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'}).")
raw_cpu = statistics.median(x["cpu_ms_per_query"] for x in raw)
raw_qps = statistics.median(x["queries_per_s"] for x in raw)
raw_rows = statistics.median(x["rows_per_query"] for x in raw)
if base_cpu and pemx_cpu:
    bc, pc = statistics.median(base_cpu), statistics.median(pemx_cpu)
    print(f"CPU per request (medians): fixed-body server {bc:.3f} ms, pemx {pc:.3f} ms; SQLite alone "
          f"answers the same questions ({raw_rows:.1f} rows each) in {raw_cpu:.3f} ms of CPU per query "
          f"({raw_qps:,.0f} queries/s on one thread, no HTTP, no load beside it), so an HTTP answer "
          f"plus SQLite's own work is {bc + raw_cpu:.3f} ms, {100 * (bc + raw_cpu) / pc:.0f} % of "
          f"what pemx spends.")
    if round_ratio:
        print(f"**Issue 13's figure, pemx's CPU per request / (fixed HTTP answer + SQLite alone), each "
              f"round's three measured side by side: {', '.join(f'{x:.2f}' for x in round_ratio)}; "
              f"median {statistics.median(round_ratio):.2f}** (target <= 1.5: "
              f"{'met' if statistics.median(round_ratio) <= 1.5 else 'NOT met'}).")
    if busy:
        # At rate B the baseline run kept the machine busy u: B * (w + s_b) = C * u, w being
        # wrk's (and anything else's) CPU per request. At half that rate, with w unchanged,
        # the server may spend C / (B / 2) - w = C * (2 - u) / B + s_b per request.
        u, cores = statistics.median(busy), os.cpu_count() or 1
        budget = 1000 * cores * (2 - u) / mb + bc
        print(f"The target's budget: the baseline runs kept the {cores} cores {100 * u:.0f} % busy at "
              f"{mb:,.0f} requests/s; at half that rate, with wrk's cost per request unchanged, the "
              f"server may spend **{budget:.3f} ms of CPU per request**; an HTTP answer "
              f"({bc:.3f} ms) plus SQLite alone ({raw_cpu:.3f} ms) is {bc + raw_cpu:.3f} ms, "
              f"{'more' if bc + raw_cpu > budget else 'less'} than that.")
print("pemx's warn line is the embedded Kafka notice (`embedded Kafka cluster started`).")
# summary.json (bench/run_all.sh): medians; issue 13's history figure is pemx's CPU per request
# against a fixed HTTP answer's plus SQLite alone's.
bc = statistics.median(base_cpu) if base_cpu else None
pc = statistics.median(pemx_cpu) if pemx_cpu else None
own = bc + raw_cpu if bc is not None else None
json.dump({"figures": [
    {"key": f"history.sqlite.ids{ids}.requests", "label": f"history on SQLite, {ids} id{'s' if ids != '1' else ''} per "
     "request", "unit": "requests/s", "value": mp, "baseline": mb,
     "baseline_label": "fixed-body HTTP server", "ratio": ratio},
    {"key": f"history.sqlite.ids{ids}.cpu", "label": f"history on SQLite, {ids} id{'s' if ids != '1' else ''} per "
     "request, CPU per request", "unit": "ms", "value": pc, "baseline": own,
     "baseline_label": "fixed HTTP answer + SQLite alone",
     "ratio": statistics.median(round_ratio) if round_ratio else None, "lower_is_better": True}]},
    open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json "history-ids${IDS_PER_REQUEST}" "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"
if ((UPDATE_DOC)); then update_doc "${DOC_BLOCK}" "${OUT}/summary.md"; fi
