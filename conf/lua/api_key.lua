-- API-key check: requests without a known X-Api-Key are answered 401 by Sluice itself (the
-- upstream never sees them); known keys are replaced by the caller's name in X-Api-User.
-- Used by conf/lua.toml on the route /private.

local keys = {
  ["demo-key-1"] = "alice",
  ["demo-key-2"] = "bob",
}

function on_request(req)
  local key = req:header("X-Api-Key")
  local user = key and keys[key]
  if not user then
    req:respond(401, {
      ["Content-Type"] = "application/json",
      ["WWW-Authenticate"] = 'ApiKey realm="sluice"',
    }, '{"error":"unauthorized"}')
  end
  req:remove_header("X-Api-Key")   -- the upstream needs the caller, not the secret
  req:set_header("X-Api-User", user)
end
