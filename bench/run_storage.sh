#!/usr/bin/env bash
# bench/run_storage.sh — how fast `pemx --role=web` stores a backlog of the storage topic in
# SQLite, against a plain librdkafka + SQLite program doing the same work, on a real Kafka
# 3.7.1 broker (tests/broker/kafka.sh) on loopback.
#
#   1. builds pemx and the bench programs (Release) in BUILD_DIR unless --no-build;
#   2. starts a fresh broker on 127.0.0.1:PORT (PORT+1: controller) and always stops it;
#   3. creates product-event-storage-pemx (3 partitions) and preloads EVENTS events with
#      pemx_bench_load (EventGenerator, fixed seed, key = productId, acks=all), the stream the
#      dist role writes there;
#   4. for each of ROUNDS rounds:
#        a. pemx_bench_sqlite_baseline (fresh group, fresh SQLite file): consume from the
#           beginning, insert the store's rows with the store's batching (500 rows per
#           transaction, 20 ms linger, WAL, synchronous=FULL), commit offsets; its own timing;
#        b. pemx --role=web (fresh group via stages.store_ingest.group_id, fresh file via
#           store.path, HTTP on a free loopback port): timed from launch until the file holds
#           EVENTS rows and until the group's committed offsets reach EVENTS
#           (pemx_bench_wait_stored), then SIGTERM; peak RSS from GNU time;
#        c. both files must hold the same EVENTS rows (count, distinct event ids, and a digest
#           of every stored column but stored_at_ms);
#   5. prints a table (per round events/s, medians, ratio median(pemx)/median(baseline)) and
#      with --update-doc rewrites the storage results block of docs/benchmarks.md.
#
# With --store postgres the same on PostgreSQL: a fresh PostgreSQL 15 on 127.0.0.1:PG_PORT
# (tests/postgres/postgres.sh, stopped on exit); the baseline is pemx_bench_pg_baseline (libpq,
# the postgres_store backend's statement and batching, offsets committed after each batch),
# pemx runs the postgres_store stage (the repo's config with [stages.store] switched to it);
# each run writes a fresh schema; pemx_bench_wait_stored --pg times pemx; the two schemas must
# hold the same rows; the PostgreSQL server's CPU time (every process of the cluster, from
# /proc) is measured over each run beside the client's (GNU time); --update-doc rewrites the
# storage-postgres block.
#
# Raw outputs go to bench/results/<UTC time>-run_storage/ (-run_storage_pg with --store
# postgres). Needs: java + mvn (the broker), python3, GNU time (optional); for postgres the
# PostgreSQL 15 server and psql (scripts/install-deps.sh --test).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_storage
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"

ROUNDS=3
EVENTS=200000
PORT=39092
SEED=1
PARTITIONS=3
BUILD_DIR="${ROOT}/build-bench"
BUILD=1
UPDATE_DOC=0
CONFIG=""
ROUND_TIMEOUT=240   # seconds, per timed program
TOPIC=product-event-storage-pemx
STORE=sqlite
PG_PORT_OPT=39096

usage() {
  cat <<EOF
usage: bench/run_storage.sh [options]
  --rounds R        rounds of (baseline, pemx) (default ${ROUNDS})
  --events N        events preloaded and stored per run (default ${EVENTS})
  --port P          broker port; P+1 is its controller port (default ${PORT})
  --seed S          generator seed (default ${SEED})
  --build-dir DIR   where to build (default build-bench)
  --no-build        use the binaries already in --build-dir
  --update-doc      write the results into docs/benchmarks.md
  --config FILE     the pemx config (default: the repo's pemx.toml)
  --store S         sqlite (default) or postgres: which store pemx and the baseline write
  --pg-port P       PostgreSQL's port with --store postgres (default ${PG_PORT_OPT})
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
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
[[ "${ROUNDS}" =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "--rounds: 1..20" >&2; exit 2; }
[[ "${EVENTS}" =~ ^[0-9]+$ ]] && ((EVENTS >= 1)) || { echo "--events: a positive integer" >&2; exit 2; }
[[ "${STORE}" == sqlite || "${STORE}" == postgres ]] || { echo "--store: sqlite or postgres" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 not found"
if [[ "${STORE}" == postgres ]]; then
  command -v psql >/dev/null || die "psql not found (scripts/install-deps.sh --test)"
  RESULTS_SUFFIX="-run_storage_pg"
fi
CONFIG="$(cd "$(dirname "${CONFIG:-${ROOT}/pemx.toml}")" && pwd)/$(basename "${CONFIG:-pemx.toml}")"
[[ -f "${CONFIG}" ]] || die "no config ${CONFIG}"
COMMAND_LINE="bench/run_storage.sh --rounds ${ROUNDS} --events ${EVENTS} --port ${PORT} --seed ${SEED}"
[[ "${CONFIG}" == "${ROOT}/pemx.toml" ]] || COMMAND_LINE+=" --config ${CONFIG}"
[[ "${STORE}" == sqlite ]] || COMMAND_LINE+=" --store ${STORE} --pg-port ${PG_PORT_OPT}"

if ((BUILD)); then
  log "building in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPEMX_BUILD_TESTS=OFF >/dev/null
  EXTRA_TARGETS=()
  [[ "${STORE}" == sqlite ]] || EXTRA_TARGETS=(pemx_bench_pg_baseline)
  ninja -C "${BUILD_DIR}" -j2 pemx pemx_bench_load pemx_bench_sqlite_baseline \
    pemx_bench_wait_stored "${EXTRA_TARGETS[@]}" >/dev/null
fi
PEMX="${BUILD_DIR}/pemx"
LOAD="${BUILD_DIR}/bench/pemx_bench_load"
BASELINE="${BUILD_DIR}/bench/pemx_bench_sqlite_baseline"
WAIT="${BUILD_DIR}/bench/pemx_bench_wait_stored"
PG_BASELINE="${BUILD_DIR}/bench/pemx_bench_pg_baseline"
[[ "${STORE}" == sqlite ]] || BASELINE="${PG_BASELINE}"
for b in "${PEMX}" "${LOAD}" "${BASELINE}" "${WAIT}"; do
  [[ -x "${b}" ]] || die "missing ${b} (build first, or drop --no-build)"
done

bench_setup
BROKERS="127.0.0.1:${PORT}"
start_broker "${PORT}"
if [[ "${STORE}" == postgres ]]; then
  start_postgres "${PG_PORT_OPT}"
  PG_VERSION="$(pg_psql "SHOW server_version")"
  # The repo's config with the web role's store on PostgreSQL: [stages.store]'s type and path
  # become postgres_store and a connection (the tests' postgres_config does the same).
  pg_config() {  # connection file
    python3 - "${CONFIG}" "$1" "$2" <<'PY'
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
  }
fi
log "preloading ${EVENTS} events into ${TOPIC} (${PARTITIONS} partitions, seed ${SEED}) ..."
run_child "${LOAD}" --brokers "${BROKERS}" --topic "${TOPIC}" --count "${EVENTS}" --seed "${SEED}" \
  --partitions "${PARTITIONS}" --timeout "${ROUND_TIMEOUT}" >"${OUT}/load.json" \
  2>"${OUT}/load.log" || { cat "${OUT}/load.json" "${OUT}/load.log" >&2; die "preload failed"; }
log "$(cat "${OUT}/load.json")"
# The first consumer group on a fresh broker waits ~1.3 s for __consumer_offsets to be
# created; a throw-away group pays it here, not round 1's baseline.
log "warming up the group coordinator ..."
if [[ "${STORE}" == sqlite ]]; then WARM_TARGET=(--path "${TMP}/warmup.db"); else
  pg_psql "CREATE SCHEMA bench_warmup" || die "cannot create a schema in the test PostgreSQL"
  WARM_TARGET=(--connection "$(pg_conn_for bench_warmup)")
fi
run_child "${BASELINE}" --brokers "${BROKERS}" --topic "${TOPIC}" --group "bench-warmup-${RUN_ID}" \
  --count 1 "${WARM_TARGET[@]}" --timeout 60 >"${OUT}/warmup.json" 2>"${OUT}/warmup.log" \
  || { cat "${OUT}/warmup.json" "${OUT}/warmup.log" >&2; die "warm-up failed"; }
rm -f "${TMP}/warmup.db"*
[[ "${STORE}" == sqlite ]] || pg_psql "DROP SCHEMA bench_warmup CASCADE"

# Same rows in both files? count, distinct ids, digest of every column but stored_at_ms.
check_rows() {  # base.db pemx.db out.json
  python3 - "$@" "${EVENTS}" <<'PY'
import hashlib, json, sqlite3, sys
base, pemx, out, expect = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def digest(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    n, d = db.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
    h = hashlib.sha256()
    for row in db.execute("SELECT event_id, event_type, product_id, region, created_at, created_ms,"
                          " data_json, raw_json, source_topic, source_partition, source_offset"
                          " FROM events ORDER BY event_id"):
        h.update(repr(row).encode())
    db.close()
    return {"rows": n, "distinct_ids": d, "sha256": h.hexdigest()}
b, p = digest(base), digest(pemx)
ok = b["rows"] == expect and b["distinct_ids"] == expect and b == p
json.dump({"ok": ok, "expect": expect, "baseline": b, "pemx": p}, open(out, "w"))
sys.exit(0 if ok else 1)
PY
}

run_baseline() {  # round
  local r=$1 rc=0
  local -a cmd=("${BASELINE}" --brokers "${BROKERS}" --topic "${TOPIC}"
                --group "bench-sqlbase-r${r}-${RUN_ID}" --count "${EVENTS}"
                --path "${TMP}/base.r${r}.db" --timeout "${ROUND_TIMEOUT}")
  if [[ -n "${GNU_TIME}" ]]; then cmd=("${GNU_TIME}" -v -o "${OUT}/base.r${r}.time" "${cmd[@]}"); fi
  run_child "${cmd[@]}" >"${OUT}/base.r${r}.json" 2>"${OUT}/base.r${r}.log" || rc=$?
  ((rc == 0)) || { cat "${OUT}/base.r${r}.json" "${OUT}/base.r${r}.log" >&2; die "baseline round ${r} failed (${rc})"; }
}

run_pemx() {  # round
  local r=$1 group="bench-store-r$1-${RUN_ID}" db="${TMP}/pemx.r$1.db" start_ms rc=0
  local -a cmd=("${PEMX}" --role=web --config "${CONFIG}" --set "kafka.brokers=${BROKERS}"
                --set "store.path=${db}" --set "stages.store_ingest.group_id=${group}"
                --set "http.listen=127.0.0.1:0" --set log.stats_interval=5s)
  "${PEMX}" check-config "${cmd[@]:2}" >"${OUT}/pemx.r${r}.check-config.txt" || die "pemx config is invalid"
  start_ms="$(date +%s%3N)"
  start_server "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${cmd[@]}"
  run_child "${WAIT}" --brokers "${BROKERS}" --group "${group}" --topic "${TOPIC}" --db "${db}" \
    --expect "${EVENTS}" --start-ms "${start_ms}" --pid "${SRV_PID}" --timeout "${ROUND_TIMEOUT}" \
    >"${OUT}/pemx.r${r}.wait.json" 2>>"${OUT}/pemx.r${r}.wait.log" || rc=$?
  stop_server
  pemx_proc_json "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${SRV_EXIT}" "${SRV_HWM}" \
    >"${OUT}/pemx.r${r}.proc.json"
  ((rc == 0)) || { cat "${OUT}/pemx.r${r}.wait.json" >&2; tail -n 20 "${OUT}/pemx.r${r}.log" >&2; die "pemx round ${r} did not store ${EVENTS} events"; }
}

# --- PostgreSQL variants (--store postgres) ---------------------------------------------------
# Same rows in both schemas? count, distinct ids, digest of every column but stored_at_ms.
check_pg_rows() {  # base-schema pemx-schema out.json
  local b p
  local digest="SELECT count(*) || ' ' || count(DISTINCT event_id) || ' ' ||
    md5(string_agg(md5(concat_ws('|', event_id, event_type, product_id, region, created_at,
      created_ms, data_json, raw_json, source_topic, source_partition, source_offset)), ''
      ORDER BY event_id)) FROM"
  b="$(pg_psql "${digest} $1.events")" || b="error"
  p="$(pg_psql "${digest} $2.events")" || p="error"
  python3 - "${b}" "${p}" "${EVENTS}" "$3" <<'PY'
import json, sys
def parse(s):
    f = s.split()
    return {"rows": int(f[0]), "distinct_ids": int(f[1]), "md5": f[2]} if len(f) == 3 else {"error": s}
b, p, expect, out = parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ok = b.get("rows") == expect and b.get("distinct_ids") == expect and b == p
json.dump({"ok": ok, "expect": expect, "baseline": b, "pemx": p}, open(out, "w"))
sys.exit(0 if ok else 1)
PY
}

cpu_delta() { python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "${1:-0}" "${2:-0}"; }

run_pg_baseline() {  # round
  local r=$1 rc=0 cpu0 cpu1 client
  pg_psql "CREATE SCHEMA base_r${r}" || die "cannot create schema base_r${r}"
  local -a cmd=("${BASELINE}" --brokers "${BROKERS}" --topic "${TOPIC}"
                --group "bench-pgbase-r${r}-${RUN_ID}" --count "${EVENTS}"
                --connection "$(pg_conn_for "base_r${r}")" --timeout "${ROUND_TIMEOUT}")
  if [[ -n "${GNU_TIME}" ]]; then cmd=("${GNU_TIME}" -v -o "${OUT}/base.r${r}.time" "${cmd[@]}"); fi
  cpu0="$(postgres_cpu_seconds)"
  run_child "${cmd[@]}" >"${OUT}/base.r${r}.json" 2>"${OUT}/base.r${r}.log" || rc=$?
  cpu1="$(postgres_cpu_seconds)"
  client="$(time_cpu "${OUT}/base.r${r}.time")"
  printf '{"postgres_cpu_s":%s,"client_cpu_s":%s}\n' "$(cpu_delta "${cpu0}" "${cpu1}")" \
    "${client:-null}" >"${OUT}/base.r${r}.cpu.json"
  ((rc == 0)) || { cat "${OUT}/base.r${r}.json" "${OUT}/base.r${r}.log" >&2; die "baseline round ${r} failed (${rc})"; }
}

run_pg_pemx() {  # round
  local r=$1 group="bench-pgstore-r$1-${RUN_ID}" conn start_ms rc=0 cpu0 cpu1 client
  pg_psql "CREATE SCHEMA pemx_r${r}" || die "cannot create schema pemx_r${r}"
  conn="$(pg_conn_for "pemx_r${r}")"
  pg_config "${conn}" "${TMP}/pemx.r${r}.toml"
  local -a cmd=("${PEMX}" --role=web --config "${TMP}/pemx.r${r}.toml"
                --set "kafka.brokers=${BROKERS}" --set "stages.store_ingest.group_id=${group}"
                --set "http.listen=127.0.0.1:0" --set log.stats_interval=5s)
  "${PEMX}" check-config "${cmd[@]:2}" >"${OUT}/pemx.r${r}.check-config.txt" || die "pemx config is invalid"
  cpu0="$(postgres_cpu_seconds)"
  start_ms="$(date +%s%3N)"
  start_server "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${cmd[@]}"
  run_child "${WAIT}" --brokers "${BROKERS}" --group "${group}" --topic "${TOPIC}" --pg "${conn}" \
    --expect "${EVENTS}" --start-ms "${start_ms}" --pid "${SRV_PID}" --timeout "${ROUND_TIMEOUT}" \
    >"${OUT}/pemx.r${r}.wait.json" 2>>"${OUT}/pemx.r${r}.wait.log" || rc=$?
  stop_server
  cpu1="$(postgres_cpu_seconds)"
  client="$(time_cpu "${OUT}/pemx.r${r}.time")"
  pemx_proc_json "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${SRV_EXIT}" "${SRV_HWM}" \
    "\"postgres_cpu_s\":$(cpu_delta "${cpu0}" "${cpu1}"),\"client_cpu_s\":${client:-null}" \
    >"${OUT}/pemx.r${r}.proc.json"
  ((rc == 0)) || { cat "${OUT}/pemx.r${r}.wait.json" >&2; tail -n 20 "${OUT}/pemx.r${r}.log" >&2; die "pemx round ${r} did not store ${EVENTS} events"; }
}

rate() {  # json file, key prefix ("" or "rows_")
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); k = sys.argv[2]
print("%.0f events/s in %.2f s" % (d[k + "events_per_s"], d[k + "elapsed_s"]))' "$1" "$2"
}

for ((r = 1; r <= ROUNDS; r++)); do
  if [[ "${STORE}" == postgres ]]; then
    log "round ${r}/${ROUNDS}: libpq baseline ..."
    run_pg_baseline "${r}"
    log "round ${r}/${ROUNDS}: baseline $(rate "${OUT}/base.r${r}.json" rows_) (rows stored)"
    sleep 2
    log "round ${r}/${ROUNDS}: pemx (postgres_store) ..."
    run_pg_pemx "${r}"
    log "round ${r}/${ROUNDS}: pemx $(rate "${OUT}/pemx.r${r}.wait.json" rows_) (rows stored)"
    check_pg_rows "base_r${r}" "pemx_r${r}" "${OUT}/rows.r${r}.check.json" \
      || log "round ${r}: row check FAILED (see ${OUT}/rows.r${r}.check.json)"
    pg_psql "DROP SCHEMA base_r${r} CASCADE; DROP SCHEMA pemx_r${r} CASCADE" \
      2>/dev/null || log "could not drop the schemas of round ${r}"
    sleep 2
    continue
  fi
  log "round ${r}/${ROUNDS}: baseline ..."
  run_baseline "${r}"
  log "round ${r}/${ROUNDS}: baseline $(rate "${OUT}/base.r${r}.json" rows_) (rows stored)"
  sleep 2   # let the broker settle (log flushes, group cleanup)
  log "round ${r}/${ROUNDS}: pemx ..."
  run_pemx "${r}"
  log "round ${r}/${ROUNDS}: pemx $(rate "${OUT}/pemx.r${r}.wait.json" rows_) (rows stored)"
  check_rows "${TMP}/base.r${r}.db" "${TMP}/pemx.r${r}.db" "${OUT}/rows.r${r}.check.json" \
    || log "round ${r}: row check FAILED (see ${OUT}/rows.r${r}.check.json)"
  rm -f "${TMP}/base.r${r}.db"* "${TMP}/pemx.r${r}.db"*
  sleep 2
done

if [[ "${STORE}" == postgres ]]; then
MACHINE="$(machine_description "the broker, the bench programs, pemx and PostgreSQL all run on these 2 cores")"
python3 - "${OUT}" "${ROUNDS}" "${EVENTS}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description); PostgreSQL ${PG_VERSION}" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, rounds, events, command, machine, run_id, code = sys.argv[1:8]
rounds, events = int(rounds), int(events)
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
def rss_from_time(name):
    p = os.path.join(out, name)
    if os.path.exists(p):
        for line in open(p):
            if "Maximum resident set size" in line:
                return int(line.split(":")[1])
    return None
mib = lambda k: f"{k / 1024:.0f} MiB" if isinstance(k, (int, float)) else "?"
us = lambda s: f"{1e6 * s / events:.1f}" if isinstance(s, (int, float)) else "?"
rows, base, pemx, base_c, pemx_c = [], [], [], [], []
cpu = {"bc": [], "bp": [], "pc": [], "pp": []}
for r in range(1, rounds + 1):
    b, w, pr, c, bcpu = (load(f"base.r{r}.json"), load(f"pemx.r{r}.wait.json"),
                         load(f"pemx.r{r}.proc.json"), load(f"rows.r{r}.check.json"),
                         load(f"base.r{r}.cpu.json"))
    base.append(b["rows_events_per_s"]); pemx.append(w["rows_events_per_s"])
    base_c.append(b["events_per_s"]); pemx_c.append(w["events_per_s"])
    for k, v in (("bc", bcpu.get("client_cpu_s")), ("bp", bcpu.get("postgres_cpu_s")),
                 ("pc", pr.get("client_cpu_s")), ("pp", pr.get("postgres_cpu_s"))):
        if isinstance(v, (int, float)): cpu[k].append(v)
    check = "ok" if c.get("ok") else ("FAILED: " + json.dumps(c) if c else "not run")
    rows.append("| " + " | ".join([
        str(r), f"{b['rows_elapsed_s']:.2f}", f"{b['rows_events_per_s']:,.0f}",
        f"{b['elapsed_s']:.2f}", f"{b['batches']}",
        us(bcpu.get("client_cpu_s")), us(bcpu.get("postgres_cpu_s")),
        f"{w['rows_elapsed_s']:.2f}", f"{w['rows_events_per_s']:,.0f}",
        f"{w['elapsed_s']:.2f}", f"{w['events_per_s']:,.0f}",
        us(pr.get("client_cpu_s")), us(pr.get("postgres_cpu_s")),
        mib(rss_from_time(f"base.r{r}.time")), mib(pr.get("peak_rss_kib")),
        str(pr.get("exit_code")), f"{pr.get('warn_lines')}/{pr.get('error_lines')}", check]) + " |")
mb, mp = statistics.median(base), statistics.median(pemx)
ratio = mp / mb if mb else 0
mbc, mpc = statistics.median(base_c), statistics.median(pemx_c)
med = lambda k: us(statistics.median(cpu[k])) if cpu[k] else "?"
print(f"### `pemx --role=web` PostgreSQL storage vs libpq baseline, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; Kafka 3.7.1 (one KRaft node, tests/broker/kafka.sh) on loopback")
print(f"- machine: {machine}")
print(f"- input: {events:,} EventGenerator events (seed in the command) in "
      f"`product-event-storage-pemx`, 3 partitions; each run stores them in a fresh schema of "
      f"one PostgreSQL (tests/postgres/postgres.sh: fsync and synchronous_commit on, "
      f"shared_buffers 64 MB), at most 500 rows per statement (one INSERT ... SELECT FROM "
      f"unnest ... ON CONFLICT DO NOTHING RETURNING, one transaction)\n")
print("| round | baseline s (rows stored) | baseline events/s | baseline s (offsets committed) | "
      "baseline batches | baseline CPU µs/event | PostgreSQL CPU µs/event (baseline run) | "
      "pemx s (rows stored) | pemx events/s | pemx s (offsets committed) | "
      "pemx events/s (committed) | pemx CPU µs/event | PostgreSQL CPU µs/event (pemx run) | "
      "baseline peak RSS | pemx peak RSS | pemx exit | pemx warn/error lines | same rows |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
print("\n".join(rows))
print(f"\n**Median baseline {mb:,.0f} events/s; median pemx {mp:,.0f} events/s; "
      f"ratio median(pemx) / median(baseline) = {ratio:.2f}** "
      f"(target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'}), both timed from launch until "
      f"the last row is committed in PostgreSQL.")
print(f"Until the offsets are committed in Kafka (pemx commits every commit_interval = 1 s, the "
      f"baseline after each batch): median baseline {mbc:,.0f}, pemx {mpc:,.0f} events/s, "
      f"ratio {mpc / mbc if mbc else 0:.2f}.")
print(f"CPU per event (medians; user + system over the whole run, start-up included): baseline "
      f"{med('bc')} µs, with PostgreSQL {med('bp')} µs during its runs; pemx {med('pc')} µs, with "
      f"PostgreSQL {med('pp')} µs during its runs. PostgreSQL's figure is every process of the "
      f"cluster (backends, WAL writer, checkpointer, autovacuum), read from /proc.")
# summary.json (bench/run_all.sh): medians.
cm = lambda k: 1e6 * statistics.median(cpu[k]) / events if cpu[k] else None
tot_b = cm("bc") + cm("bp") if cm("bc") is not None and cm("bp") is not None else None
tot_p = cm("pc") + cm("pp") if cm("pc") is not None and cm("pp") is not None else None
json.dump({"figures": [
    {"key": "storage.postgres.throughput", "label": "storage on PostgreSQL", "unit": "events/s",
     "value": mp, "baseline": mb, "baseline_label": "librdkafka + libpq program", "ratio": ratio},
    {"key": "storage.postgres.cpu_per_event", "label": "storage on PostgreSQL, CPU per event "
     "(client + server)", "unit": "µs", "value": tot_p, "baseline": tot_b,
     "baseline_label": "librdkafka + libpq program", "lower_is_better": True,
     "ratio": tot_p / tot_b if tot_p and tot_b else None}]},
    open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json storage-postgres "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"
if ((UPDATE_DOC)); then update_doc storage-postgres "${OUT}/summary.md"; fi
exit 0
fi
MACHINE="$(machine_description "the broker, the bench programs and pemx all run on these 2 cores, and both SQLite files are on the same disk")"
python3 - "${OUT}" "${ROUNDS}" "${EVENTS}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description)" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, rounds, events, command, machine, run_id, code = sys.argv[1:8]
rounds, events = int(rounds), int(events)
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
def rss_from_time(name):
    p = os.path.join(out, name)
    if os.path.exists(p):
        for line in open(p):
            if "Maximum resident set size" in line:
                return int(line.split(":")[1])
    return None
mib = lambda k: f"{k / 1024:.0f} MiB" if isinstance(k, (int, float)) else "?"
rows, base, pemx, base_c, pemx_c = [], [], [], [], []
for r in range(1, rounds + 1):
    b, w, pr, c = (load(f"base.r{r}.json"), load(f"pemx.r{r}.wait.json"),
                   load(f"pemx.r{r}.proc.json"), load(f"rows.r{r}.check.json"))
    base.append(b["rows_events_per_s"]); pemx.append(w["rows_events_per_s"])
    base_c.append(b["events_per_s"]); pemx_c.append(w["events_per_s"])
    check = "ok" if c.get("ok") else ("FAILED: " + json.dumps(c) if c else "not run")
    rows.append("| " + " | ".join([
        str(r), f"{b['rows_elapsed_s']:.2f}", f"{b['rows_events_per_s']:,.0f}",
        f"{b['elapsed_s']:.2f}", f"{b['batches']}",
        f"{w['rows_elapsed_s']:.2f}", f"{w['rows_events_per_s']:,.0f}",
        f"{w['elapsed_s']:.2f}", f"{w['events_per_s']:,.0f}",
        mib(rss_from_time(f"base.r{r}.time")), mib(pr.get("peak_rss_kib")),
        str(pr.get("exit_code")), f"{pr.get('warn_lines')}/{pr.get('error_lines')}", check]) + " |")
mb, mp = statistics.median(base), statistics.median(pemx)
ratio = mp / mb if mb else 0
mbc, mpc = statistics.median(base_c), statistics.median(pemx_c)
print(f"### `pemx --role=web` storage vs baseline, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; Kafka 3.7.1 (one KRaft node, tests/broker/kafka.sh) on loopback")
print(f"- machine: {machine}")
print(f"- input: {events:,} EventGenerator events (seed in the command) in "
      f"`product-event-storage-pemx`, 3 partitions; each run stores them in a fresh SQLite file "
      f"(WAL, synchronous=FULL, 500 rows per transaction)\n")
print("| round | baseline s (rows stored) | baseline events/s | baseline s (offsets committed) | "
      "baseline transactions | pemx s (rows stored) | pemx events/s | pemx s (offsets committed) | "
      "pemx events/s (committed) | baseline peak RSS | pemx peak RSS | pemx exit | "
      "pemx warn/error lines | same rows |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
print("\n".join(rows))
print(f"\n**Median baseline {mb:,.0f} events/s; median pemx {mp:,.0f} events/s; "
      f"ratio median(pemx) / median(baseline) = {ratio:.2f}** "
      f"(target >= 0.70: {'met' if ratio >= 0.7 else 'NOT met'}), both timed from launch until "
      f"the last row is committed in SQLite.")
print(f"Until the offsets are committed in Kafka (pemx commits every commit_interval = 1 s, the "
      f"baseline synchronously right after its last transaction): median baseline {mbc:,.0f}, "
      f"pemx {mpc:,.0f} events/s, ratio {mpc / mbc if mbc else 0:.2f}.")
# summary.json (bench/run_all.sh): medians.
rss = [load(f"pemx.r{r}.proc.json").get("peak_rss_kib") for r in range(1, rounds + 1)]
rss = [x for x in rss if isinstance(x, (int, float))]
json.dump({"figures": [
    {"key": "storage.sqlite.throughput", "label": "storage on SQLite", "unit": "events/s",
     "value": mp, "baseline": mb, "baseline_label": "librdkafka + SQLite program", "ratio": ratio},
    {"key": "storage.sqlite.peak_rss", "label": "web role peak RSS while storing (SQLite)",
     "unit": "MiB", "value": statistics.median(rss) / 1024 if rss else None, "baseline": None,
     "lower_is_better": True}]},
    open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json storage "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"
if ((UPDATE_DOC)); then update_doc storage "${OUT}/summary.md"; fi
