#!/usr/bin/env bash
# Configures and builds PEMX into ./build (PEMX_BUILD_TESTS=OFF skips the tests).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# ccache, when installed, keeps rebuilds (and several work trees of one checkout) fast.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root" -B "$root/build" -G Ninja "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE="${PEMX_BUILD_TYPE:-RelWithDebInfo}" \
  -DPEMX_BUILD_TESTS="${PEMX_BUILD_TESTS:-ON}" >/dev/null
cmake --build "$root/build" -j "$(nproc)"
