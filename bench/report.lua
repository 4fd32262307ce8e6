-- report.lua — the done() reporter every wrk script of bench/ shares. A script loads it with
--   done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
-- i.e. from the directory the script itself was loaded from (bench/run.sh and bench/api.sh
-- pass wrk an absolute path), whatever the current directory. It prints the one line that
-- those scripts grep for:
--   RESULT rps=N p50_ms=N p99_ms=N requests=N errors=N
-- where errors counts non-2xx answers and connect/read/write/timeout errors.
return function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
              summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, bad))
end
