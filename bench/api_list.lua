-- api_list.lua — wrk script: GET /api/v1/rides?source=1&destination=2 through the gateway
-- (bench/api.sh seeds upcoming rides between those areas, so every answer is a 200 list).
-- Prints one RESULT line like the DB bench's scripts; non-2xx answers count as errors.
local path = "/api/v1/rides?source=1&destination=2"

function request()
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
              summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, bad))
end
