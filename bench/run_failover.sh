#!/usr/bin/env bash
# bench/run_failover.sh — how long routing stops when a `pemx --role=dist` instance is killed
# with -9 and restarted at once, with static group membership (group_instance_id) and without,
# on a real Kafka 3.7.1 broker (tests/broker/kafka.sh) on loopback.
#
#   1. builds pemx and pemx_bench_load in BUILD_DIR unless --no-build;
#   2. starts a fresh broker on 127.0.0.1:PORT (PORT+1: controller) and always stops it;
#   3. creates `failover-in` (3 partitions) and keeps `pemx simulate --rate RATE` producing
#      into it for the whole run, so that there is always something to route;
#   4. for each of ROUNDS rounds, for each mode (static: group_instance_id = "${HOSTNAME}",
#      expanded by pemx; dynamic: no id), in a fresh group, with session.timeout.ms =
#      SESSION_MS (librdkafka's default, stated):
#        a. starts pemx and waits until it routes (pemx_kafka_ingest_acked_total > 0 on its
#           /metrics), then 2 s more (its offsets get committed: commit_interval = 1 s);
#        b. kill -9, and at once starts the same command again;
#        c. the gap: from the kill until the new process has routed an event (its first
#           record with every output acknowledged), polled every 20 ms; then SIGTERM;
#   5. prints a table (per round, per mode) and the medians; with --update-doc rewrites the
#      failover results block of docs/benchmarks.md.
#
# Raw outputs (pemx logs, gaps as JSON lines) go to bench/results/<UTC time>-run_failover/.
# Needs: java + mvn (the broker), python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_failover
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"

ROUNDS=3
PORT=29292
RATE=200
SESSION_MS=45000
BUILD_DIR="${ROOT}/build-bench"
BUILD=1
UPDATE_DOC=0
RESUME_TIMEOUT=120   # seconds a restarted pemx may take to route again

usage() {
  cat <<EOF
usage: bench/run_failover.sh [options]
  --rounds R        rounds of (static, dynamic) (default ${ROUNDS})
  --port P          broker port; P+1 is its controller port, P+2 pemx's ops port (default ${PORT})
  --rate N          input events per second while measuring (default ${RATE})
  --session-ms MS   the consumer's session.timeout.ms (default ${SESSION_MS}, librdkafka's)
  --build-dir DIR   where to build (default build-bench)
  --no-build        use the binaries already in --build-dir
  --update-doc      write the results into docs/benchmarks.md
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --session-ms) SESSION_MS="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --update-doc) UPDATE_DOC=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ "${ROUNDS}" =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "--rounds: 1..20" >&2; exit 2; }
[[ "${RATE}" =~ ^[0-9]+$ ]] && ((RATE >= 1)) || { echo "--rate: a positive integer" >&2; exit 2; }
[[ "${SESSION_MS}" =~ ^[0-9]+$ ]] || { echo "--session-ms: milliseconds" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 not found"

COMMAND_LINE="bench/run_failover.sh --rounds ${ROUNDS} --port ${PORT} --rate ${RATE} --session-ms ${SESSION_MS}"
[[ "${BUILD_DIR}" == "${ROOT}/build-bench" ]] || COMMAND_LINE+=" --build-dir ${BUILD_DIR#"${ROOT}/"}"
((BUILD)) || COMMAND_LINE+=" --no-build"

# --- build ------------------------------------------------------------------------------------
if ((BUILD)); then
  log "building in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPEMX_BUILD_TESTS=OFF >/dev/null
  ninja -C "${BUILD_DIR}" -j2 pemx pemx_bench_load >/dev/null
fi
PEMX="${BUILD_DIR}/pemx"
LOAD="${BUILD_DIR}/bench/pemx_bench_load"
for b in "${PEMX}" "${LOAD}"; do
  [[ -x "${b}" ]] || die "missing ${b} (build first, or drop --no-build)"
done
bench_setup
BROKERS="127.0.0.1:${PORT}"
OPS_PORT=$((PORT + 2))

# --- broker and input -------------------------------------------------------------------------
start_broker "${PORT}"
run_child "${LOAD}" --brokers "${BROKERS}" --topic failover-in --count 1 --seed 1 --partitions 3 \
  --timeout 60 >"${OUT}/load.json" 2>"${OUT}/load.log" || die "creating failover-in failed"
# The config: outputs prefixed "failover-", the ops endpoint on OPS_PORT.
CFG="${TMP}/pemx.toml"
sed -E -e 's/^(topic = ")/\1failover-/' -e 's/^(dead_letter_topic = ")/\1failover-/' \
  -e "s/^listen = \"[^\"]*\"/listen = \"127.0.0.1:${OPS_PORT}\"/" "${ROOT}/pemx.toml" >"${CFG}"
log "producing ${RATE} events/s into failover-in for the whole run ..."
"${PEMX}" simulate --config "${CFG}" --brokers "${BROKERS}" --topic failover-in --rate "${RATE}" \
  --seed 1 >"${OUT}/simulate.out" 2>"${OUT}/simulate.log" &
PIDS+=("$!")

# Waits until pemx on OPS_PORT has acknowledged at least one record; prints the time (epoch
# ms) it saw that, or fails after the timeout.
wait_routing() {  # timeout_s
  python3 - "${OPS_PORT}" "$1" <<'PY'
import re, sys, time, urllib.request
port, limit = int(sys.argv[1]), float(sys.argv[2])
series = re.compile(r'^pemx_kafka_ingest_acked_total\{[^}]*\} (\d+)', re.M)
end = time.time() + limit
while time.time() < end:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            if sum(int(v) for v in series.findall(r.read().decode())) > 0:
                print(int(time.time() * 1000))
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.02)
sys.exit(1)
PY
}

measure() {  # round mode
  local r=$1 mode=$2 group="failover-$2-r$1-${RUN_ID}" t_kill t_resume rc=0
  local -a cmd=("${PEMX}" --role=dist --config "${CFG}" --set "kafka.brokers=${BROKERS}"
                --set 'stages.dist_ingest.topics=["failover-in"]'
                --set "stages.dist_ingest.group_id=${group}"
                --set "stages.dist_ingest.properties.\"session.timeout.ms\"=${SESSION_MS}"
                --set log.stats_interval=5s)
  if [[ "${mode}" == static ]]; then
    # shellcheck disable=SC2016  # ${HOSTNAME} is for pemx to expand, not the shell
    cmd+=(--set 'stages.dist_ingest.group_instance_id=${HOSTNAME}')
  fi
  "${PEMX}" check-config "${cmd[@]:2}" >"${OUT}/${mode}.r${r}.routing.txt" || die "config is invalid"
  start_server "${OUT}/${mode}.r${r}.first.log" /dev/null "${cmd[@]}"
  wait_routing "${RESUME_TIMEOUT}" >/dev/null || die "${mode} round ${r}: pemx never routed"
  sleep 2
  kill -KILL "${SRV_PID}"
  t_kill="$(date +%s%3N)"
  wait "${SRV_TPID}" 2>/dev/null || true
  forget_pid "${SRV_TPID}"
  forget_pid "${SRV_PID}"
  start_server "${OUT}/${mode}.r${r}.second.log" /dev/null "${cmd[@]}"
  t_resume="$(wait_routing "${RESUME_TIMEOUT}")" || rc=$?
  stop_server
  ((rc == 0)) || die "${mode} round ${r}: the restarted pemx did not route within ${RESUME_TIMEOUT} s"
  printf '{"round":%d,"mode":"%s","gap_ms":%d,"exit_code":%d}\n' "${r}" "${mode}" \
    "$((t_resume - t_kill))" "${SRV_EXIT}" >>"${OUT}/gaps.jsonl"
  log "round ${r}/${ROUNDS} ${mode}: routing resumed $((t_resume - t_kill)) ms after the kill"
}

for ((r = 1; r <= ROUNDS; r++)); do
  measure "${r}" static
  measure "${r}" dynamic
done

# --- summary ----------------------------------------------------------------------------------
MACHINE="$(machine_description "the broker, the event producer and pemx all run on these 2 cores")"
python3 - "${OUT}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" "$(code_description)" \
  "${SESSION_MS}" "${RATE}" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, command, machine, run_id, code, session_ms, rate = sys.argv[1:8]
gaps = [json.loads(l) for l in open(os.path.join(out, "gaps.jsonl"))]
by = {m: [g for g in gaps if g["mode"] == m] for m in ("static", "dynamic")}
print(f"### Failover: kill -9 and restart of `pemx --role=dist`, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; Kafka 3.7.1 (one KRaft node, tests/broker/kafka.sh) on loopback")
print(f"- machine: {machine}")
print(f"- input: `pemx simulate` at {int(rate)} events/s into `failover-in` (3 partitions); "
      f"session.timeout.ms = {int(session_ms)}; a fresh group per measurement\n")
print("| round | static (group_instance_id) gap | dynamic gap | restarted pemx exit codes (static/dynamic) |")
print("| ---: | ---: | ---: | --- |")
for s, d in zip(by["static"], by["dynamic"]):
    print(f"| {s['round']} | {s['gap_ms'] / 1000:.2f} s | {d['gap_ms'] / 1000:.2f} s | "
          f"{s['exit_code']}/{d['exit_code']} |")
ms = statistics.median(g["gap_ms"] for g in by["static"]) / 1000
md = statistics.median(g["gap_ms"] for g in by["dynamic"]) / 1000
print(f"\n**Median gap between the kill and resumed routing: {ms:.2f} s with static membership, "
      f"{md:.2f} s without** (the gap counts the restart itself: process start, join, first "
      f"fetch and first acknowledged output).")
# summary.json (bench/run_all.sh): medians.
json.dump({"figures": [
    {"key": "failover.gap", "label": "failover gap after kill -9 and restart (static membership)",
     "unit": "s", "value": ms, "baseline": md, "baseline_label": "dynamic membership",
     "ratio": ms / md if md else None, "lower_is_better": True}]},
    open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json failover "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"

if ((UPDATE_DOC)); then update_doc failover "${OUT}/summary.md"; fi
