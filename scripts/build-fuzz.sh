#!/usr/bin/env bash
# Configures ./build-fuzz (clang, -DPEMX_FUZZ=ON: every library built with
# -fsanitize=fuzzer-no-link,address,undefined) and builds the given targets, by default every
# fuzz target (pemx_fuzz). The same build holds the ASan/UBSan unit tests (pemx_unit_tests),
# so the libraries are compiled once for both. No pemx binary, no bench, no browser tests.
# Usage: scripts/build-fuzz.sh [TARGET...]      (docs/fuzzing.md)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh" --fuzz
# A cache made with another compiler: CMake would reconfigure without the options below.
cache="$root/build-fuzz/CMakeCache.txt"
if [[ -f "$cache" ]] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$cache"; then
  rm -f "$cache"
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root" -B "$root/build-fuzz" -G Ninja "${launcher[@]}" \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPEMX_FUZZ=ON -DPEMX_BUILD_TESTS=ON -DPEMX_BUILD_BENCH=OFF >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(pemx_fuzz); fi
cmake --build "$root/build-fuzz" -j "$(nproc)" --target "${targets[@]}"
