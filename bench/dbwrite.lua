-- dbwrite.lua — wrk script: POST /api/v1/db/write, each request a new user.
-- Usernames are unique across threads and runs (a random prefix per thread).
local counter = 0
local prefix

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  prefix = string.format("%x%x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"op":"insert","table":"users","values":{"username":"b%s-%d","password":"3d725109c7e7c0bfb9d709836735b56d943d263f"}}',
    prefix, counter)
  return wrk.format("POST", "/api/v1/db/write", { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
              summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, bad))
end
