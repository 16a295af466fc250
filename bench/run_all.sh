#!/usr/bin/env bash
# bench/run_all.sh — every benchmark of bench/, one after the other, then the summary table at
# the top of docs/benchmarks.md (issue 13 item 6).
#
#   1. builds pemx and every bench program once (Release, BUILD_DIR) unless --no-build; each
#      script then runs with --no-build;
#   2. runs, in this order (each on the same broker port and PostgreSQL port, one at a time):
#        dist            run_dist.sh
#        dist-eo         run_dist.sh --delivery exactly_once (no results block of its own)
#        dist-embedded   run_dist.sh --cluster embedded (librdkafka's mock cluster, own process)
#        latency         run_latency.sh --rates LATENCY_RATES
#        storage         run_storage.sh
#        storage-pg      run_storage.sh --store postgres
#        history         run_history.sh --ids 10
#        history-ids1    run_history.sh --ids 1
#        history-pg      run_history.sh --store postgres --ids 10
#        history-pg-ids1 run_history.sh --store postgres --ids 1
#        push            run_push.sh
#        failover        run_failover.sh
#        memory          run_memory.sh --roles all (no results block of its own); with
#                        --compare-with DIR, run_memory.sh --roles "dist all" --compare-with DIR:
#                        item 2's throughput against the code before issue 13
#      with --rounds passed through and, with --update-doc, each script's own --update-doc
#      (where it has one); a failed benchmark is reported and the others still run;
#   3. builds the summary table from the summary.json each script leaves in its results folder
#      (bench/summarize.py): each figure, its baseline, the ratio, issue 13's target (met / not
#      met), the run id and commit, the machine (cores, CPU model, load average at the start and
#      end); writes it to bench/results/<UTC time>-run_all/summary.md and, with --update-doc,
#      between the summary-results markers of docs/benchmarks.md.
#
# --quick is a smoke run of the wiring: one round (unless --rounds), tiny counts and short
# durations. Its figures mean nothing, so --quick refuses --update-doc, and it exports
# PEMX_BENCH_NO_UPDATE_DOC, which makes every script's update_doc refuse as well; its
# summary.json files are marked "smoke" and never used for the document's table.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH=run_all
# shellcheck source=bench/common.sh
source "${ROOT}/bench/common.sh"   # log, update_doc
ALL=(dist dist-eo dist-embedded latency storage storage-pg history history-ids1 history-pg history-pg-ids1 push failover memory)

ROUNDS=""
QUICK=0
UPDATE_DOC=0
BUILD=1
BUILD_DIR="${ROOT}/build-bench"
PORT=""
PG_PORT=""
ONLY=""
LATENCY_RATES="1000,5000,20000,max"
COMPARE=""

usage() {
  cat <<EOF
usage: bench/run_all.sh [options]
  --rounds R            rounds of every benchmark (default: each script's own, 3)
  --quick               smoke run: 1 round, tiny counts; never updates docs/benchmarks.md
  --update-doc          every script's results block and the summary table in docs/benchmarks.md
  --port P              broker port of every benchmark (P+1, P+2 are used too; default: each
                        script's own)
  --pg-port P           PostgreSQL port of the PostgreSQL variants (default: each script's own)
  --only LIST           comma-separated subset of: ${ALL[*]}
  --latency-rates LIST  rates of run_latency.sh (default ${LATENCY_RATES})
  --build-dir DIR       where to build (default build-bench)
  --no-build            use the binaries already in --build-dir
  --compare-with DIR    a Release build of the code before issue 13 (e.g. of 9a75e77: cmake -S
                        SRC -B DIR -DCMAKE_BUILD_TYPE=Release -DPEMX_BUILD_TESTS=OFF): the memory
                        benchmark also runs it, for item 2's "at most 5 % throughput lost"
EOF
}

while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --update-doc) UPDATE_DOC=1; shift ;;
    --port) PORT="$2"; shift 2 ;;
    --pg-port) PG_PORT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --latency-rates) LATENCY_RATES="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --compare-with) COMPARE="$(cd "$2" && pwd)" || exit 2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
if ((QUICK && UPDATE_DOC)); then
  echo "run_all: --quick never updates docs/benchmarks.md (its figures are a smoke test); drop --update-doc" >&2
  exit 2
fi
[[ -z "${ROUNDS}" || "${ROUNDS}" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds: a positive integer" >&2; exit 2; }
SELECTED=("${ALL[@]}")
if [[ -n "${ONLY}" ]]; then
  IFS=, read -r -a SELECTED <<<"${ONLY}"
  for b in "${SELECTED[@]}"; do
    [[ " ${ALL[*]} " == *" ${b} "* ]] || { echo "--only: unknown benchmark ${b} (one of: ${ALL[*]})" >&2; exit 2; }
  done
fi

RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${ROOT}/bench/results/${RUN_ID}-run_all"
mkdir -p "${OUT}"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
export PEMX_BENCH_RECORD_OUT="${OUT}/runs.txt"
: >"${PEMX_BENCH_RECORD_OUT}"
if ((QUICK)); then
  export PEMX_BENCH_NO_UPDATE_DOC=1 PEMX_BENCH_SMOKE=1
  ROUNDS="${ROUNDS:-1}"
fi

if ((BUILD)); then
  log "building pemx and the bench programs in ${BUILD_DIR} (Release) ..."
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPEMX_BUILD_TESTS=OFF >/dev/null || exit 1
  ninja -C "${BUILD_DIR}" -j2 >/dev/null || { log "build failed"; exit 1; }
fi

# The command line of one benchmark.
command_for() {  # name
  local -a c common=(--no-build --build-dir "${BUILD_DIR}")
  [[ -n "${ROUNDS}" ]] && common+=(--rounds "${ROUNDS}")
  local -a broker=() pg=() doc=()
  [[ -n "${PORT}" ]] && broker=(--port "${PORT}")
  [[ -n "${PG_PORT}" ]] && pg=(--pg-port "${PG_PORT}")
  ((UPDATE_DOC)) && doc=(--update-doc)
  local -a q_dist=() q_store=() q_hist=() q_push=() q_fail=() q_lat=()
  if ((QUICK)); then
    q_dist=(--events 2000)
    q_store=(--events 2000)
    q_hist=(--events 2000 --duration 2 --warmup 1 --connections 4)
    q_push=(--duration 2)
    q_fail=(--session-ms 6000)
    q_lat=(--duration 2 --warmup 1 --broker-warmup 2)
  fi
  local rates="${LATENCY_RATES}"
  ((QUICK)) && [[ "${rates}" == "1000,5000,20000,max" ]] && rates="1000,max"
  case "$1" in
    dist) c=(run_dist.sh "${broker[@]}" "${doc[@]}" "${q_dist[@]}") ;;
    # run_dist.sh has no results block for exactly-once: its figures go to the summary only.
    dist-eo) c=(run_dist.sh "${broker[@]}" --delivery exactly_once "${q_dist[@]}") ;;
    dist-embedded) c=(run_dist.sh --cluster embedded "${doc[@]}" "${q_dist[@]}") ;;
    latency) c=(run_latency.sh "${broker[@]}" "${doc[@]}" --rates "${rates}" "${q_lat[@]}") ;;
    storage) c=(run_storage.sh "${broker[@]}" "${doc[@]}" "${q_store[@]}") ;;
    storage-pg) c=(run_storage.sh "${broker[@]}" "${pg[@]}" "${doc[@]}" --store postgres "${q_store[@]}") ;;
    history) c=(run_history.sh "${doc[@]}" --ids 10 "${q_hist[@]}") ;;
    history-ids1) c=(run_history.sh "${doc[@]}" --ids 1 "${q_hist[@]}") ;;
    history-pg) c=(run_history.sh "${pg[@]}" "${doc[@]}" --store postgres --ids 10 "${q_hist[@]}") ;;
    history-pg-ids1) c=(run_history.sh "${pg[@]}" "${doc[@]}" --store postgres --ids 1 "${q_hist[@]}") ;;
    push) c=(run_push.sh "${broker[@]}" "${doc[@]}" "${q_push[@]}") ;;
    failover) c=(run_failover.sh "${broker[@]}" "${doc[@]}" "${q_fail[@]}") ;;
    # --role=all's anonymous memory at 1,000,000 stored (item 2; the dist role's peak RSS is
    # run_dist.sh's). No results block of its own: its figures go to the summary only.
    memory)
      if [[ -n "${COMPARE}" ]]; then
        c=(run_memory.sh "${broker[@]}" --roles "dist all" --compare-with "${COMPARE}" "${q_store[@]}")
      else
        c=(run_memory.sh "${broker[@]}" --roles all "${q_store[@]}")
      fi ;;
  esac
  printf '%s\n' "${ROOT}/bench/${c[0]}" "${common[@]}" "${c[@]:1}"
}

FAILED=()
CHILD=""
trap '[[ -n "${CHILD}" ]] && kill -TERM "${CHILD}" 2>/dev/null; wait; exit 130' INT TERM
for b in "${SELECTED[@]}"; do
  mapfile -t cmd < <(command_for "${b}")
  log "${b}: ${cmd[*]#"${ROOT}/"}"
  start_s=${SECONDS}
  # In the background and waited for, so that a signal reaches the running script (whose own
  # trap stops its broker, PostgreSQL and pemx) at once.
  "${cmd[@]}" >"${OUT}/${b}.out" 2>"${OUT}/${b}.log" &
  CHILD=$!
  rc=0
  wait "${CHILD}" || rc=$?
  CHILD=""
  if ((rc == 0)); then
    log "${b}: done in $((SECONDS - start_s)) s"
  else
    log "${b}: FAILED (exit ${rc}) after $((SECONDS - start_s)) s; see ${OUT}/${b}.log"
    tail -n 5 "${OUT}/${b}.log" >&2
    FAILED+=("${b}")
  fi
done

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
MACHINE="$(nproc) cores (${CPU:-unknown CPU}), load average ${LOAD_START} at the start of bench/run_all.sh, ${LOAD_END} at its end"
SUMMARY_ARGS=(--runs "${PEMX_BENCH_RECORD_OUT}" --failed "$(IFS=,; echo "${FAILED[*]}")"
              --machine "${MACHINE}")
if ((QUICK)); then
  SUMMARY_ARGS+=(--only-runs --title "### Summary of smoke run ${RUN_ID} (bench/run_all.sh --quick: tiny counts, the figures mean nothing)")
else
  SUMMARY_ARGS+=(--results "${ROOT}/bench/results" --title "### Summary, bench/run_all.sh run ${RUN_ID}")
fi
python3 "${ROOT}/bench/summarize.py" "${SUMMARY_ARGS[@]}" >"${OUT}/summary.md" \
  || { log "summary failed"; exit 1; }
cat "${OUT}/summary.md"
log "results in ${OUT} (each benchmark's folder is listed in runs.txt)"

if ((UPDATE_DOC)); then
  update_doc summary "${OUT}/summary.md" || exit 1
fi
((${#FAILED[@]} == 0)) || { log "failed: ${FAILED[*]}"; exit 1; }
