#!/usr/bin/env bash
# bench/callgrind_history.sh — instructions per history request (GET /event) of one pemx
# binary, counted by callgrind: the measure of docs/benchmarks.md "PEMX's cost over its own
# store", which does not move with the machine's load as CPU time does.
#
#   bench/callgrind_history.sh PEMX STORE_DB IDS_FILE [IDS_PER_REQUEST] [REQUESTS] [PORT] [OUT]
#
# Runs `PEMX --role=web` (kafka.brokers=embedded, the repo's pemx.toml, the store file
# STORE_DB) under `valgrind --tool=callgrind --instr-atstart=no` on 127.0.0.1:PORT (default
# 19621), sends 50 warm-up requests on one keep-alive connection, switches instrumentation on,
# sends REQUESTS (default 1000) requests of IDS_PER_REQUEST (default 10) random ids of
# IDS_FILE (the same seeded sequence for every binary), dumps, stops pemx and prints the
# instructions per request: the whole process, and inclusive of sqlite3_step. The callgrind
# file stays in OUT (default a temporary directory) for callgrind_annotate. Needs valgrind
# (Debian package valgrind) and python3.
set -euo pipefail
command -v valgrind >/dev/null || { echo "callgrind_history: valgrind not found (apt-get install valgrind)" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEMX=$1 DB=$2 IDS=$3 K=${4:-10} N=${5:-1000} PORT=${6:-19621} OUT=${7:-$(mktemp -d)}
mkdir -p "${OUT}"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="${OUT}/callgrind.out" \
  "${PEMX}" --role=web --config "${ROOT}/pemx.toml" --set kafka.brokers=embedded \
  --set "store.path=${DB}" --set "http.listen=127.0.0.1:${PORT}" \
  >"${OUT}/pemx.log" 2>&1 &
VG=$!
trap 'kill ${VG} 2>/dev/null || true' EXIT
python3 - "${PORT}" "${IDS}" "${K}" "${N}" "${VG}" <<'PY'
import http.client, random, subprocess, sys, time
port, ids_file, k, n, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ids = [l.strip() for l in open(ids_file) if l.strip()]
rnd = random.Random(7)
deadline = time.time() + 300
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/readyz"); r = c.getresponse(); r.read()
        if r.status == 200: break
    except OSError:
        pass
    if time.time() > deadline: sys.exit("pemx did not become ready")
    time.sleep(0.5)
def ask(count):
    for _ in range(count):
        c.request("GET", "/event?productIds=" + ",".join(rnd.choice(ids) for _ in range(k)))
        r = c.getresponse(); r.read()
        if r.status != 200: sys.exit(f"status {r.status}")
ask(50)
subprocess.run(["callgrind_control", "-i", "on", pid], check=True, stdout=subprocess.DEVNULL)
ask(n)
subprocess.run(["callgrind_control", "-d", pid], check=True, stdout=subprocess.DEVNULL)
subprocess.run(["callgrind_control", "-i", "off", pid], check=True, stdout=subprocess.DEVNULL)
PY
kill -TERM "${VG}"
wait "${VG}" || true
trap - EXIT
DUMP="$(ls -t "${OUT}"/callgrind.out.* | head -n 1)"
callgrind_annotate --inclusive=yes "${DUMP}" >"${OUT}/inclusive.txt" 2>/dev/null
python3 - "${OUT}/inclusive.txt" "${N}" <<'PY'
import re, sys
text, n = open(sys.argv[1]).read(), int(sys.argv[2])
num = lambda s: int(s.replace(",", ""))
total = num(re.search(r"^\s*([\d,]+) .*PROGRAM TOTALS", text, re.M).group(1))
m = re.search(r"^\s*([\d,]+) .*\bsqlite3_step\b", text, re.M)
step = num(m.group(1)) if m else 0
print(f"instructions per request: whole {total / n / 1000:.1f} k, sqlite3_step {step / n / 1000:.1f} k, "
      f"the rest {(total - step) / n / 1000:.1f} k")
PY
echo "callgrind output: ${DUMP}"
