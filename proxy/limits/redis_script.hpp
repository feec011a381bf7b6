#pragma once
// The rate-limit check of store = "redis", minus the network: the Lua script that decides a request
// against every limit of a policy atomically in one round trip (EVALSHA), the arguments it takes
// and the parsing of its reply. The Redis client (proxy/redis) sends it; no hiredis here.
//
// One Redis hash per (policy, client key): "sluice:rl:{POLICY}:{CLIENT KEY}", whose fields are the
// limits ("COUNT/PERIOD_S") and values their TATs in microseconds. Two policies never share a key
// (policy names cannot contain ':'); a client key longer than 64 bytes is replaced by "#" and the
// hex SHA-256 of it, so keys stay short and every replica computes the same one. The key expires
// when all its buckets are full again (PEXPIRE), so idle clients cost Redis nothing.
//
// Time is the Redis server's clock (TIME) unless the caller passes one (tests): replicas' steady
// clocks are not comparable. The arithmetic is limits::check's, in microseconds.

#include "config/config.hpp"
#include "limits/gcra.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::limits {

std::string_view redis_script();
std::string_view redis_script_sha1();  // 40 lowercase hex digits, as SCRIPT LOAD returns

// The Redis key of `client_key` under `policy` (also the key to pick a server by).
std::string redis_key(const config::rate_limit_policy& policy, std::string_view client_key);

// The whole command: {"EVALSHA", sha1, "1", key, now_us, then per limit: field, interval_us,
// tolerance_us}. now_us = 0 uses the Redis server's clock. On a NOSCRIPT error, send it again
// with argv[0] = "EVAL" and argv[1] = redis_script() (which also caches the script).
std::vector<std::string> build_args(const config::rate_limit_policy& policy, std::string_view client_key,
                                    std::int64_t now_us = 0);

// The script's reply, an array of integers {allowed (0|1), now_us, tat_1 .. tat_n}, as a
// decision; or why the reply is not one (wrong length, values out of range, a verdict the
// state does not explain).
struct redis_reply {
    std::optional<decision> result;
    std::string error;  // set when result is empty
};
redis_reply parse_reply(const config::rate_limit_policy& policy, std::span<const std::int64_t> reply);

}  // namespace sluice::limits
