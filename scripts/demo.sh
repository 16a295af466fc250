#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: pemx --role=all on the embedded Kafka
# cluster (in memory, no broker needed). Extra arguments go to pemx (e.g. --set log.level=debug).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh"
PEMX_BUILD_TESTS=OFF "$root/scripts/build.sh"
cat >&2 <<'MSG'
pemx demo: the embedded Kafka's bootstrap address is in the log line "embedded Kafka cluster
started". Send events with kcat, e.g.
  echo '{"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"Country","productId":"ABC1234567","region":"EU","createdAt":"2024-07-26T14:41:17.123Z","data":{"country":"Sweden"}}' \
    | kcat -b BOOTSTRAP -P -t product-event
  kcat -b BOOTSTRAP -C -t country-Sweden -e
  curl 'http://127.0.0.1:8080/event?productIds=ABC1234567'     # its history
Ctrl-C stops it (drains, commits, exits 0).
MSG
exec "$root/build/pemx" --role=all --config "$root/pemx.toml" --set kafka.brokers=embedded "$@"
