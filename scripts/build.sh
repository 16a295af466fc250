#!/usr/bin/env bash
# Configures and builds PEMX into ./build (PEMX_BUILD_TESTS=OFF skips the tests).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmake -S "$root" -B "$root/build" -G Ninja \
  -DCMAKE_BUILD_TYPE="${PEMX_BUILD_TYPE:-RelWithDebInfo}" \
  -DPEMX_BUILD_TESTS="${PEMX_BUILD_TESTS:-ON}" >/dev/null
cmake --build "$root/build" -j "$(nproc)"
