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

-- The RESULT line (bench/report.lua, beside this script).
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
