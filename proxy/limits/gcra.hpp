#pragma once
// GCRA (generic cell rate algorithm, the virtual-scheduling form of a token bucket) over all the
// limits of one rate-limit policy. Pure arithmetic on a clock value the caller passes: no clock,
// no locks, no Asio; local_store and the Redis script both use it.
//
// A limit "N/P" is a bucket of N requests refilled continuously at N per P: at most N at once,
// N per P on average. `burst` adds that many requests at once to the limit with the shortest
// period (the first such limit if several share it). A request passes only if every limit of the
// policy admits it, and then counts against all of them; a rejected request counts against none.
//
// The state of one limit is one integer, its theoretical arrival time (TAT): the time at which
// its bucket will be full again. Time is in ticks of the caller's clock (`ticks_per_second`:
// nanoseconds for the local store, microseconds for Redis); decisions are always in nanoseconds.
//
// Integer arithmetic: a limit's emission interval is floor(P / N) ticks, so N requests at once
// always use exactly N slots of the bucket.

#include "config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::limits {

inline constexpr std::size_t max_limits = 8;  // per policy; the config loader enforces it
inline constexpr std::int64_t ns_per_second = 1'000'000'000;
inline constexpr std::int64_t us_per_second = 1'000'000;

// One limit in ticks.
struct limit_params {
    std::int64_t interval = 1;   // emission interval: one request's share of the period
    std::int64_t capacity = 1;   // requests at once: count (+ burst on the shortest limit)
    std::int64_t tolerance = 1;  // capacity * interval (clamped far beyond any real horizon)
};

// Index of the limit that `burst` applies to: the one with the shortest period.
std::size_t burst_limit(const config::rate_limit_policy& policy);

// Limit `i` of `policy` in ticks of a clock with `ticks_per_second` (a divisor of 10^9).
limit_params params(const config::rate_limit_policy& policy, std::size_t i, std::int64_t ticks_per_second);

// The outcome of one check, for the whole policy.
struct decision {
    bool allowed = true;
    // Index in policy.limits of the limit reported: when rejected, the limit that rejected (the one
    // with the longest wait); when allowed, the most restrictive one (fewest remaining, then the
    // longest reset). Its name is the `limit` label of sluice_ratelimit_rejected_total.
    std::size_t limit = 0;
    std::uint64_t remaining = 0;      // requests that limit would still admit now (0 when rejected)
    std::int64_t reset_ns = 0;        // until that limit admits one more request (> 0)
    std::int64_t retry_after_ns = 0;  // rejected: until this request would pass every limit; else 0

    std::uint64_t reset_seconds() const;        // rounded up (>= 1): RateLimit t=
    std::uint64_t retry_after_seconds() const;  // rounded up (>= 1 when rejected): Retry-After
};

// Decides one request at `now` and, if it is allowed, advances `tats` (one per limit, in the order
// of policy.limits; 0 for a key never seen). tats.size() must equal policy.limits.size().
decision check(const config::rate_limit_policy& policy, std::span<std::int64_t> tats, std::int64_t now,
               std::int64_t ticks_per_second = ns_per_second);

// Describes state in which the decision `allowed` has already been applied (the Redis reply).
decision describe(const config::rate_limit_policy& policy, std::span<const std::int64_t> tats, std::int64_t now,
                  bool allowed, std::int64_t ticks_per_second = ns_per_second);

// Whether `policy` would reject a request at `now` from this state (without changing it).
bool would_reject(const config::rate_limit_policy& policy, std::span<const std::int64_t> tats, std::int64_t now,
                  std::int64_t ticks_per_second = ns_per_second);

// When the state is fully replenished (every bucket full): from then on it equals a fresh key's.
std::int64_t idle_at(std::span<const std::int64_t> tats);

}  // namespace sluice::limits
