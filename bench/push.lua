-- wrk script of bench/run_push.sh: POST /event with the body in the file named by
-- PEMX_BENCH_BODY ({"events":[…200 events…]}), each request with fresh eventIds: the last 12
-- hex digits of every eventId are replaced by the wrk thread's number and a count, so no two
-- requests share one. (The push remembers the events it accepted, idempotency_window: the
-- same body again would be answered from that table and produce nothing.) The events are
-- otherwise the same every time. PEMX_BENCH_BATCH_EVENTS (default 200) is the number of
-- events in it. At the end, one line "PEMX_WRK_JSON {...}" on stdout holds the figures the
-- script reads (requests, errors, latency percentiles in ms, events/s of 2xx answers).
local body = ""
do
  local path = os.getenv("PEMX_BENCH_BODY")
  if path then
    local f = assert(io.open(path, "r"))
    body = f:read("*a")
    f:close()
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- The body cut around the digits to replace: texts[1], digits, texts[2], digits, …, texts[n].
local texts = {}
do
  local from = 1
  while true do
    local _, key_end = string.find(body, '"eventId":"', from, true)
    if not key_end then break end
    local digits = key_end + 1 + 24  -- the id's last 12 characters (a 36-character UUID)
    texts[#texts + 1] = string.sub(body, from, digits - 1)
    from = digits + 12
  end
  texts[#texts + 1] = string.sub(body, from)
end
local ids = #texts - 1

-- Each thread's number (setup runs in the main state, before the threads start).
local threads = 0
function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

local count = 0
local parts = {}
function request()
  count = count + 1
  local n = (thread_number or 0) % 256
  for j = 1, ids do
    local v = count * ids + j  -- below 2^40 for billions of requests
    parts[2 * j - 1] = texts[j]
    parts[2 * j] = string.format("%02x%04x%06x", n, math.floor(v / 16777216) % 65536,
                                 v % 16777216)
  end
  parts[2 * ids + 1] = texts[ids + 1]
  return wrk.format(nil, nil, nil, table.concat(parts, "", 1, 2 * ids + 1))
end
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
