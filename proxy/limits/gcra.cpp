#include "limits/gcra.hpp"

#include <algorithm>
#include <array>
#include <cassert>

namespace sluice::limits {

namespace {

// Tolerances are clamped to 100 years: beyond any real horizon, and small enough that
// now + tolerance fits an int64 of nanoseconds and a Lua double of microseconds exactly.
constexpr std::int64_t max_horizon_s = 100ll * 365 * 86'400;

std::uint64_t ceil_seconds(std::int64_t ns) {
    if (ns <= 0) {
        return 0;
    }
    return static_cast<std::uint64_t>((ns - 1) / ns_per_second + 1);
}

using param_array = std::array<limit_params, max_limits>;

param_array all_params(const config::rate_limit_policy& policy, std::int64_t ticks_per_second) {
    assert(policy.limits.size() <= max_limits);
    param_array out{};
    const std::size_t n = std::min(policy.limits.size(), max_limits);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = params(policy, i, ticks_per_second);
    }
    return out;
}

// Used capacity of a bucket, in ticks (0 when full).
std::int64_t backlog(std::int64_t tat, std::int64_t now) { return tat > now ? tat - now : 0; }

// Ticks until a request would fit the bucket (<= 0: it fits now).
std::int64_t wait(const limit_params& p, std::int64_t tat, std::int64_t now) {
    return backlog(tat, now) + p.interval - p.tolerance;
}

}  // namespace

std::size_t burst_limit(const config::rate_limit_policy& policy) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < policy.limits.size(); ++i) {
        if (policy.limits[i].period_s < policy.limits[best].period_s) {
            best = i;
        }
    }
    return best;
}

limit_params params(const config::rate_limit_policy& policy, std::size_t i, std::int64_t ticks_per_second) {
    const config::rate_limit_rule& rule = policy.limits[i];
    // 64-bit arithmetic only (this runs on every check): periods are clamped to the horizon, so
    // period * ticks fits; products that could overflow saturate at the horizon.
    const std::int64_t horizon = max_horizon_s * ticks_per_second;
    const auto period_s = static_cast<std::int64_t>(std::min<std::uint64_t>(rule.period_s, max_horizon_s));
    const auto count = static_cast<std::int64_t>(std::clamp<std::uint64_t>(rule.count, 1, 1ull << 40));
    limit_params p;
    p.interval = std::max<std::int64_t>(1, period_s * ticks_per_second / count);
    p.capacity = count;
    if (i == burst_limit(policy)) {
        p.capacity += static_cast<std::int64_t>(std::min<std::uint64_t>(policy.burst, 1ull << 40));
    }
    std::int64_t tolerance = 0;
    if (__builtin_mul_overflow(p.capacity, p.interval, &tolerance) || tolerance > horizon) {
        tolerance = horizon;
    }
    p.tolerance = tolerance;
    return p;
}

std::uint64_t decision::reset_seconds() const { return std::max<std::uint64_t>(1, ceil_seconds(reset_ns)); }

std::uint64_t decision::retry_after_seconds() const { return ceil_seconds(retry_after_ns); }

namespace {

decision describe_with(const param_array& p, std::span<const std::int64_t> tats, std::int64_t now, bool allowed,
                       std::int64_t ticks_per_second) {
    const std::int64_t scale = ns_per_second / ticks_per_second;
    decision d;
    d.allowed = allowed;

    if (!allowed) {
        std::int64_t longest = 0;
        for (std::size_t i = 0; i < tats.size(); ++i) {
            if (const std::int64_t w = wait(p[i], tats[i], now); w > longest) {
                longest = w;
                d.limit = i;
            }
        }
        if (longest > 0) {
            d.remaining = 0;
            d.reset_ns = d.retry_after_ns = longest * scale;
            return d;
        }
        // Rejected by a decision no limit explains (cannot come from check()): report the most
        // restrictive limit and ask to retry when it next grows.
    }

    bool first = true;
    for (std::size_t i = 0; i < tats.size(); ++i) {
        const std::int64_t b = backlog(tats[i], now);
        const std::int64_t r = b >= p[i].tolerance ? 0 : (p[i].tolerance - b) / p[i].interval;
        // The bucket gains its next request when the backlog falls to (capacity - r - 1) intervals.
        // Saturate instead of overflowing for huge limits (capacity x interval beyond int64).
        std::int64_t span = 0;
        if (__builtin_mul_overflow(p[i].capacity - r - 1, p[i].interval, &span)) span = INT64_MAX;
        const std::int64_t reset = std::max<std::int64_t>(1, b - span);
        const auto remaining = static_cast<std::uint64_t>(r);
        if (first || remaining < d.remaining || (remaining == d.remaining && reset * scale > d.reset_ns)) {
            first = false;
            d.limit = i;
            d.remaining = remaining;
            d.reset_ns = reset * scale;
        }
    }
    if (!allowed) {
        d.remaining = 0;
        d.retry_after_ns = d.reset_ns;
    }
    return d;
}

}  // namespace

decision check(const config::rate_limit_policy& policy, std::span<std::int64_t> tats, std::int64_t now,
               std::int64_t ticks_per_second) {
    assert(tats.size() == policy.limits.size());
    const param_array p = all_params(policy, ticks_per_second);
    bool allowed = true;
    for (std::size_t i = 0; i < tats.size(); ++i) {
        if (wait(p[i], tats[i], now) > 0) {
            allowed = false;
        }
    }
    if (allowed) {
        for (std::size_t i = 0; i < tats.size(); ++i) {
            tats[i] = std::max(tats[i], now) + p[i].interval;
        }
    }
    return describe_with(p, tats, now, allowed, ticks_per_second);
}

decision describe(const config::rate_limit_policy& policy, std::span<const std::int64_t> tats, std::int64_t now,
                  bool allowed, std::int64_t ticks_per_second) {
    assert(tats.size() == policy.limits.size());
    return describe_with(all_params(policy, ticks_per_second), tats, now, allowed, ticks_per_second);
}

bool would_reject(const config::rate_limit_policy& policy, std::span<const std::int64_t> tats, std::int64_t now,
                  std::int64_t ticks_per_second) {
    assert(tats.size() == policy.limits.size());
    const param_array p = all_params(policy, ticks_per_second);
    for (std::size_t i = 0; i < tats.size(); ++i) {
        if (wait(p[i], tats[i], now) > 0) {
            return true;
        }
    }
    return false;
}

std::int64_t idle_at(std::span<const std::int64_t> tats) {
    std::int64_t latest = 0;
    for (const std::int64_t t : tats) {
        latest = std::max(latest, t);
    }
    return latest;
}

}  // namespace sluice::limits
