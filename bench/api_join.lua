-- api_join.lua — wrk script: POST /api/v1/rides/{rideId} (join) through the gateway, every
-- request a new (ride, user) pair, so each one really joins (200) and makes rides call users
-- once. From the environment (bench/scale.py sets them):
--   JOIN_PREFIX, JOIN_USERS   the joiners are JOIN_PREFIX .. "%07d" for 1 .. JOIN_USERS
--   JOIN_RIDE, JOIN_SPAN      the rides are JOIN_RIDE .. JOIN_RIDE + JOIN_SPAN - 1 (none of them
--                             the joiners')
-- Request c of all (threads interleave: c = thread + JOIN_THREADS * n) is user 1 + c mod USERS
-- on ride JOIN_RIDE + (c div USERS) mod SPAN: users come round in turn, each round on the next
-- ride, so no pair repeats before USERS x SPAN joins.
local threads = 0
local n = 0
local prefix, users, ride, span, nthreads

-- tid is a global: setup() sets it in each thread's own Lua state.
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  prefix = os.getenv("JOIN_PREFIX") or "u"
  users = tonumber(os.getenv("JOIN_USERS") or "1")
  ride = tonumber(os.getenv("JOIN_RIDE") or "1")
  span = tonumber(os.getenv("JOIN_SPAN") or "1")
  nthreads = tonumber(os.getenv("JOIN_THREADS") or "2")
end

function request()
  local c = tid + nthreads * n
  n = n + 1
  local user = 1 + c % users
  local id = ride + math.floor(c / users) % span
  local body = string.format('{"username":"%s%07d"}', prefix, user)
  return wrk.format("POST", "/api/v1/rides/" .. id, { ["Content-Type"] = "application/json" }, body)
end

-- The RESULT line (bench/report.lua, beside this script).
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
