#!/usr/bin/env bash
# Installs what is missing, builds, starts the Kafka test broker, runs every test (unit,
# integration, browser), stops the broker; then builds the unit tests with ASan and UBSan and
# runs them, and runs every fuzz target for a bounded time (docs/fuzzing.md). Every stage runs
# even when an earlier one failed; the exit code is non-zero if any failed.
# Usage: scripts/test.sh [--unit | --no-sanitize | --sanitize-only]
#   --unit           the quick run: unit tests only (no broker, no sanitizers, no fuzzing)
#   --no-sanitize    everything but the ASan/UBSan unit tests and the fuzz targets
#   --sanitize-only  only the ASan/UBSan unit tests and the fuzz targets (no broker)
# Environment: PEMX_FUZZ_TIME seconds per fuzz target (default 60; 0 skips fuzzing),
#              PEMX_PACKAGE_INSTALL=1 installs the .deb for real (scripts/package.sh --install:
#              root, a throw-away machine; .ci/run sets it),
#              PEMX_TEST_KAFKA_PORT the broker's port (default 19092),
#              PEMX_TEST_POSTGRES_PORT the test PostgreSQL's port (default 19432),
#              PEMX_TEST_POSTGRES_REPLICA_PORT its streaming replica's (default 19434),
#              PEMX_TEST_CLUSTER_PORT the three-broker cluster's first port (default 19100; it
#              uses that port and the next five) for the broker failover test,
#              PEMX_TEST_SECURE_KAFKA_PORT the SASL_SSL broker's (default 19200; and the next),
#              PEMX_TEST_KAFKA_B_PORT a second broker's, for [clusters] (default 19094; and the next).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

unit_only=0 sanitize=1 broker=1
for arg in "$@"; do
  case "$arg" in
    --unit) unit_only=1 ;;
    --no-sanitize) sanitize=0 ;;
    --sanitize-only) broker=0 ;;
    *) echo "test.sh: unknown option $arg (see the usage at the top of $0)" >&2
       exit 2 ;;
  esac
done

"$root/scripts/install-deps.sh" --test
if ((broker)); then "$root/scripts/build.sh"; fi

if ((unit_only)); then
  ctest --test-dir build --output-on-failure -L unit
  exit 0
fi

# Stage timings, printed at the end: CI must stay under 30 minutes on 2 cores.
timings=()
stage() {  # stage NAME COMMAND...: runs it, records its time and outcome, never exits
  local name=$1 start=$SECONDS rc=0
  shift
  echo "=== $name"
  "$@" || rc=$?
  timings+=("$(printf '%-28s %4ds  %s' "$name" $((SECONDS - start)) \
              "$( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)")")")
  return "$rc"
}
status=0
# The test stages' output is kept too: the end of the run repeats each failure's first lines,
# where a CI log cut to its head and tail still shows them.
logs=$(mktemp -d "${TMPDIR:-/tmp}/pemx-test-logs.XXXXXX")

if ((broker)); then
  port=${PEMX_TEST_KAFKA_PORT:-19092}
  "$root/tests/broker/kafka.sh" fetch
  pg_port=${PEMX_TEST_POSTGRES_PORT:-19432}
  pg_replica_port=${PEMX_TEST_POSTGRES_REPLICA_PORT:-19434}
  cluster_port=${PEMX_TEST_CLUSTER_PORT:-19100}
  secure_port=${PEMX_TEST_SECURE_KAFKA_PORT:-19200}
  port_b=${PEMX_TEST_KAFKA_B_PORT:-19094}
  trap '"$root/tests/broker/kafka.sh" stop "$port" >/dev/null 2>&1 || true
        "$root/tests/broker/kafka.sh" stop-cluster "$cluster_port" >/dev/null 2>&1 || true
        "$root/tests/broker/kafka.sh" stop "$secure_port" >/dev/null 2>&1 || true
        "$root/tests/broker/kafka.sh" stop "$port_b" >/dev/null 2>&1 || true
        "$root/tests/postgres/postgres.sh" stop "$pg_replica_port" >/dev/null 2>&1 || true
        "$root/tests/postgres/postgres.sh" stop "$pg_port" >/dev/null 2>&1 || true' EXIT
  PEMX_TEST_BROKERS=$("$root/tests/broker/kafka.sh" start "$port")
  export PEMX_TEST_BROKERS
  echo "test broker: $PEMX_TEST_BROKERS"
  # A second cluster (tests/integration/clusters_test.cpp: [clusters.<name>]).
  PEMX_TEST_BROKERS_B=$("$root/tests/broker/kafka.sh" start "$port_b")
  export PEMX_TEST_BROKERS_B
  # Three brokers for the failover test (tests/integration/failover_test.cpp), ~11 s to start.
  PEMX_TEST_CLUSTER=$("$root/tests/broker/kafka.sh" start-cluster "$cluster_port")
  export PEMX_TEST_CLUSTER
  echo "test cluster: $PEMX_TEST_CLUSTER"
  # SASL/SCRAM over TLS (tests/integration/secure_kafka_test.cpp): address, CA, user, password.
  PEMX_TEST_SECURE_KAFKA=$("$root/tests/broker/kafka.sh" start-secure "$secure_port")
  export PEMX_TEST_SECURE_KAFKA
  echo "test secure broker: ${PEMX_TEST_SECURE_KAFKA%% *}"
  PEMX_TEST_POSTGRES=$("$root/tests/postgres/postgres.sh" start "$pg_port")
  export PEMX_TEST_POSTGRES
  echo "test PostgreSQL: 127.0.0.1:$pg_port"
  # Its hot-standby replica, for read_connection (tests/integration/postgres_replica_test.cpp).
  PEMX_TEST_POSTGRES_REPLICA=$("$root/tests/postgres/postgres.sh" start-replica \
    "$pg_replica_port" "$pg_port")
  export PEMX_TEST_POSTGRES_REPLICA
  echo "test PostgreSQL replica: 127.0.0.1:$pg_replica_port"
  stage "tests (unit, integration, browser)" \
    ctest --test-dir build --output-on-failure --timeout 1800 --output-log "$logs/tests.log" ||
    status=1
  "$root/tests/broker/kafka.sh" stop "$port" >/dev/null 2>&1 || true
  "$root/tests/broker/kafka.sh" stop-cluster "$cluster_port" >/dev/null 2>&1 || true
  "$root/tests/broker/kafka.sh" stop "$secure_port" >/dev/null 2>&1 || true
  "$root/tests/broker/kafka.sh" stop "$port_b" >/dev/null 2>&1 || true
  # PostgreSQL keeps running for the ASan unit run's postgres_store tests; the EXIT trap
  # stops it.
  # The .deb from this build (PEMX_PACKAGE_INSTALL=1, as .ci/run sets: installed with dpkg -i;
  # else extracted), and the dashboard and alerts against the binary's metrics (deploy/).
  stage "package (.deb)" "$root/scripts/package.sh" ${PEMX_PACKAGE_INSTALL:+--install} ||
    status=1
  stage "dashboard and alerts" "$root/scripts/check-monitoring.sh" || status=1
fi

if ((broker)); then
  # docs/openapi.json against the OpenAPI specification, offline (pinned validator).
  stage "openapi document" "$root/scripts/validate-openapi.sh" || status=1
  # deploy/kubernetes against the Kubernetes schemas, offline, and check-config with build/pemx.
  PEMX_BIN="$root/build/pemx" stage "kubernetes manifests" "$root/scripts/validate-k8s.sh" ||
    status=1
fi

if ((sanitize)); then
  # One clang build (build-fuzz) holds both: the libraries are compiled once.
  if stage "sanitizer build" "$root/scripts/build-fuzz.sh" pemx_unit_tests pemx_fuzz; then
    stage "unit tests, ASan+UBSan" \
      ctest --test-dir build-fuzz --output-on-failure -L unit --timeout 600 \
      --output-log "$logs/sanitized.log" || status=1
    if ((${PEMX_FUZZ_TIME:-60} > 0)); then
      stage "fuzz targets, ${PEMX_FUZZ_TIME:-60}s each" \
        "$root/scripts/fuzz.sh" --no-build --time "${PEMX_FUZZ_TIME:-60}" || status=1
    fi
  else
    status=1
  fi
fi

echo "=== stage times"
printf '  %s\n' "${timings[@]}"
for log in "$logs"/*.log; do
  [[ -f $log ]] || continue
  if grep -qE '(: FAILED:|\*\*\*Failed|\*\*\*Timeout|ERROR: AddressSanitizer|runtime error:)' "$log"; then
    echo "=== failures in $(basename "$log" .log) (the first; the whole output is above)"
    grep -B6 -A5 -E '(: FAILED:|\*\*\*Failed|\*\*\*Timeout|ERROR: AddressSanitizer|runtime error:)' \
      "$log" | head -80 || true
  fi
done
rm -rf "$logs"
exit "$status"
