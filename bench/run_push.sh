#!/usr/bin/env bash
# bench/run_push.sh — how many events per second `pemx --role=web` accepts through
# POST /event (200 events per request, 201 only after Kafka acknowledged every one), against
# the plain librdkafka produce rate of the same batches, on a real Kafka 3.7.1 broker
# (tests/broker/kafka.sh) on loopback.
#
#   1. builds pemx and the bench programs (Release) in BUILD_DIR unless --no-build;
#   2. starts a fresh broker on 127.0.0.1:PORT (PORT+1: controller) and always stops it;
#      creates the (empty) storage topic the web role's consumer subscribes to;
#   3. writes BATCH EventGenerator events (seed SEED): the body {"events":[…]} of every
#      request, and the baseline's messages (the same events, key = productId);
#   4. for each of ROUNDS rounds, one after the other, each on its own fresh 3-partition topic:
#        a. pemx_bench_push_baseline: CONNECTIONS clients, each producing one batch and waiting
#           for every acknowledgement before the next (the settings of http_front's producer:
#           acks=all, idempotence, linger.ms = kafka::kPushLingerMs), one warm-up batch, then
#           DURATION s;
#        b. pemx --role=web (push_topic = the round's topic, fresh store file and group, HTTP
#           on a free loopback port): one warm-up POST, then DURATION s of
#           `wrk -t THREADS -c CONNECTIONS` running bench/push.lua (the same events every
#           time, with fresh eventIds per request: the push does not produce an accepted
#           event again);
#      after each, the topic's message count is checked against the acknowledged batches;
#   5. prints a table (events/s, p50/p99 latency of a batch or request, medians, ratio
#      median(pemx)/median(baseline)) and with --update-doc rewrites the push results block
#      of docs/benchmarks.md.
#
# Raw outputs go to bench/results/<UTC time>-run_push/. Needs: java + mvn (the broker), wrk
# (Debian package wrk), python3, GNU time (optional).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_push
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"

ROUNDS=3
PORT=39092
SEED=1
BATCH=200
DURATION=20
CONNECTIONS=8
THREADS=2
BUILD_DIR="${ROOT}/build-bench"
BUILD=1
UPDATE_DOC=0
CONFIG=""

usage() {
  cat <<EOF
usage: bench/run_push.sh [options]
  --rounds R          rounds of (baseline, pemx) (default ${ROUNDS})
  --port P            broker port; P+1 is its controller port (default ${PORT})
  --seed S            generator seed of the batch (default ${SEED})
  --batch N           events per request (default ${BATCH}; pemx allows 1..200)
  --duration SECONDS  measured load per program and round (default ${DURATION})
  --connections C     concurrent requests (wrk connections; baseline clients) (default ${CONNECTIONS})
  --threads T         wrk threads (default ${THREADS})
  --build-dir DIR     where to build (default build-bench)
  --no-build          use the binaries already in --build-dir
  --update-doc        write the results into docs/benchmarks.md
  --config FILE       the pemx config (default: the repo's pemx.toml)
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --update-doc) UPDATE_DOC=1; shift ;;
    --config) CONFIG="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
for v in ROUNDS PORT SEED BATCH DURATION CONNECTIONS THREADS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "${v}: a non-negative integer" >&2; exit 2; }
done
((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "--rounds: 1..20" >&2; exit 2; }
((BATCH >= 1 && BATCH <= 200)) || { echo "--batch: 1..200" >&2; exit 2; }
((DURATION >= 1 && DURATION <= 600)) || { echo "--duration: 1..600" >&2; exit 2; }
((CONNECTIONS >= 1 && THREADS >= 1 && CONNECTIONS >= THREADS)) || { echo "--connections >= --threads >= 1" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 not found"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
CONFIG="$(cd "$(dirname "${CONFIG:-${ROOT}/pemx.toml}")" && pwd)/$(basename "${CONFIG:-pemx.toml}")"
[[ -f "${CONFIG}" ]] || die "no config ${CONFIG}"
COMMAND_LINE="bench/run_push.sh --rounds ${ROUNDS} --port ${PORT} --seed ${SEED} --batch ${BATCH} --duration ${DURATION} --connections ${CONNECTIONS} --threads ${THREADS}"
[[ "${CONFIG}" == "${ROOT}/pemx.toml" ]] || COMMAND_LINE+=" --config ${CONFIG}"

if ((BUILD)); then
  log "building in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPEMX_BUILD_TESTS=OFF >/dev/null
  ninja -C "${BUILD_DIR}" -j2 pemx pemx_bench_load pemx_bench_events pemx_bench_push_baseline \
    pemx_bench_topic_count >/dev/null
fi
PEMX="${BUILD_DIR}/pemx"
LOAD="${BUILD_DIR}/bench/pemx_bench_load"
EVENTS_TOOL="${BUILD_DIR}/bench/pemx_bench_events"
BASELINE="${BUILD_DIR}/bench/pemx_bench_push_baseline"
COUNT="${BUILD_DIR}/bench/pemx_bench_topic_count"
for b in "${PEMX}" "${LOAD}" "${EVENTS_TOOL}" "${BASELINE}" "${COUNT}"; do
  [[ -x "${b}" ]] || die "missing ${b} (build first, or drop --no-build)"
done

bench_setup
BROKERS="127.0.0.1:${PORT}"
start_broker "${PORT}"

create_topic() {  # name
  run_child "${LOAD}" --brokers "${BROKERS}" --topic "$1" --count 0 --partitions 3 --timeout 60 \
    >>"${OUT}/topics.json" 2>>"${OUT}/topics.log" || { cat "${OUT}/topics.log" >&2; die "cannot create topic $1"; }
}
topic_messages() {  # name
  run_child "${COUNT}" --brokers "${BROKERS}" --topic "$1" 2>>"${OUT}/topics.log" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["messages"])'
}
# The web role's consumer subscribes to the storage topic: it exists in production (the dist
# role writes it); here it stays empty.
create_topic product-event-storage-pemx

# --- the batch --------------------------------------------------------------------------------
EVENTS_FILE="${OUT}/events.jsonl"
BODY_FILE="${OUT}/body.json"
run_child "${EVENTS_TOOL}" --count "${BATCH}" --seed "${SEED}" >"${EVENTS_FILE}" || die "pemx_bench_events failed"
python3 - "${EVENTS_FILE}" "${BODY_FILE}" <<'PY'
import sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip()]
open(sys.argv[2], "w").write('{"events":[' + ",".join(lines) + "]}")
PY
BODY_BYTES="$(stat -c %s "${BODY_FILE}")"
log "batch: ${BATCH} events, body ${BODY_BYTES} bytes"

# A fresh broker's JVM is still compiling its hot paths: round 1's baseline would run on a
# slower broker than everything after it. 10 s of the same load on a throw-away topic first.
log "warming up the broker (10 s) ..."
create_topic bench-warmup-push
run_child "${BASELINE}" --brokers "${BROKERS}" --topic bench-warmup-push --events "${EVENTS_FILE}" \
  --concurrency "${CONNECTIONS}" --duration 10 >"${OUT}/warmup.json" 2>"${OUT}/warmup.log" \
  || { cat "${OUT}/warmup.json" "${OUT}/warmup.log" >&2; die "broker warm-up failed"; }

# --- rounds -----------------------------------------------------------------------------------
run_baseline() {  # round
  local r=$1 topic="bench-r$1-base-push" rc=0
  create_topic "${topic}"
  local -a cmd=("${BASELINE}" --brokers "${BROKERS}" --topic "${topic}" --events "${EVENTS_FILE}"
                --concurrency "${CONNECTIONS}" --duration "${DURATION}" --warmup-batches 1)
  if [[ -n "${GNU_TIME}" ]]; then cmd=("${GNU_TIME}" -v -o "${OUT}/base.r${r}.time" "${cmd[@]}"); fi
  run_child "${cmd[@]}" >"${OUT}/base.r${r}.json" 2>"${OUT}/base.r${r}.log" || rc=$?
  ((rc == 0)) || { cat "${OUT}/base.r${r}.json" "${OUT}/base.r${r}.log" >&2; die "baseline round ${r} failed (${rc})"; }
  topic_messages "${topic}" >"${OUT}/base.r${r}.messages"
}

run_pemx() {  # round
  local r=$1 topic="bench-r$1-pemx-push" cpu0 cpu1 url
  create_topic "${topic}"
  local -a cmd=("${PEMX}" --role=web --config "${CONFIG}" --set "kafka.brokers=${BROKERS}"
                --set "store.path=${TMP}/push.r${r}.db"
                --set "stages.store_ingest.group_id=bench-push-r${r}-${RUN_ID}"
                --set "stages.http.push_topic=${topic}"
                --set "http.listen=127.0.0.1:0" --set log.stats_interval=10s)
  "${PEMX}" check-config "${cmd[@]:2}" >"${OUT}/pemx.r${r}.check-config.txt" || die "pemx config is invalid"
  start_server "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${cmd[@]}"
  SRV_PORT="$(pemx_port "${OUT}/pemx.r${r}.log" "${SRV_PID}")"
  [[ -n "${SRV_PORT}" ]] || { tail -n 20 "${OUT}/pemx.r${r}.log" >&2; die "pemx did not start listening"; }
  url="http://127.0.0.1:${SRV_PORT}"
  wait_http_ok "${url}/readyz" 60 || die "pemx is not ready (see ${OUT}/pemx.r${r}.log)"
  # Warm-up: one request (producer connection, topic metadata), as the baseline's warm-up batch.
  python3 - "${url}/event" "${BODY_FILE}" >"${OUT}/pemx.r${r}.warmup.txt" <<'PY' || die "pemx warm-up POST failed (see ${OUT}/pemx.r${r}.warmup.txt)"
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], "rb").read(),
                             headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(req, timeout=30) as r:
    print(r.status, r.read().decode())
    sys.exit(0 if r.status == 201 else 1)
PY
  export PEMX_BENCH_BODY="${BODY_FILE}" PEMX_BENCH_BATCH_EVENTS="${BATCH}"
  cpu0="$(cpu_seconds "${SRV_PID}")"
  run_wrk "${OUT}/pemx.r${r}.wrk.json" "${OUT}/pemx.r${r}.wrk.txt" -t "${THREADS}" \
    -c "${CONNECTIONS}" -d "${DURATION}s" --timeout 30s -s "${ROOT}/bench/push.lua" "${url}/event"
  cpu1="$(cpu_seconds "${SRV_PID}")"
  topic_messages "${topic}" >"${OUT}/pemx.r${r}.messages"
  stop_server
  pemx_proc_json "${OUT}/pemx.r${r}.log" "${OUT}/pemx.r${r}.time" "${SRV_EXIT}" "${SRV_HWM}" \
    "\"cpu_s\":$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "${cpu0:-0}" "${cpu1:-0}")" \
    >"${OUT}/pemx.r${r}.proc.json"
  rm -f "${TMP}/push.r${r}.db"*
}

for ((r = 1; r <= ROUNDS; r++)); do
  log "round ${r}/${ROUNDS}: baseline ..."
  run_baseline "${r}"
  log "round ${r}/${ROUNDS}: baseline $(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("%.0f events/s, batch p50 %.1f ms, p99 %.1f ms" % (d["events_per_s"], d["p50_ms"], d["p99_ms"]))' "${OUT}/base.r${r}.json")"
  sleep 2
  log "round ${r}/${ROUNDS}: pemx ..."
  run_pemx "${r}"
  log "round ${r}/${ROUNDS}: pemx $(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("%.0f events/s, request p50 %.1f ms, p99 %.1f ms, non-2xx %d" % (d["events_per_s"], d["p50_ms"], d["p99_ms"], d["errors_status"]))' "${OUT}/pemx.r${r}.wrk.json")"
  sleep 2
done

# --- summary ----------------------------------------------------------------------------------
MACHINE="$(machine_description "the broker, wrk or the baseline, and pemx all run on these 2 cores")"
python3 - "${OUT}" "${ROUNDS}" "${BATCH}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description)" "${BODY_BYTES}" "${CONNECTIONS}" "${DURATION}" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, rounds, batch, command, machine, run_id, code, body_bytes, conns, duration = sys.argv[1:11]
rounds, batch, conns = int(rounds), int(batch), int(conns)
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
def num(name):
    p = os.path.join(out, name)
    return int(open(p).read().strip()) if os.path.exists(p) else -1
def time_cpu(name):
    p, cpu = os.path.join(out, name), 0.0
    if not os.path.exists(p):
        return None
    for line in open(p):
        if "User time (seconds)" in line or "System time (seconds)" in line:
            cpu += float(line.split(":")[1])
    return cpu
mib = lambda k: f"{k / 1024:.0f} MiB" if isinstance(k, (int, float)) else "?"
rows, base, pemx = [], [], []
for r in range(1, rounds + 1):
    b, w, pr = load(f"base.r{r}.json"), load(f"pemx.r{r}.wrk.json"), load(f"pemx.r{r}.proc.json")
    base.append(b["events_per_s"]); pemx.append(w["events_per_s"])
    # The topic holds the warm-up batch and every acknowledged batch; pemx's may also hold up to
    # one batch per connection that was in flight when wrk stopped (answered after the end).
    bm, pm = num(f"base.r{r}.messages"), num(f"pemx.r{r}.messages")
    b_ok = bm == batch * (b["batches"] + b["warmup_batches"]) and b["failed_messages"] == 0
    lo = batch * (w["ok_requests"] + 1)
    p_ok = lo <= pm <= lo + batch * conns and w["errors_status"] == 0
    bcpu = time_cpu(f"base.r{r}.time")
    per_k = lambda cpu, ev: f"{1000 * cpu / ev * 1000:.1f}" if cpu is not None and ev else "?"
    rows.append("| " + " | ".join([
        str(r), f"{b['events_per_s']:,.0f}", f"{b['batches_per_s']:,.0f}", f"{b['p50_ms']:.1f}",
        f"{b['p99_ms']:.1f}", per_k(bcpu, b["events"] + batch * b["warmup_batches"]),
        f"{w['events_per_s']:,.0f}", f"{w['requests_per_s']:,.0f}", f"{w['p50_ms']:.1f}",
        f"{w['p99_ms']:.1f}",
        f"{w['errors_status']}/{w['errors_connect'] + w['errors_read'] + w['errors_write']}/{w['errors_timeout']}",
        per_k(pr.get("cpu_s"), w["ok_requests"] * batch),
        mib(pr.get("peak_rss_kib")), str(pr.get("exit_code")),
        f"{pr.get('warn_lines')}/{pr.get('error_lines')}",
        f"{'ok' if b_ok else 'MISMATCH'} ({bm:,})", f"{'ok' if p_ok else 'MISMATCH'} ({pm:,})"]) + " |")
mb, mp = statistics.median(base), statistics.median(pemx)
ratio = mp / mb if mb else 0
med = lambda key, name: statistics.median(load(name.format(r=r))[key] for r in range(1, rounds + 1))
print(f"### `pemx --role=web` push (POST /event) vs plain librdkafka produce, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; Kafka 3.7.1 (one KRaft node, tests/broker/kafka.sh) on loopback")
print(f"- machine: {machine}")
print(f"- load: the same {batch} EventGenerator events (seed in the command) in every request, "
      f"body {int(body_bytes):,} bytes; {conns} concurrent requests (pemx: wrk connections) or "
      f"batches (baseline: clients), each waiting for its answer or acknowledgements before the "
      f"next, {duration} s per program and round after one warm-up batch; each round writes to "
      f"2 fresh 3-partition topics; acks=all, idempotent producer, linger.ms=5 (kafka::kPushLingerMs) in both\n")
print("| round | baseline events/s | baseline batches/s | baseline batch p50 ms | baseline batch p99 ms | "
      "baseline CPU ms per 1000 events | pemx events/s | pemx requests/s | pemx request p50 ms | "
      "pemx request p99 ms | pemx non-2xx/socket errors/timeouts | pemx CPU ms per 1000 events | "
      "pemx peak RSS | pemx exit | pemx warn/error lines | baseline topic | pemx topic |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
print("\n".join(rows))
print(f"\n**Median baseline {mb:,.0f} events/s (batch p50 {med('p50_ms', 'base.r{r}.json'):.1f} ms, "
      f"p99 {med('p99_ms', 'base.r{r}.json'):.1f} ms); median pemx {mp:,.0f} events/s (request p50 "
      f"{med('p50_ms', 'pemx.r{r}.wrk.json'):.1f} ms, p99 {med('p99_ms', 'pemx.r{r}.wrk.json'):.1f} ms); "
      f"ratio median(pemx) / median(baseline) = {ratio:.2f}**.")
print("Topic check: the message count equals the acknowledged batches plus the warm-up (pemx: plus "
      "at most one batch per connection in flight when wrk stopped).")
# summary.json (bench/run_all.sh): medians.
json.dump({"figures": [
    {"key": "push.throughput", "label": f"push (POST /event, {batch} events per request)",
     "unit": "events/s", "value": mp, "baseline": mb,
     "baseline_label": "librdkafka producing the same batches", "ratio": ratio}]},
    open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json push "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"
if ((UPDATE_DOC)); then update_doc push "${OUT}/summary.md"; fi
