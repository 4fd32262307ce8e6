-- api_list.lua — wrk script: GET /api/v1/rides?source=1&destination=2 through the gateway
-- (bench/api.sh seeds upcoming rides between those areas, so every answer is a 200 list).
-- Prints one RESULT line like the DB bench's scripts; non-2xx answers count as errors.
local path = "/api/v1/rides?source=1&destination=2"

function request()
  return wrk.format("GET", path)
end

-- The RESULT line (bench/report.lua, beside this script).
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
