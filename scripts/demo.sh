#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: pemx --role=demo on the embedded Kafka
# cluster (in memory, no broker needed). The demo role is the all role plus the simulator
# stage, which produces a few generated events per second, so the page shows live data at
# once. Extra arguments go to pemx (e.g. --set stages.simulator.rate=50,
# --set http.listen=127.0.0.1:9090, --set log.level=debug).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh"
PEMX_BUILD_TESTS=OFF "$root/scripts/build.sh"

listen=127.0.0.1:8080
for arg in "$@"; do
  case "$arg" in http.listen=*) listen=${arg#http.listen=} ;; esac
done
cat >&2 <<MSG

  pemx demo: open  http://$listen/  in a browser (live events, history, push).

  Generated events (5 a second) flow product-event -> routing -> storage -> the page.
  The embedded Kafka's bootstrap address is in the log line "embedded Kafka cluster started";
  with it, watch the routing end to end from another terminal:
    build/pemx simulate --brokers BOOTSTRAP --rate 200 --count 2000 --watch
  The newest products:   curl 'http://$listen/api/products/recent?limit=5'
  History of one:        curl 'http://$listen/event?productIds=<one of them>'
  Ctrl-C stops it (drains, commits, exits 0).

MSG
exec "$root/build/pemx" --role=demo --config "$root/pemx.toml" --set kafka.brokers=embedded "$@"
