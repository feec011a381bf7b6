-- Header-based canary routing: about 10% of users go to the upstream "canary", the rest stay on
-- the route's upstream. A user keeps their side (the choice hashes X-User-Id); requests without
-- it are drawn at random. "X-Canary: always" / "never" forces the choice (for testing a release).
-- Used by conf/lua.toml on the route /canary; the upstream named below must exist.

local CANARY = "canary"
local PERCENT = 10

-- FNV-1a over the bytes of s, kept in 32 bits with LuaJIT's bit library.
local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = bit.bxor(h, s:byte(i))
    h = bit.tobit(bit.lshift(h, 24) + h * 403)  -- h * 16777619, modulo 2^32
  end
  return bit.band(h, 0x7fffffff)
end

function on_request(req)
  local force = req:header("X-Canary")
  local to_canary
  if force == "always" then
    to_canary = true
  elseif force == "never" then
    to_canary = false
  else
    local user = req:header("X-User-Id")
    if user and user ~= "" then
      to_canary = fnv1a(user) % 100 < PERCENT
    else
      to_canary = math.random(100) <= PERCENT
    end
  end
  if to_canary then
    req:set_upstream(CANARY)
    req:set_header("X-Canary-Routed", "1")
  end
end
