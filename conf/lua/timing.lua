-- Response timing: adds "Server-Timing: upstream;dur=MS" (time from the request filter to the
-- upstream's response head, in milliseconds) and "X-Worker-Requests: WORKER/N", N counting the
-- requests this script has seen on this worker (a global: per-worker state, kept until reload).
-- Used by conf/lua.toml on the route /timed.

requests = 0

function on_request(req)
  requests = requests + 1
  req:ctx().started = sluice.now()
end

function on_response(resp)
  local ms = (sluice.now() - resp:ctx().started) * 1000
  resp:set_header("Server-Timing", string.format("upstream;dur=%.3f", ms))
  resp:set_header("X-Worker-Requests", sluice.worker .. "/" .. requests)
end
