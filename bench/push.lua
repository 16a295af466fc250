-- wrk script of bench/run_push.sh: POST /event with the fixed body in the file named by
-- PEMX_BENCH_BODY ({"events":[…200 events…]}; the same events every time, so eventIds
-- repeat, which the push accepts). PEMX_BENCH_BATCH_EVENTS (default 200) is the number of
-- events in it. At the end, one line "PEMX_WRK_JSON {...}" on stdout holds the figures the
-- script reads (requests, errors, latency percentiles in ms, events/s of 2xx answers).
do
  local path = os.getenv("PEMX_BENCH_BODY")
  if path then
    local f = assert(io.open(path, "r"))
    wrk.body = f:read("*a")
    f:close()
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local batch_events = tonumber(os.getenv("PEMX_BENCH_BATCH_EVENTS") or "200")

function done(summary, latency, requests)
  local e = summary.errors
  local ok = summary.requests - e.status
  io.write(string.format(
    'PEMX_WRK_JSON {"requests":%d,"duration_s":%.3f,"bytes":%d,"requests_per_s":%.1f,' ..
    '"ok_requests":%d,"events_per_s":%.1f,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    summary.requests / (summary.duration / 1e6), ok,
    ok * batch_events / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
