#!/usr/bin/env bash
# Checks the Grafana dashboard and the Prometheus alerting rules of deploy/ (deploy/README.md):
#   1. promtool check rules on deploy/prometheus/pemx-alerts.yml;
#   2. promtool test rules on deploy/prometheus/pemx-alerts.test.yml (every alert fires, and
#      stays quiet when it should);
#   3. every pemx_* metric (and each label matched on it) that the rules and the dashboard name
#      is one the real binary exports: pemx runs --role=all and --role=dist on the embedded
#      Kafka cluster, takes a pushed event through routing and the store, and is scraped;
#   4. the dashboard's queries parse (promtool check rules on them as recording rules);
#   5. docs/metrics.md lists every exported metric with its type and labels, and
#      docs/operations.md every dead-letter reason (scripts/check_metrics_doc.py).
# Usage: scripts/check-monitoring.sh [PEMX_BINARY]   (default build/pemx)
# Environment: PEMX_MONITORING_PORT the first of the two HTTP ports the runs use (default 18490).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pemx=${1:-$root/build/pemx}
port=${PEMX_MONITORING_PORT:-18490}
rules=$root/deploy/prometheus/pemx-alerts.yml
rule_tests=$root/deploy/prometheus/pemx-alerts.test.yml
dashboard=$root/deploy/grafana/pemx.json
fail() { echo "check-monitoring.sh: $*" >&2; exit 1; }
command -v promtool >/dev/null ||
  fail "promtool is missing: install Debian's prometheus package (scripts/install-deps.sh --test)"
[[ -x $pemx ]] || fail "no pemx binary at $pemx: build it first (scripts/build.sh)"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done  # each drains in about 1 s
  rm -rf "$work"
}
trap cleanup EXIT

promtool check rules "$rules"
# promtool test compares annotations too: the tests run on a copy of the rules without them
# (each `annotations:` line and the lines indented deeper below it), so that each runbook is
# written once; `check rules` above has parsed their templates.
mkdir "$work/rules"
awk '{ match($0, /^ */); indent = RLENGTH }
     skip && (indent > skip_indent || $0 ~ /^ *$/) { next }
     { skip = 0 }
     /^ *annotations:$/ { skip = 1; skip_indent = indent; next }
     { print }' "$rules" > "$work/rules/$(basename "$rules")"
grep -q 'annotations:' "$work/rules/$(basename "$rules")" &&
  fail "could not strip the annotations of $rules (each must be an 'annotations:' block)"
cp "$rule_tests" "$work/rules/"
(cd "$work/rules" && promtool test rules "$(basename "$rule_tests")")

# wait_for URL PID SECONDS: polls URL until it answers 2xx; fails if PID exits first.
wait_for() {
  local deadline=$((SECONDS + $3))
  until curl -fsS "$1" >/dev/null 2>&1; do
    kill -0 "$2" 2>/dev/null || fail "pemx exited before $1 answered (log: $work)"
    ((SECONDS < deadline)) || fail "$1 did not answer within $3 s"
    sleep 0.2
  done
}

# --role=all: one event pushed over HTTP, routed, stored and read back, so that the series
# made on first use (per route and status, per output topic) exist too.
all_url=http://127.0.0.1:$port
"$pemx" --role=all --config "$root/pemx.toml" --set kafka.brokers=embedded \
  --set "http.listen=127.0.0.1:$port" --set "stages.store.path=$work/pemx.db" \
  > "$work/all.log" 2>&1 &
pids+=($!)
wait_for "$all_url/readyz" "${pids[-1]}" 30
product=MON$RANDOM$RANDOM
curl -fsS -X POST "$all_url/event" -H 'Content-Type: application/json' -d '{"events":[{
  "eventId":"6f1c2a34-1111-4aaa-8bbb-00000000000'$((RANDOM % 10))'","eventType":"Country",
  "productId":"'"$product"'","region":"EU","createdAt":"2024-07-26T14:41:17.123Z",
  "data":{"country":"Sweden"}}]}' >/dev/null
deadline=$((SECONDS + 30))
until curl -fsS "$all_url/event?productIds=$product" | grep -q "$product"; do
  ((SECONDS < deadline)) || fail "the pushed event was not stored within 30 s (log: $work)"
  sleep 0.2
done
curl -fsS "$all_url/healthz" >/dev/null
curl -sS "$all_url/event" >/dev/null  # a 400: a client error's series
curl -fsS "$all_url/metrics" > "$work/metrics.txt"

# --role=dist: its own operations endpoint (ops_http).
dist_url=http://127.0.0.1:$((port + 1))
"$pemx" --role=dist --config "$root/pemx.toml" --set kafka.brokers=embedded \
  --set "stages.ops_http.listen=127.0.0.1:$((port + 1))" > "$work/dist.log" 2>&1 &
pids+=($!)
wait_for "$dist_url/readyz" "${pids[-1]}" 30
curl -fsS "$dist_url/metrics" >> "$work/metrics.txt"

python3 "$root/scripts/check_metric_names.py" "$work/metrics.txt" "$rules" "$dashboard" \
  "$work/dashboard-queries.yml"
# Every exported metric is in docs/metrics.md with its type and labels, and nothing else is;
# every dead-letter reason has its row in docs/operations.md.
python3 "$root/scripts/check_metrics_doc.py" "$work/metrics.txt" "$root/docs/metrics.md" \
  "$root/docs/operations.md"
# The dashboard's queries are PromQL that Prometheus parses.
promtool check rules "$work/dashboard-queries.yml" >/dev/null ||
  fail "a query of $dashboard does not parse (promtool check rules above names it)"
echo "dashboard: $(grep -c 'record:' "$work/dashboard-queries.yml") queries parse"
