-- dbread.lua — wrk script: POST /api/v1/db/read, the rides service's
-- "upcoming rides from A to B" query (an indexed select with a range filter).
local body = '{"op":"select","table":"rides","columns":["ride_id","created_by","ts"],' ..
  '"where":{"source":1,"destination":2,"ts":{"gt":1700000000}},"order":[{"column":"ts"}],"limit":20}'

function request()
  return wrk.format("POST", "/api/v1/db/read", { ["Content-Type"] = "application/json" }, body)
end

-- The RESULT line (bench/report.lua, beside this script).
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
