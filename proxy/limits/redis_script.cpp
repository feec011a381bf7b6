#include "limits/redis_script.hpp"

#include <openssl/evp.h>

namespace sluice::limits {

namespace {

// KEYS[1]: the hash "sluice:rl:POLICY:CLIENT"; fields are limits, values their TATs (us).
// ARGV[1]: now in microseconds, or 0 to read the server clock.
// ARGV[3k-1], ARGV[3k], ARGV[3k+1] for limit k = 1..n: field, emission interval, tolerance (us).
// Reply: {allowed (0|1), now, tat_1, ..., tat_n}, the TATs after the decision (0: never seen).
// Numbers are doubles in Lua: exact for integers below 2^53 us (285 years), which the
// arguments respect; TATs are written with %.0f so they never turn into "1.7e+15".
constexpr std::string_view script = R"lua(-- sluice rate limit: GCRA over every limit of a policy, all or nothing
local now = tonumber(ARGV[1])
if now == nil or now <= 0 then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local n = (#ARGV - 1) / 3
local fields = {}
for k = 1, n do fields[k] = ARGV[3 * k - 1] end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))
local tats = {}
local allowed = 1
for k = 1, n do
  local tat = tonumber(stored[k]) or 0
  tats[k] = tat
  if tat < now then tat = now end
  if tat + tonumber(ARGV[3 * k]) - now > tonumber(ARGV[3 * k + 1]) then allowed = 0 end
end
if allowed == 1 then
  local updates = {}
  local last = now
  for k = 1, n do
    local tat = tats[k]
    if tat < now then tat = now end
    tat = tat + tonumber(ARGV[3 * k])
    tats[k] = tat
    if tat > last then last = tat end
    updates[2 * k - 1] = fields[k]
    updates[2 * k] = string.format('%.0f', tat)
  end
  redis.call('HSET', KEYS[1], unpack(updates))
  redis.call('PEXPIRE', KEYS[1], math.ceil((last - now) / 1000))
end
local reply = {allowed, now}
for k = 1, n do reply[k + 2] = tats[k] end
return reply
)lua";

std::string hex_digest(const EVP_MD* md, std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, md, nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

constexpr std::size_t max_raw_client_key = 64;

std::string field_of(const config::rate_limit_rule& rule) {
    return std::to_string(rule.count) + "/" + std::to_string(rule.period_s);
}

redis_reply fail(std::string why) { return redis_reply{std::nullopt, "rate-limit script reply: " + std::move(why)}; }

}  // namespace

std::string_view redis_script() { return script; }

std::string_view redis_script_sha1() {
    static const std::string sha1 = hex_digest(EVP_sha1(), script);
    return sha1;
}

std::string redis_key(const config::rate_limit_policy& policy, std::string_view client_key) {
    std::string key = "sluice:rl:";
    key += policy.name;
    key += ':';
    if (client_key.size() > max_raw_client_key) {
        key += '#';
        key += hex_digest(EVP_sha256(), client_key);
    } else {
        key += client_key;
    }
    return key;
}

std::vector<std::string> build_args(const config::rate_limit_policy& policy, std::string_view client_key,
                                    std::int64_t now_us) {
    std::vector<std::string> argv;
    argv.reserve(5 + 3 * policy.limits.size());
    argv.emplace_back("EVALSHA");
    argv.emplace_back(redis_script_sha1());
    argv.emplace_back("1");
    argv.push_back(redis_key(policy, client_key));
    argv.push_back(std::to_string(now_us > 0 ? now_us : 0));
    for (std::size_t i = 0; i < policy.limits.size(); ++i) {
        const limit_params p = params(policy, i, us_per_second);
        argv.push_back(field_of(policy.limits[i]));
        argv.push_back(std::to_string(p.interval));
        argv.push_back(std::to_string(p.tolerance));
    }
    return argv;
}

redis_reply parse_reply(const config::rate_limit_policy& policy, std::span<const std::int64_t> reply) {
    const std::size_t n = policy.limits.size();
    if (n == 0 || n > max_limits) {
        return fail("policy \"" + policy.name + "\" has " + std::to_string(n) + " limits");
    }
    if (reply.size() != n + 2) {
        return fail("expected " + std::to_string(n + 2) + " integers (allowed, now, " + std::to_string(n) +
                    " TATs), got " + std::to_string(reply.size()));
    }
    const std::int64_t allowed = reply[0];
    const std::int64_t now = reply[1];
    if (allowed != 0 && allowed != 1) {
        return fail("allowed must be 0 or 1, got " + std::to_string(allowed));
    }
    if (now <= 0) {
        return fail("now must be positive, got " + std::to_string(now));
    }
    const std::span<const std::int64_t> tats = reply.subspan(2);
    for (std::size_t i = 0; i < n; ++i) {
        const limit_params p = params(policy, i, us_per_second);
        if (tats[i] < 0 || tats[i] > now + p.tolerance) {
            return fail("TAT of \"" + policy.limits[i].name + "\" is out of range: " + std::to_string(tats[i]) +
                        " at now " + std::to_string(now));
        }
        if (allowed == 1 && tats[i] < now + p.interval) {
            return fail("TAT of \"" + policy.limits[i].name + "\" was not advanced by an allowed request");
        }
    }
    if (allowed == 0 && !would_reject(policy, tats, now, us_per_second)) {
        return fail("request rejected although every limit has room");
    }
    return redis_reply{describe(policy, tats, now, allowed == 1, us_per_second), {}};
}

}  // namespace sluice::limits
