#!/usr/bin/env bash
# Runs the browser tests: `npm ci` when node_modules is missing or older than the lock file,
# then `node --test` on every *.test.mjs here, one file at a time.
# Needs PEMX_BINARY (the built pemx) and PEMX_TEST_BROKERS (scripts/test.sh starts the broker);
# ctest -L browser sets the first and passes the second through.
# Usage: tests/browser/run.sh [node --test options, e.g. --test-name-pattern=search]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "browser tests: '$tool' is not installed: run scripts/install-deps.sh --test" >&2
    exit 1
  fi
done
if [[ ! -x "${PEMX_CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "browser tests: ${PEMX_CHROMIUM:-/usr/bin/chromium} is missing:" \
       "run scripts/install-deps.sh --test" >&2
  exit 1
fi
if [[ -z "${PEMX_TEST_BROKERS:-}" ]]; then
  echo "browser tests: PEMX_TEST_BROKERS is not set: run scripts/test.sh (it starts the Kafka" \
       "test broker), or tests/broker/kafka.sh start and export its address" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json; older than the lock file means stale. Two
# builds testing at once share this directory, hence the lock.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(
  flock -w 300 9 || { echo "browser tests: waited 300 s for $here/.npm-ci.lock" >&2; exit 1; }
  stamp=node_modules/.package-lock.json
  if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
) 9>"$here/.npm-ci.lock"

exec node --test --test-concurrency=1 --test-timeout=120000 "$@" ./*.test.mjs
