#!/usr/bin/env bash
# bench/run_memory.sh — memory of pemx at the full rate (issue 13, item 2), on a real Kafka
# 3.7.1 broker (tests/broker/kafka.sh) on loopback:
#   - dist: peak RSS (VmHWM) and peak anonymous memory (RssAnon) of `pemx --role=dist`
#     routing a backlog of EVENTS events, and its throughput (committed offsets, as
#     run_dist.sh times it);
#   - all: anonymous memory (RssAnon) of `pemx --role=all` once it has routed and stored
#     EVENTS events (the moment pemx_bench_wait_stored sees every row stored and committed,
#     and again 2 s later, idle), its peak RSS, and its throughput (rows stored per second).
# With --compare-with DIR the same runs are made with DIR's pemx (e.g. a Release build of
# main's HEAD before a change), alternating with this tree's in every round, so the
# throughput ratio is measured in one invocation on the same broker and input.
#
#   1. builds pemx and the bench programs (Release) in BUILD_DIR unless --no-build;
#   2. starts a fresh broker on 127.0.0.1:PORT (PORT+1: controller) and always stops it;
#   3. preloads EVENTS events into product-event (3 partitions, pemx_bench_load);
#   4. each round, for each build: a dist run, then an all run, each with a fresh group,
#      fresh output topics (prefixed per run), a fresh SQLite file and HTTP on port 0;
#      /proc/PID/status is sampled every 50 ms (bench/results/.../*.samples.jsonl) and
#      /proc/PID/smaps_rollup kept at the end;
#   5. prints a table per run and the medians, and the ratios this / compared build.
#
# Raw outputs go to bench/results/<UTC time>-run_memory/. Needs: java + mvn (the broker),
# python3, GNU time (optional: peak RSS then comes from the samples).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_memory
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"

ROUNDS=3
EVENTS=1000000
PORT=49092
SEED=1
PARTITIONS=3
BUILD_DIR="${ROOT}/build-bench"
BUILD=1
COMPARE=""
ROLES="dist all"
THIS_SETS=()        # --set KEY=VALUE for this tree's pemx only (bisecting a setting by config)
THIS_ENV=()         # --env NAME=VALUE for this tree's pemx only (e.g. MALLOC_ARENA_MAX=2)
ROUND_TIMEOUT=600   # seconds, per timed program

usage() {
  cat <<EOF
usage: bench/run_memory.sh [options]
  --rounds R           rounds (default ${ROUNDS})
  --events N           events preloaded, routed (and stored) per run (default ${EVENTS})
  --port P             broker port; P+1 is its controller port (default ${PORT})
  --build-dir DIR      where to build this tree (default build-bench)
  --no-build           use the binaries already in --build-dir
  --compare-with DIR   also run DIR/pemx (a Release build of other code) in every round, with
                       the pemx.toml of DIR's source tree (CMakeCache's CMAKE_HOME_DIRECTORY)
  --roles "R..."       which runs: dist, all or both (default "${ROLES}")
  --set KEY=VALUE      passed to this tree's pemx only (repeatable), e.g. to measure one setting
                       against --compare-with without a rebuild
  --env NAME=VALUE     in this tree's pemx's environment only (repeatable)
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --compare-with) COMPARE="$(cd "$2" && pwd)"; shift 2 ;;
    --roles) ROLES="$2"; shift 2 ;;
    --set) THIS_SETS+=(--set "$2"); shift 2 ;;
    --env) THIS_ENV+=("$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ "${ROUNDS}" =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "--rounds: 1..20" >&2; exit 2; }
[[ "${EVENTS}" =~ ^[0-9]+$ ]] && ((EVENTS >= 1)) || { echo "--events: a positive integer" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 not found"
COMMAND_LINE="bench/run_memory.sh --rounds ${ROUNDS} --events ${EVENTS} --port ${PORT} --roles \"${ROLES}\""
[[ -n "${COMPARE}" ]] && COMMAND_LINE+=" --compare-with ${COMPARE}"
((${#THIS_SETS[@]} + ${#THIS_ENV[@]})) && COMMAND_LINE+=" (this build with: ${THIS_ENV[*]} ${THIS_SETS[*]})"

if ((BUILD)); then
  log "building in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "${BUILD_DIR}" -j2 pemx pemx_bench_load pemx_bench_wait pemx_bench_wait_stored >/dev/null
fi
LOAD="${BUILD_DIR}/bench/pemx_bench_load"
WAIT="${BUILD_DIR}/bench/pemx_bench_wait"
WAIT_STORED="${BUILD_DIR}/bench/pemx_bench_wait_stored"
declare -A PEMX_OF=([this]="${BUILD_DIR}/pemx") CONFIG_OF=([this]="${ROOT}/pemx.toml")
BUILDS=(this)
if [[ -n "${COMPARE}" ]]; then
  # The compared code runs with its own pemx.toml: the queue capacities are part of it.
  PEMX_OF[compared]="${COMPARE}/pemx"
  CONFIG_OF[compared]="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "${COMPARE}/CMakeCache.txt" 2>/dev/null)/pemx.toml"
  [[ -f "${CONFIG_OF[compared]}" ]] || die "no pemx.toml for ${COMPARE} (its CMakeCache.txt names no source tree)"
  BUILDS=(compared this)
fi
for b in "${LOAD}" "${WAIT}" "${WAIT_STORED}" "${PEMX_OF[@]}"; do
  [[ -x "${b}" ]] || die "missing ${b} (build first, or drop --no-build)"
done
bench_setup
BROKERS="127.0.0.1:${PORT}"

start_broker "${PORT}"
log "preloading ${EVENTS} events into product-event ..."
run_child "${LOAD}" --brokers "${BROKERS}" --topic product-event --count "${EVENTS}" --seed "${SEED}" \
  --partitions "${PARTITIONS}" --timeout "${ROUND_TIMEOUT}" >"${OUT}/load.json" \
  2>"${OUT}/load.log" || { cat "${OUT}/load.json" "${OUT}/load.log" >&2; die "preload failed"; }

# Samples /proc/PID/status every 50 ms into FILE (JSON lines) until the process ends.
sample() {  # pid file
  python3 - "$1" "$2" <<'PY' &
import json, sys, time
pid, out = sys.argv[1], sys.argv[2]
keys = ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads")
with open(out, "w") as f:
    while True:
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            break
        d = {"t": round(time.time(), 3)}
        for line in status.splitlines():
            k, _, v = line.partition(":")
            if k in keys:
                d[k] = int(v.split()[0])
        f.write(json.dumps(d) + "\n")
        f.flush()
        time.sleep(0.05)
PY
  SAMPLER_PID=$!
  PIDS+=("${SAMPLER_PID}")
}

status_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null || true; }

run_pemx() {  # build role round
  local b=$1 role=$2 r=$3 tag="$1.$2.r$3" prefix="mem-r$3-$1-$2-" cfg="${TMP}/$1.$2.r$3.toml"
  local start_ms pid rc=0 anon_done="" anon_idle=""
  local group="mem-${tag}-${RUN_ID}" store_group="mem-store-${tag}-${RUN_ID}"
  sed -E -e "s/^(topic = \")/\\1${prefix}/" -e "s/^(dead_letter_topic = \")/\\1${prefix}/" \
    -e "s/^listen = \"[^\"]*\"/listen = \"127.0.0.1:0\"/" \
    -e "s/^topics = \[\"product-event-storage-pemx\"\]/topics = [\"${prefix}product-event-storage-pemx\"]/" \
    "${CONFIG_OF[$b]}" >"${cfg}"
  local -a cmd=("${PEMX_OF[$b]}" "--role=${role}" --config "${cfg}" --set "kafka.brokers=${BROKERS}"
                --set "stages.dist_ingest.group_id=${group}" --set log.stats_interval=5s)
  if [[ "${b}" == this ]]; then
    cmd+=("${THIS_SETS[@]}")
    ((${#THIS_ENV[@]} == 0)) || cmd=(env "${THIS_ENV[@]}" "${cmd[@]}")
  fi
  if [[ "${role}" == all ]]; then
    cmd+=(--set "stages.store_ingest.group_id=${store_group}" --set "stages.store.path=${TMP}/${tag}.db")
  fi
  start_ms="$(date +%s%3N)"
  start_server "${OUT}/${tag}.log" "${OUT}/${tag}.time" "${cmd[@]}"
  pid=${SRV_PID}
  sample "${pid}" "${OUT}/${tag}.samples.jsonl"
  if [[ "${role}" == dist ]]; then
    run_child "${WAIT}" --brokers "${BROKERS}" --group "${group}" --topic product-event \
      --expect "${EVENTS}" --start-ms "${start_ms}" --pid "${pid}" --timeout "${ROUND_TIMEOUT}" \
      >"${OUT}/${tag}.wait.json" 2>"${OUT}/${tag}.wait.log" || rc=$?
  else
    run_child "${WAIT_STORED}" --brokers "${BROKERS}" --group "${store_group}" \
      --topic "${prefix}product-event-storage-pemx" --db "${TMP}/${tag}.db" --expect "${EVENTS}" \
      --start-ms "${start_ms}" --pid "${pid}" --timeout "${ROUND_TIMEOUT}" \
      >"${OUT}/${tag}.wait.json" 2>"${OUT}/${tag}.wait.log" || rc=$?
    anon_done="$(status_kib "${pid}" RssAnon)"
    sleep 2
    anon_idle="$(status_kib "${pid}" RssAnon)"
  fi
  cat "/proc/${pid}/smaps_rollup" >"${OUT}/${tag}.smaps_rollup" 2>/dev/null || true
  stop_server
  wait "${SAMPLER_PID}" 2>/dev/null || true
  forget_pid "${SAMPLER_PID}"
  pemx_proc_json "${OUT}/${tag}.log" "${OUT}/${tag}.time" "${SRV_EXIT}" "${SRV_HWM}" \
    "\"anon_done_kib\":${anon_done:-null},\"anon_idle_kib\":${anon_idle:-null}" >"${OUT}/${tag}.proc.json"
  ((rc == 0)) || { tail -n 20 "${OUT}/${tag}.log" >&2; die "${tag}: pemx did not finish ${EVENTS} events"; }
  rm -f "${TMP}/${tag}.db" "${TMP}/${tag}.db-wal" "${TMP}/${tag}.db-shm"
}

for ((r = 1; r <= ROUNDS; r++)); do
  for role in ${ROLES}; do
    for b in "${BUILDS[@]}"; do
      log "round ${r}/${ROUNDS}: ${b} --role=${role} ..."
      run_pemx "${b}" "${role}" "${r}"
      sleep 2   # let the broker settle
    done
  done
done

MACHINE="$(machine_description "the broker, the bench programs and pemx all run on these 2 cores")"
python3 - "${OUT}" "${ROUNDS}" "${EVENTS}" "${ROLES}" "${BUILDS[*]}" "${MACHINE}" "${RUN_ID}" \
  "$(code_description)" "${COMPARE:-none}" "${THIS_ENV[*]} ${THIS_SETS[*]}" >"${OUT}/summary.md" <<'PY'
import json, os, statistics, sys
out, rounds, events, roles, builds, machine, run_id, code, compare, sets = sys.argv[1:11]
rounds, events, roles, builds = int(rounds), int(events), roles.split(), builds.split()
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
def samples(tag):
    p = os.path.join(out, f"{tag}.samples.jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
mib = lambda k: f"{k / 1024:.0f}" if isinstance(k, (int, float)) else "?"
rows, med = [], {}
for role in roles:
    for b in builds:
        for r in range(1, rounds + 1):
            tag = f"{b}.{role}.r{r}"
            w, pr, s = load(f"{tag}.wait.json"), load(f"{tag}.proc.json"), samples(tag)
            peak = pr.get("peak_rss_kib") or max((x.get("VmHWM", 0) for x in s), default=None)
            peak_anon = max((x.get("RssAnon", 0) for x in s), default=None)
            rate = w.get("events_per_s") if role == "dist" else w.get("rows_events_per_s")
            m = {"peak": peak, "peak_anon": peak_anon, "rate": rate,
                 "anon_done": pr.get("anon_done_kib"), "anon_idle": pr.get("anon_idle_kib")}
            for k, v in m.items():
                if isinstance(v, (int, float)):
                    med.setdefault((role, b, k), []).append(v)
            rows.append("| " + " | ".join([role, b, str(r), f"{rate:,.0f}" if rate else "?",
                mib(peak), mib(peak_anon), mib(m["anon_done"]), mib(m["anon_idle"]),
                str(pr.get("exit_code")), f"{pr.get('warn_lines')}/{pr.get('error_lines')}"]) + " |")
print(f"### Memory, run {run_id}\n")
print(f"- code: {code}; compared with: {compare}" + (f"; this build with: `{sets.strip()}`" if sets.strip() else ""))
print(f"- machine: {machine}")
print(f"- input: {events:,} EventGenerator events in `product-event` (3 partitions); dist: "
      f"timed until its offsets are committed; all: until every row is stored and committed\n")
print("| role | build | round | events/s | peak RSS MiB | peak anon MiB | anon at N stored MiB | "
      "anon 2 s later MiB | exit | warn/error lines |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print("\n".join(rows))
print("\n| role | build | median events/s | median peak RSS MiB | median peak anon MiB | "
      "median anon at N stored MiB |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
md = lambda role, b, k: statistics.median(med[(role, b, k)]) if med.get((role, b, k)) else None
for role in roles:
    for b in builds:
        rate = md(role, b, "rate")
        print(f"| {role} | {b} | {rate:,.0f} | {mib(md(role, b, 'peak'))} | "
              f"{mib(md(role, b, 'peak_anon'))} | {mib(md(role, b, 'anon_done'))} |"
              if rate else f"| {role} | {b} | ? | | | |")
if "compared" in builds:
    print()
    for role in roles:
        a, t = md(role, "compared", "rate"), md(role, "this", "rate")
        if a and t:
            print(f"- {role}: throughput this / compared = **{t / a:.2f}** (medians)")
for role, k, limit in (("dist", "peak", 64), ("all", "anon_done", 96)):
    v = md(role, "this", k)
    if v is not None:
        print(f"- {role}: median {'peak RSS' if k == 'peak' else 'anonymous memory at N stored'} "
              f"{v / 1024:.0f} MiB (target <= {limit} MiB: {'met' if v / 1024 <= limit else 'NOT met'})")
# summary.json (bench/run_all.sh): this build's medians; the compared build's, when there is
# one, as the baseline.
figures = []
for role, k, key, label in (
        ("dist", "peak", "memory.dist.peak_rss", f"`--role=dist` peak RSS routing {events:,} events"),
        ("all", "anon_done", "memory.all.anon_at_stored",
         f"`--role=all` anonymous memory when {events:,} events are stored")):
    v = md(role, "this", k)
    if v is None:
        continue
    base = md(role, "compared", k)
    figures.append({"key": key, "label": label, "unit": "MiB", "value": v / 1024,
                    "baseline": base / 1024 if base else None,
                    "baseline_label": "compared build" if base else None,
                    "ratio": v / base if base else None, "lower_is_better": True})
    t, a = md(role, "this", "rate"), md(role, "compared", "rate")
    figures.append({"key": f"memory.{role}.throughput", "label": f"`--role={role}` throughput "
                    "in the memory run", "unit": "events/s", "value": t, "baseline": a,
                    "baseline_label": "compared build" if a else None,
                    "ratio": t / a if t and a else None})
json.dump({"figures": figures}, open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
stamp_summary_json memory "${COMMAND_LINE}"
echo >&2
cat "${OUT}/summary.md"
log "raw results in ${OUT}"
