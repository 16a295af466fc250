#!/usr/bin/env bash
# Builds the libFuzzer targets (scripts/build-fuzz.sh, into ./build-fuzz) and runs each for a
# bounded time on its seed corpus (tests/fuzz/corpus/TARGET) and dictionary. New inputs go to a
# scratch corpus (build-fuzz/fuzz-work/corpus/TARGET), not into the repository, unless --merge
# is given. Exits non-zero on any finding (crash, sanitizer report, leak, timeout, OOM) and
# prints the path of the input that caused it. Prints executions, cov and ft per target.
#
# Usage: scripts/fuzz.sh [--time SECONDS_PER_TARGET] [--merge] [--no-build] [TARGET...]
#   --time N    run each target N seconds (default 60)
#   --merge     afterwards, add the scratch inputs that reach new coverage to the seed corpus
#   --no-build  use the targets already built in build-fuzz
#   TARGET      event_route, config_load, ... (default: every target; see tests/fuzz/)
# Environment: PEMX_FUZZ_ARGS adds libFuzzer options (e.g. "-jobs=2 -workers=2").
# docs/fuzzing.md explains the targets, reproducing a finding and adding a target.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

seconds=60 merge=0 build=1 wanted=()
while (($#)); do
  case "$1" in
    --time) seconds=${2:?--time needs SECONDS}; shift 2 ;;
    --time=*) seconds=${1#--time=}; shift ;;
    --merge) merge=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) wanted+=("$1"); shift ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "fuzz.sh: --time needs a whole number of seconds, got \"$seconds\"" >&2
  exit 2
fi

if ((build)); then "$root/scripts/build-fuzz.sh"; fi
list="$root/build-fuzz/tests/fuzz/targets.txt"
if [[ ! -f "$list" ]]; then
  echo "fuzz.sh: $list is missing: build first (scripts/build-fuzz.sh)" >&2
  exit 2
fi
declare -A binary
targets=()
while read -r name path; do
  binary[$name]=$path
  targets+=("$name")
done <"$list"
if ((${#wanted[@]})); then
  for t in "${wanted[@]}"; do
    if [[ -z "${binary[$t]:-}" ]]; then
      echo "fuzz.sh: no target \"$t\"; the targets are: ${targets[*]}" >&2
      exit 2
    fi
  done
  targets=("${wanted[@]}")
fi

work="$root/build-fuzz/fuzz-work"
failed=() summary=()
for t in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$t"
  scratch="$work/corpus/$t"
  artifacts="$work/artifacts/$t"
  log="$work/$t.log"
  mkdir -p "$seeds" "$scratch" "$artifacts"
  common=(-timeout=25 -rss_limit_mb=2048 -artifact_prefix="$artifacts/")
  # 1. Every seed once, whole: the fuzzing below truncates inputs to its -max_len.
  echo "fuzz: $t: the seeds, whole (log $work/$t.seeds.log)"
  seed_files=()
  while IFS= read -r -d '' f; do seed_files+=("$f"); done \
    < <(find "$seeds" -maxdepth 1 -type f -print0 | sort -z)
  rc=0
  if ((${#seed_files[@]})); then
    "${binary[$t]}" "${common[@]}" "${seed_files[@]}" >"$work/$t.seeds.log" 2>&1 || rc=$?
  fi
  if ((rc != 0)); then
    input=$(sed -n 's/^Running: //p' "$work/$t.seeds.log" | tail -1)
    grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|[a-z_]+: )|runtime error' "$work/$t.seeds.log" >&2 ||
      true
    echo "fuzz: FINDING in $t (exit $rc): seed $input" >&2
    echo "fuzz: reproduce with ${binary[$t]} $input" >&2
    failed+=("$t")
    summary+=("$(printf '%-16s FINDING: seed %s' "$t" "$input")")
    continue
  fi
  # 2. Fuzzing. TARGET.options holds the target's own libFuzzer options (e.g. -max_len).
  args=("${common[@]}" -max_total_time="$seconds" -print_final_stats=1)
  if [[ -f "$root/tests/fuzz/$t.dict" ]]; then args+=(-dict="$root/tests/fuzz/$t.dict"); fi
  if [[ -f "$root/tests/fuzz/$t.options" ]]; then
    read -r -a options < <(grep -v '^#' "$root/tests/fuzz/$t.options" | tr '\n' ' ') || true
    args+=("${options[@]}")
  fi
  # shellcheck disable=SC2206  # PEMX_FUZZ_ARGS is a list of options on purpose
  args+=(${PEMX_FUZZ_ARGS:-})
  echo "fuzz: $t for ${seconds}s (log $log)"
  # The scratch corpus first: libFuzzer writes new inputs into the first directory.
  (cd "$work" && "${binary[$t]}" "${args[@]}" "$scratch" "$seeds") >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  line=$(printf '%-16s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s' "$t" "${execs:-?}" \
         "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if ((rc != 0)); then
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|[a-z_]+: )|runtime error' "$log" >&2 || true
    echo "fuzz: FINDING in $t (exit $rc): input ${input:-(none written; see $log)}" >&2
    echo "fuzz: reproduce with ${binary[$t]} ${input:-INPUT}" >&2
    failed+=("$t")
    line+="  FINDING: ${input:-see $log}"
  fi
  summary+=("$line")
  if ((merge && rc == 0)); then
    echo "fuzz: merging new inputs of $t into $seeds"
    "${binary[$t]}" -merge=1 -artifact_prefix="$artifacts/" "$seeds" "$scratch" \
      >"$work/$t.merge.log" 2>&1
  fi
done

echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
