#!/usr/bin/env bash
# Installs the Debian packages PEMX needs to build, test and run, only when missing.
# Usage: scripts/install-deps.sh [--test] [--fuzz]
#   --test adds what the test harness needs (CI: the fuzzing and sanitizer builds included)
#   --fuzz adds clang and libFuzzer (scripts/fuzz.sh, scripts/build-fuzz.sh)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config
      librdkafka-dev libboost-dev libsqlite3-dev rapidjson-dev
      libtomlplusplus-dev libspdlog-dev libfmt-dev libjemalloc-dev catch2 kcat
      libpq-dev
      libsodium-dev  # SipHash for tables keyed by client input (include/pemx/keyed_hash.hpp)
      libssl-dev)  # OpenSSL: TLS on the HTTP listener, SHA-256 for the push's idempotency
test=0 fuzz=0
for arg in "$@"; do
  case "$arg" in
    --test) test=1 fuzz=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done
if ((fuzz)); then
  # One clang version throughout: its compiler, sanitizer runtimes and libFuzzer must match
  # (Debian 12 ships 14; scripts/build-fuzz.sh uses clang++-14).
  pkgs+=(clang-14 libclang-rt-14-dev libfuzzer-14-dev)
fi
if ((test)); then
  pkgs+=(default-jre-headless maven curl python3 time iproute2 wrk)
  # scripts/validate-k8s.sh: a venv for kubernetes-validate (the Kubernetes manifests' check).
  pkgs+=(python3-venv)
  # The secure test broker's throw-away CA and certificate (tests/broker/kafka.sh start-secure).
  pkgs+=(openssl)
  # The postgres_store tests' server (tests/postgres/postgres.sh).
  pkgs+=(postgresql)
  # The package check (scripts/package.sh): systemd-analyze verifies the unit; promtool checks
  # the alerting rules and their tests (scripts/check-monitoring.sh).
  pkgs+=(systemd prometheus)
  # Browser tests (tests/browser): headless chromium; Debian's node and npm unless a node
  # is already on PATH (e.g. from NodeSource, whose nodejs package conflicts with npm).
  pkgs+=(chromium)
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    pkgs+=(nodejs npm)
  fi
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
