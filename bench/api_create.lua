-- api_create.lua — wrk script: POST /api/v1/rides through the gateway, every body different:
-- created_by is the user bench/api.sh created ("bench"), the timestamp a future second unique
-- to this thread and request, the areas a pair of 3..198 (so the GET bench's 1->2 list stays
-- as seeded). Each create makes rides call users once, through the gateway. Threads are told
-- apart by an id given in setup(); the base time comes from the environment-free clock.
local counter = 0
local base
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
  -- 30 days ahead, then a block of a million seconds per thread: unique, always upcoming.
  base = os.time() + 30 * 86400 + tid * 1000000
end

function request()
  counter = counter + 1
  local ts = os.date("!%d-%m-%Y:%S-%M-%H", base + counter)
  local body = string.format(
    '{"created_by":"bench","timestamp":"%s","source":"%d","destination":%d}',
    ts, math.random(3, 198), math.random(3, 198))
  return wrk.format("POST", "/api/v1/rides", { ["Content-Type"] = "application/json" }, body)
end

-- The RESULT line (bench/report.lua, beside this script).
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
