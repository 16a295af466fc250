#!/usr/bin/env bash
# Installs what is missing, builds, starts the Kafka test broker, runs every test (unit and
# integration), stops the broker. Usage: scripts/test.sh [--unit]   (--unit: no broker)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh" --test
"$root/scripts/build.sh"

if [[ "${1:-}" == "--unit" ]]; then
  ctest --test-dir build --output-on-failure -L unit
  exit 0
fi

port=${PEMX_TEST_KAFKA_PORT:-19092}
"$root/tests/broker/kafka.sh" fetch
trap '"$root/tests/broker/kafka.sh" stop "$port" >/dev/null 2>&1 || true' EXIT
PEMX_TEST_BROKERS=$("$root/tests/broker/kafka.sh" start "$port")
export PEMX_TEST_BROKERS
echo "test broker: $PEMX_TEST_BROKERS"
ctest --test-dir build --output-on-failure --timeout 1800
