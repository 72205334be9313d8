-- wrk script: request the paths listed in $WRK_PATHS in turn (one per line), with the bearer key in
-- $WRK_BEARER; at the end print one JSON line with throughput and latency percentiles (ms). Run it with
-- one thread: each thread walks the list from the start (a "cold" run must request more paths than it
-- gets through, or later requests hit a warm cache; the caller checks that).
local paths, index, threads = {}, 0, {}
degraded = 0  -- global: done() reads it from each thread with thread:get

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
  local bearer = os.getenv("WRK_BEARER")
  if bearer and bearer ~= "" then wrk.headers["Authorization"] = "Bearer " .. bearer end
end

function request()
  index = index + 1
  if index > #paths then index = 1 end
  return wrk.format("GET", paths[index])
end

function response(status, headers, body)
  -- a degraded card (the store missed the budget) is fast but not an answer: count it
  if body and string.find(body, '"degraded":true', 1, true) then degraded = degraded + 1 end
end

function done(summary, latency, requests)
  local total_degraded = 0
  for _, thread in ipairs(threads) do total_degraded = total_degraded + (thread:get("degraded") or 0) end
  local p = {}
  for _, q in ipairs({50, 75, 90, 95, 99, 99.9}) do
    p[#p + 1] = string.format('"%s": %.3f', tostring(q), latency:percentile(q) / 1000)
  end
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests": %d, "duration_s": %.3f, "rps": %.1f, "mean_ms": %.3f, ' ..
    '"max_ms": %.3f, "percentiles_ms": {%s}, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "degraded": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency.mean / 1000, latency.max / 1000, table.concat(p, ", "),
    e.connect, e.read, e.write, e.status, e.timeout, total_degraded))
end
