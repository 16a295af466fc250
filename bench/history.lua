-- wrk script of bench/run_history.sh: GET /event?productIds=<K random existing ids>.
-- The ids come from the file named by PEMX_BENCH_IDS (one per line, written by
-- pemx_bench_make_store); K is PEMX_BENCH_IDS_PER_REQUEST (default 10). Each wrk thread
-- draws its own random sequence. At the end, one line "PEMX_WRK_JSON {...}" on stdout holds
-- the figures the script reads (requests, errors, latency percentiles in ms).
local ids = {}
do
  local path = os.getenv("PEMX_BENCH_IDS")
  if path then
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
      if #line > 0 then ids[#ids + 1] = line end
    end
    f:close()
  end
end
local per_request = tonumber(os.getenv("PEMX_BENCH_IDS_PER_REQUEST") or "10")

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  if #ids == 0 then error("PEMX_BENCH_IDS: no product ids") end
end

function request()
  local pick = {}
  for i = 1, per_request do pick[i] = ids[math.random(#ids)] end
  return wrk.format("GET", "/event?productIds=" .. table.concat(pick, ","))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PEMX_WRK_JSON {"requests":%d,"duration_s":%.3f,"bytes":%d,"requests_per_s":%.1f,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,' ..
    '"errors_timeout":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"mean_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
