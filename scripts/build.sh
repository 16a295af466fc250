#!/usr/bin/env bash
# Configures and builds PEMX (binary, tests, benchmarks) into ./build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE="${PEMX_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$root/build" -j "$(nproc)"
