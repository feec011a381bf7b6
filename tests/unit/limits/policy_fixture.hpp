#pragma once
// Rate-limit policies for the limits tests, built directly (the loader has its own tests).

#include "config/config.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>

namespace sluice::limits::test {

inline constexpr std::int64_t ms = 1'000'000;  // in ns
inline constexpr std::int64_t s = 1'000 * ms;
// An arbitrary steady-clock origin far from 0, like a real one.
inline constexpr std::int64_t t0 = 1'000'000 * s;

struct rule_spec {
    std::uint64_t count;
    std::uint64_t period_s;
    const char* name;
};

inline config::rate_limit_policy make_policy(std::initializer_list<rule_spec> rules, std::uint64_t burst = 0,
                                             std::string name = "per_client") {
    config::rate_limit_policy p;
    p.name = std::move(name);
    p.burst = burst;
    for (const rule_spec& r : rules) {
        p.limits.push_back(config::rate_limit_rule{r.name, r.count, r.period_s});
    }
    return p;
}

}  // namespace sluice::limits::test
