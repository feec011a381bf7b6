// The breaker state machine on a simulated clock: every transition, the probe budget, config
// changes between calls, and which attempt results count as failures.

#include "breaker/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace sluice::breaker {
namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t s = 1'000 * ms;
constexpr std::int64_t t0 = 500 * s;

config::circuit_breaker_settings settings(std::uint32_t threshold = 5, std::int64_t recovery_s = 30,
                                          std::uint32_t probes = 1) {
    config::circuit_breaker_settings c;
    c.failure_threshold = threshold;
    c.recovery_timeout = std::chrono::seconds(recovery_s);
    c.half_open_requests = probes;
    return c;
}

// Fails `n` admitted requests at `now`; returns the last transition reported.
std::optional<transition> fail(circuit_breaker& b, int n, std::int64_t now, const config::circuit_breaker_settings& c) {
    std::optional<transition> last;
    for (int i = 0; i < n; ++i) {
        if (auto t = b.on_failure(now, c)) {
            last = t;
        }
    }
    return last;
}

TEST(CircuitBreaker, OpensAtTheThreshold) {
    circuit_breaker b;
    const auto c = settings();
    EXPECT_EQ(b.current(t0), state::closed);
    EXPECT_FALSE(fail(b, 4, t0, c));
    EXPECT_EQ(b.consecutive_failures(), 4u);
    EXPECT_TRUE(b.allow(t0, c));
    const std::optional<transition> t = b.on_failure(t0, c);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, state::closed);
    EXPECT_EQ(t->to, state::open);
    EXPECT_EQ(t->reason, "5 consecutive failures");
    EXPECT_EQ(b.current(t0), state::open);
    EXPECT_EQ(static_cast<int>(b.current(t0)), 2);  // sluice_circuit_state
}

TEST(CircuitBreaker, SuccessResetsTheCount) {
    circuit_breaker b;
    const auto c = settings(3);
    fail(b, 2, t0, c);
    EXPECT_FALSE(b.on_success(t0));
    EXPECT_EQ(b.consecutive_failures(), 0u);
    EXPECT_FALSE(fail(b, 2, t0, c));
    EXPECT_EQ(b.current(t0), state::closed);
    EXPECT_TRUE(fail(b, 1, t0, c));
    EXPECT_EQ(b.current(t0), state::open);
}

TEST(CircuitBreaker, OpenRefusesUntilTheRecoveryTimeout) {
    circuit_breaker b;
    const auto c = settings(1, 30);
    fail(b, 1, t0, c);
    for (std::int64_t at : {t0, t0 + 1 * s, t0 + 30 * s - 1}) {
        const admission a = b.allow(at, c);
        EXPECT_FALSE(a.allowed);
        EXPECT_FALSE(a.changed);
        EXPECT_EQ(b.current(at), state::open);
    }
    EXPECT_EQ(b.current(t0 + 30 * s), state::half_open);  // what the metric shows before anyone asks
    const admission a = b.allow(t0 + 30 * s, c);
    EXPECT_TRUE(a.allowed);
    EXPECT_TRUE(a.probe);
    ASSERT_TRUE(a.changed);
    EXPECT_EQ(a.changed->from, state::open);
    EXPECT_EQ(a.changed->to, state::half_open);
    EXPECT_EQ(a.changed->reason, "recovery timeout 30s elapsed");
    EXPECT_EQ(static_cast<int>(b.current(t0 + 30 * s)), 1);
}

TEST(CircuitBreaker, ResultsArrivingWhileOpenAreIgnored) {
    circuit_breaker b;
    const auto c = settings(1, 30);
    fail(b, 1, t0, c);
    EXPECT_FALSE(b.on_failure(t0 + 20 * s, c));  // does not push the recovery back
    EXPECT_FALSE(b.on_success(t0 + 20 * s));     // does not close it either
    EXPECT_EQ(b.current(t0 + 29 * s), state::open);
    EXPECT_TRUE(b.allow(t0 + 30 * s, c));
}

TEST(CircuitBreaker, HalfOpenAdmitsExactlyTheProbes) {
    for (std::uint32_t probes : {1u, 3u}) {
        circuit_breaker b;
        const auto c = settings(1, 10, probes);
        fail(b, 1, t0, c);
        const std::int64_t at = t0 + 10 * s;
        for (std::uint32_t i = 0; i < probes; ++i) {
            const admission a = b.allow(at, c);
            EXPECT_TRUE(a.allowed) << i;
            EXPECT_TRUE(a.probe);
            EXPECT_EQ(a.changed.has_value(), i == 0);
        }
        EXPECT_FALSE(b.allow(at, c).allowed);
        EXPECT_FALSE(b.allow(at + 100 * s, c).allowed);  // still waiting for a verdict
        EXPECT_EQ(b.probes_in_flight(), probes);
        // A probe without a verdict gives its slot back.
        b.on_probe_abandoned();
        EXPECT_TRUE(b.allow(at, c).allowed);
        EXPECT_FALSE(b.allow(at, c).allowed);
    }
}

TEST(CircuitBreaker, ProbeSuccessCloses) {
    circuit_breaker b;
    const auto c = settings(2, 5);
    fail(b, 2, t0, c);
    ASSERT_TRUE(b.allow(t0 + 5 * s, c).probe);
    const std::optional<transition> t = b.on_success(t0 + 5 * s + 10 * ms);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, state::half_open);
    EXPECT_EQ(t->to, state::closed);
    EXPECT_EQ(t->reason, "probe succeeded");
    EXPECT_EQ(b.current(t0 + 6 * s), state::closed);
    const admission a = b.allow(t0 + 6 * s, c);
    EXPECT_TRUE(a.allowed);
    EXPECT_FALSE(a.probe);
    // Closed again with a fresh count.
    EXPECT_FALSE(fail(b, 1, t0 + 6 * s, c));
    EXPECT_TRUE(fail(b, 1, t0 + 6 * s, c));
}

TEST(CircuitBreaker, ProbeFailureReopensAndRestartsTheTimer) {
    circuit_breaker b;
    const auto c = settings(1, 30);
    fail(b, 1, t0, c);
    ASSERT_TRUE(b.allow(t0 + 30 * s, c));
    const std::optional<transition> t = b.on_failure(t0 + 31 * s, c);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, state::half_open);
    EXPECT_EQ(t->to, state::open);
    EXPECT_EQ(t->reason, "probe failed");
    EXPECT_FALSE(b.allow(t0 + 60 * s, c).allowed);  // 30s from the probe's failure, not the first opening
    EXPECT_EQ(b.current(t0 + 61 * s - 1), state::open);
    EXPECT_TRUE(b.allow(t0 + 61 * s, c).allowed);
}

TEST(CircuitBreaker, ConfigComesWithEachCall) {
    circuit_breaker b;
    fail(b, 3, t0, settings(5));
    EXPECT_EQ(b.current(t0), state::closed);
    // A reload lowered the threshold: the count so far already exceeds it.
    EXPECT_TRUE(b.on_failure(t0, settings(2, 1)));
    EXPECT_EQ(b.current(t0 + 1 * s), state::half_open);
    // A reload raised the probe budget while half-open.
    EXPECT_TRUE(b.allow(t0 + 1 * s, settings(2, 1, 1)));
    EXPECT_FALSE(b.allow(t0 + 1 * s, settings(2, 1, 1)));
    EXPECT_TRUE(b.allow(t0 + 1 * s, settings(2, 1, 2)));
    // Sub-second recovery timeouts read in milliseconds.
    circuit_breaker fast;
    config::circuit_breaker_settings c = settings(1);
    c.recovery_timeout = std::chrono::milliseconds(1500);
    fail(fast, 1, t0, c);
    EXPECT_EQ(fast.allow(t0 + 1500 * ms, c).changed->reason, "recovery timeout 1500ms elapsed");
}

TEST(CircuitBreaker, StateNames) {
    EXPECT_EQ(to_string(state::closed), "closed");
    EXPECT_EQ(to_string(state::half_open), "half-open");
    EXPECT_EQ(to_string(state::open), "open");
}

TEST(CircuitBreaker, WhatCountsAsAFailure) {
    config::circuit_breaker_settings c;  // default: connect-failure, timeout, 5xx
    EXPECT_TRUE(counts_as_failure(c, attempt_result::connect_failure, 0));
    EXPECT_TRUE(counts_as_failure(c, attempt_result::timeout, 0));
    EXPECT_FALSE(counts_as_failure(c, attempt_result::reset, 0));
    EXPECT_TRUE(counts_as_failure(c, attempt_result::response, 500));
    EXPECT_TRUE(counts_as_failure(c, attempt_result::response, 599));
    EXPECT_FALSE(counts_as_failure(c, attempt_result::response, 404));
    EXPECT_FALSE(counts_as_failure(c, attempt_result::response, 200));

    c.on_5xx = false;
    c.on_timeout = false;
    c.on_reset = true;
    c.on_status = {502, 503};
    EXPECT_FALSE(counts_as_failure(c, attempt_result::timeout, 0));
    EXPECT_TRUE(counts_as_failure(c, attempt_result::reset, 0));
    EXPECT_TRUE(counts_as_failure(c, attempt_result::response, 503));
    EXPECT_FALSE(counts_as_failure(c, attempt_result::response, 500));
}

}  // namespace
}  // namespace sluice::breaker
