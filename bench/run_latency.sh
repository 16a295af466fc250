#!/usr/bin/env bash
# bench/run_latency.sh — end-to-end latency through `pemx --role=dist` at a fixed input rate,
# against a plain produce -> consume hop on the same broker at the same rate, on a real Kafka
# 3.7.1 broker (tests/broker/kafka.sh) on loopback.
#
#   1. builds pemx and pemx_bench_latency (Release) in BUILD_DIR unless --no-build;
#   2. starts a fresh broker on 127.0.0.1:PORT (PORT+1: controller, PORT+2: pemx's ops
#      endpoint) and always stops it; warms its JVM up with BROKER_WARMUP s of load. Its JVM
#      runs with Kafka's own defaults (--broker-jvm stock: kafka-server-start.sh's 1 GiB heap
#      and kafka-run-class.sh's G1 options) unless --broker-jvm test asks for the test
#      broker's (tests/broker/kafka.sh: a 128-512 MiB heap and the serial collector, sized for
#      CI). Its garbage collections are logged (broker-gc.log) and summarized;
#   3. for each rate of RATES, for each of ROUNDS rounds, on fresh topics:
#        a. baseline: pemx_bench_latency produces EventGenerator events at the rate into a
#           topic and consumes that same topic (no group, from the beginning): WARMUP s not
#           measured, then DURATION s measured; latency = the consumer's receive time minus the
#           producer's send time of each event (one process, one steady clock);
#        b. pemx: a primer event into the round's input topic; pemx --role=dist (the repo's
#           config, outputs prefixed for the round, a fresh group) until it has routed the
#           primer (pemx_kafka_ingest_acked_total > 0 on its /metrics); then the same
#           pemx_bench_latency, same settings and rate, producing into the input topic and
#           consuming the storage topic PEMX routes every event to; then SIGTERM;
#   4. prints a table (per rate and round p50/p99/p99.9 of both, medians, and what PEMX adds:
#      median(pemx) - median(baseline) per percentile), writes summary.md and summary.json,
#      and with --update-doc rewrites the latency results block of docs/benchmarks.md.
#
# Rate "max" (0 to the program) sends as fast as the producer takes events: the latency then
# includes whatever backlog builds up; the achieved rate is in the table.
#
# Raw outputs go to bench/results/<UTC time>-run_latency/. Needs: java + mvn (the broker),
# python3, GNU time (optional).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_latency
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"

ROUNDS=3
RATES=1000
DURATION=20
WARMUP=3
BROKER_WARMUP=10
PORT=29392
SEED=1
BUILD_DIR="${ROOT}/build-bench"
BUILD=1
UPDATE_DOC=0
CONFIG=""
BROKER_JVM=stock

usage() {
  cat <<EOF
usage: bench/run_latency.sh [options]
  --rounds R          rounds of (baseline, pemx) per rate (default ${ROUNDS})
  --rates LIST        comma-separated events/s, "max" for unpaced (default ${RATES};
                      a curve: 1000,5000,20000,max)
  --duration SECONDS  measured sending time per run (default ${DURATION})
  --warmup SECONDS    sending before the measurement, not measured (default ${WARMUP})
  --broker-warmup S   load on a throw-away topic after the broker starts (default ${BROKER_WARMUP})
  --port P            broker port; P+1 its controller, P+2 pemx's ops endpoint (default ${PORT})
  --seed S            generator seed (default ${SEED})
  --build-dir DIR     where to build (default build-bench)
  --no-build          use the binaries already in --build-dir
  --update-doc        write the results into docs/benchmarks.md
  --config FILE       the pemx config to copy for each round (default: the repo's pemx.toml)
  --broker-jvm KIND   stock (Kafka's own JVM defaults: 1 GiB heap, G1) or test (the CI-sized
                      test broker's: 128-512 MiB heap, serial collector) (default ${BROKER_JVM})
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --rates) RATES="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --broker-warmup) BROKER_WARMUP="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --update-doc) UPDATE_DOC=1; shift ;;
    --config) CONFIG="$2"; shift 2 ;;
    --broker-jvm) BROKER_JVM="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ "${ROUNDS}" =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "--rounds: 1..20" >&2; exit 2; }
[[ "${DURATION}" =~ ^[0-9]+$ ]] && ((DURATION >= 1)) || { echo "--duration: seconds >= 1" >&2; exit 2; }
[[ "${WARMUP}" =~ ^[0-9]+$ && "${BROKER_WARMUP}" =~ ^[0-9]+$ ]] || { echo "--warmup, --broker-warmup: seconds" >&2; exit 2; }
IFS=, read -r -a RATE_LIST <<<"${RATES}"
((${#RATE_LIST[@]} >= 1)) || { echo "--rates: at least one rate" >&2; exit 2; }
for rate in "${RATE_LIST[@]}"; do
  [[ "${rate}" == max || "${rate}" =~ ^[1-9][0-9]*$ ]] \
    || { echo "--rates: positive integers or max, got ${rate}" >&2; exit 2; }
done
[[ "${BROKER_JVM}" == stock || "${BROKER_JVM}" == test ]] || { echo "--broker-jvm: stock or test" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 not found"
CONFIG="$(cd "$(dirname "${CONFIG:-${ROOT}/pemx.toml}")" && pwd)/$(basename "${CONFIG:-pemx.toml}")"
[[ -f "${CONFIG}" ]] || die "no config ${CONFIG}"

COMMAND_LINE="bench/run_latency.sh --rounds ${ROUNDS} --rates ${RATES} --duration ${DURATION} --warmup ${WARMUP} --broker-warmup ${BROKER_WARMUP} --port ${PORT} --seed ${SEED} --broker-jvm ${BROKER_JVM}"
[[ "${CONFIG}" == "${ROOT}/pemx.toml" ]] || COMMAND_LINE+=" --config ${CONFIG}"

# --- build ------------------------------------------------------------------------------------
if ((BUILD)); then
  log "building in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPEMX_BUILD_TESTS=OFF >/dev/null
  ninja -C "${BUILD_DIR}" -j2 pemx pemx_bench_load pemx_bench_latency >/dev/null
fi
PEMX="${BUILD_DIR}/pemx"
LOAD="${BUILD_DIR}/bench/pemx_bench_load"
LATENCY="${BUILD_DIR}/bench/pemx_bench_latency"
for b in "${PEMX}" "${LOAD}" "${LATENCY}"; do
  [[ -x "${b}" ]] || die "missing ${b} (build first, or drop --no-build)"
done
bench_setup
BROKERS="127.0.0.1:${PORT}"
OPS_PORT=$((PORT + 2))
# The broker's JVM. A tail latency is mostly the broker's pauses, and an event routed by pemx
# passes the broker twice as often as a plain hop's, so how often the broker pauses decides the
# p99 pemx adds: the test broker's small young generation was collected about once a second,
# for about 10 ms each time (docs/benchmarks.md, "The broker's pauses"). stock is what a
# Kafka installation runs with when nobody tuned it (kafka-server-start.sh, kafka-run-class.sh
# of Kafka 3.7.1).
if [[ "${BROKER_JVM}" == stock ]]; then
  export PEMX_KAFKA_HEAP_OPTS="-Xms1G -Xmx1G"
  export PEMX_KAFKA_JVM_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true -Xlog:gc:file=${OUT}/broker-gc.log"
else
  unset PEMX_KAFKA_HEAP_OPTS
  export PEMX_KAFKA_JVM_OPTS="-XX:+UseSerialGC -XX:CICompilerCount=2 -XX:-UsePerfData -Djava.awt.headless=true -Xlog:gc:file=${OUT}/broker-gc.log"
fi
BROKER_JVM_LINE="${PEMX_KAFKA_HEAP_OPTS:-"-Xms128m -Xmx512m"} ${PEMX_KAFKA_JVM_OPTS% -Xlog:*}"
start_broker "${PORT}"
# A fresh broker's JVM answers slowly until its code is compiled: round 1 ran at several
# times the latency of the next ones. BROKER_WARMUP s of the baseline's load on a throw-away
# topic first.
if ((BROKER_WARMUP > 0)); then
  log "warming the broker up (${BROKER_WARMUP} s at 5,000 events/s on a throw-away topic) ..."
  run_child "${LATENCY}" --brokers "${BROKERS}" --produce-topic lat-broker-warmup --rate 5000 \
    --warmup 0 --duration "${BROKER_WARMUP}" >"${OUT}/broker-warmup.json" \
    2>"${OUT}/broker-warmup.log" || log "broker warm-up: not every event came back (ignored)"
fi

# Waits until pemx on OPS_PORT has acknowledged at least one record (up to 60 s).
wait_routing() {
  python3 - "${OPS_PORT}" 60 <<'PY'
import re, sys, time, urllib.request
port, limit = int(sys.argv[1]), float(sys.argv[2])
series = re.compile(r'^pemx_kafka_ingest_acked_total\{[^}]*\} (\d+)', re.M)
end = time.time() + limit
while time.time() < end:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            if sum(int(v) for v in series.findall(r.read().decode())) > 0:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
sys.exit(1)
PY
}

# The program's arguments for a rate ("max": unpaced, with a longer drain for the backlog).
latency_args() {  # rate
  if [[ "$1" == max ]]; then
    printf '%s\n' --rate 0 --drain 120
  else
    printf '%s\n' --rate "$1" --drain 15
  fi
  printf '%s\n' --warmup "${WARMUP}" --duration "${DURATION}" --seed "${SEED}" --partitions 3
}

run_baseline() {  # rate round
  local name="base.${1}.r${2}" rc=0
  local -a args
  mapfile -t args < <(latency_args "$1")
  run_child "${LATENCY}" --brokers "${BROKERS}" --produce-topic "lat-${1}-r${2}-base" \
    --client-id "bench-latency-base" "${args[@]}" >"${OUT}/${name}.json" 2>"${OUT}/${name}.log" || rc=$?
  ((rc == 0)) || log "${name}: not every measured event came back (see ${OUT}/${name}.json)"
}

run_pemx() {  # rate round
  local rate=$1 r=$2 name="pemx.${1}.r${2}" prefix="lat-${1}-r${2}-pemx-" rc=0
  local input="${prefix}in" cfg="${TMP}/pemx.${1}.r${2}.toml"
  local -a args
  mapfile -t args < <(latency_args "${rate}")
  sed -E -e "s/^(topic = \")/\\1${prefix}/" -e "s/^(dead_letter_topic = \")/\\1${prefix}/" \
    -e "s/^listen = \"[^\"]*\"/listen = \"127.0.0.1:${OPS_PORT}\"/" "${CONFIG}" >"${cfg}"
  local -a cmd=("${PEMX}" --role=dist --config "${cfg}" --set "kafka.brokers=${BROKERS}"
                --set "stages.dist_ingest.topics=[\"${input}\"]"
                --set "stages.dist_ingest.group_id=bench-latency-${rate}-r${r}-${RUN_ID}"
                --set log.stats_interval=5s)
  "${PEMX}" check-config "${cmd[@]:2}" >"${OUT}/${name}.routing.txt" || die "generated config is invalid"
  # The primer: creates the input topic (3 partitions); pemx routing it means that its group
  # is joined and its producer connected before the measurement starts.
  run_child "${LOAD}" --brokers "${BROKERS}" --topic "${input}" --count 1 --seed "$((SEED + 1000))" \
    --partitions 3 --timeout 60 >"${OUT}/${name}.primer.json" 2>"${OUT}/${name}.primer.log" \
    || die "${name}: the primer event was not produced"
  start_server "${OUT}/${name}.log" "${OUT}/${name}.time" "${cmd[@]}"
  wait_routing || { tail -n 20 "${OUT}/${name}.log" >&2; die "${name}: pemx did not route the primer within 60 s"; }
  run_child "${LATENCY}" --brokers "${BROKERS}" --produce-topic "${input}" \
    --consume-topic "${prefix}product-event-storage-pemx" --client-id "bench-latency-pemx" \
    "${args[@]}" >"${OUT}/${name}.json" 2>"${OUT}/${name}.tool.log" || rc=$?
  stop_server
  pemx_proc_json "${OUT}/${name}.log" "${OUT}/${name}.time" "${SRV_EXIT}" "${SRV_HWM}" \
    >"${OUT}/${name}.proc.json"
  ((rc == 0)) || log "${name}: not every measured event came back (see ${OUT}/${name}.json)"
}

brief() {  # json file
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.0f events/s: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, %d missing" % (
    d["achieved_per_s"], d["p50_ms"], d["p99_ms"], d["p999_ms"], d["missing"]))' "$1" 2>/dev/null \
    || echo "no result"
}

for rate in "${RATE_LIST[@]}"; do
  for ((r = 1; r <= ROUNDS; r++)); do
    log "rate ${rate}, round ${r}/${ROUNDS}: baseline (produce -> consume) ..."
    run_baseline "${rate}" "${r}"
    log "rate ${rate}, round ${r}/${ROUNDS}: baseline $(brief "${OUT}/base.${rate}.r${r}.json")"
    sleep 1
    log "rate ${rate}, round ${r}/${ROUNDS}: pemx (produce -> pemx -> consume) ..."
    run_pemx "${rate}" "${r}"
    log "rate ${rate}, round ${r}/${ROUNDS}: pemx $(brief "${OUT}/pemx.${rate}.r${r}.json")"
    sleep 1
  done
done

# --- summary ----------------------------------------------------------------------------------
MACHINE="$(machine_description "the broker, the latency program and pemx all run on these 2 cores")"
python3 - "${OUT}" "${ROUNDS}" "${RATES}" "${COMMAND_LINE}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description)" "${DURATION}" "${WARMUP}" "${BROKER_JVM} (${BROKER_JVM_LINE})" \
  >"${OUT}/summary.md" <<'PY'
import json, os, re, statistics, sys
out, rounds, rates, command, machine, run_id, code, duration, warmup, jvm = sys.argv[1:11]
rounds, rates = int(rounds), rates.split(",")
def load(name):
    p = os.path.join(out, name)
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return {}
keys = (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9"))
f2 = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "?"
rows, curve, figures = [], [], []
for rate in rates:
    med = {"base": {}, "pemx": {}}
    for who in ("base", "pemx"):
        runs = [load(f"{who}.{rate}.r{r}.json") for r in range(1, rounds + 1)]
        for k, _ in keys + (("achieved_per_s", ""),):
            vals = [d[k] for d in runs if k in d]
            med[who][k] = statistics.median(vals) if vals else None
    for r in range(1, rounds + 1):
        b, p, pr = load(f"base.{rate}.r{r}.json"), load(f"pemx.{rate}.r{r}.json"), \
            load(f"pemx.{rate}.r{r}.proc.json")
        rows.append("| " + " | ".join([
            rate, str(r), f"{b.get('achieved_per_s', 0):,.0f}",
            f2(b.get("p50_ms")), f2(b.get("p99_ms")), f2(b.get("p999_ms")),
            f"{b.get('missing', '?')}/{b.get('duplicates', '?')}",
            f"{p.get('achieved_per_s', 0):,.0f}",
            f2(p.get("p50_ms")), f2(p.get("p99_ms")), f2(p.get("p999_ms")),
            f"{p.get('missing', '?')}/{p.get('duplicates', '?')}",
            f"{pr.get('exit_code')}", f"{pr.get('warn_lines')}/{pr.get('error_lines')}"]) + " |")
    added = {}
    for k, label in keys:
        b, p = med["base"][k], med["pemx"][k]
        added[k] = p - b if b is not None and p is not None else None
        figures.append({"key": f"latency.{rate}.{label}", "label": f"end-to-end latency at {rate}"
                        f"{' events/s' if rate != 'max' else ''}, {label}", "unit": "ms",
                        "value": p, "baseline": b, "added": added[k],
                        "ratio": p / b if b else None, "lower_is_better": True})
    curve.append((rate, med, added))
print(f"### End-to-end latency through `pemx --role=dist` vs a plain produce -> consume hop, run {run_id}\n")
print(f"- command: `{command}`")
print(f"- code: {code}; Kafka 3.7.1 (one KRaft node, tests/broker/kafka.sh) on loopback")
print(f"- machine: {machine}")
# The broker's stop-the-world pauses over the whole invocation (warm-up included).
pauses = []
try:
    for line in open(os.path.join(out, "broker-gc.log")):
        m = re.search(r"Pause.* ([0-9.]+)ms$", line.strip())
        if m:
            pauses.append(float(m.group(1)))
except OSError:
    pass
gc = (f"{len(pauses)} pauses, median {statistics.median(pauses):.1f} ms, longest "
      f"{max(pauses):.1f} ms" if pauses else "no pause logged")
print(f"- broker JVM: {jvm}; garbage collection over the invocation: {gc}")
print(f"- load: EventGenerator events at each rate, {warmup} s of warm-up (not measured) then "
      f"{duration} s measured, fresh topics per run (3 partitions); the producer acks=all, "
      f"idempotent, linger.ms=0; the consumer without a group, librdkafka's fetch defaults; "
      f"latency = the consumer's receive time - the producer's send time, one process, one "
      f"clock. Baseline: the consumer reads the produced topic. pemx: the consumer reads the "
      f"storage topic pemx routes every event to (the repo's config)\n")
print("| rate | round | baseline events/s | baseline p50 ms | p99 ms | p99.9 ms | missing/dup | "
      "pemx events/s | pemx p50 ms | p99 ms | p99.9 ms | missing/dup | pemx exit | pemx warn/error lines |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print("\n".join(rows))
print("\n**Medians of the rounds, and what pemx adds (median(pemx) - median(baseline)):**\n")
print("| rate | baseline p50 / p99 / p99.9 ms | pemx p50 / p99 / p99.9 ms | added p50 / p99 / p99.9 ms |")
print("| --- | ---: | ---: | ---: |")
for rate, med, added in curve:
    trio = lambda d: " / ".join(f2(d[k]) for k, _ in keys)
    ach = med["pemx"]["achieved_per_s"]
    label = rate if rate != "max" else f"max ({ach:,.0f} events/s)" if ach else "max"
    print(f"| {label} | {trio(med['base'])} | {trio(med['pemx'])} | {trio(added)} |")
json.dump({"figures": figures}, open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json latency "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"

if ((UPDATE_DOC)); then update_doc latency "${OUT}/summary.md"; fi
