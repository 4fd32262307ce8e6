-- dbread.lua — wrk script: POST /api/v1/db/read, the rides service's
-- "upcoming rides from A to B" query (an indexed select with a range filter).
local body = '{"op":"select","table":"rides","columns":["ride_id","created_by","ts"],' ..
  '"where":{"source":1,"destination":2,"ts":{"gt":1700000000}},"order":[{"column":"ts"}],"limit":20}'

function request()
  return wrk.format("POST", "/api/v1/db/read", { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
              summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, bad))
end
