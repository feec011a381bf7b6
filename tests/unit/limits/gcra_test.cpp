// GCRA arithmetic on a simulated clock: each window, burst, several limits, and the values the
// headers are made of (remaining, reset, retry-after). No sleeping: time is a number.

#include "limits/gcra.hpp"

#include "policy_fixture.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::limits {
namespace {

using namespace test;

// A key's state under one policy, checked on a clock the test moves.
struct bucket {
    explicit bucket(config::rate_limit_policy p, std::int64_t tps = ns_per_second)
        : policy(std::move(p)), tats(policy.limits.size(), 0), ticks_per_second(tps) {}

    decision at(std::int64_t now) { return check(policy, tats, now, ticks_per_second); }

    // How many of `n` requests at `now` pass.
    int passing(int n, std::int64_t now) {
        int ok = 0;
        for (int i = 0; i < n; ++i) {
            ok += at(now).allowed ? 1 : 0;
        }
        return ok;
    }

    config::rate_limit_policy policy;
    std::vector<std::int64_t> tats;
    std::int64_t ticks_per_second;
};

struct window_case {
    rule_spec rule;
    std::int64_t interval_ns;  // period / count
};

class GcraWindow : public ::testing::TestWithParam<window_case> {};

TEST_P(GcraWindow, CountAtOnceThenOnePerInterval) {
    const window_case c = GetParam();
    bucket b(make_policy({c.rule}));
    const auto count = static_cast<int>(c.rule.count);

    for (int i = 0; i < count; ++i) {
        const decision d = b.at(t0);
        ASSERT_TRUE(d.allowed) << "request " << i;
        EXPECT_EQ(d.remaining, static_cast<std::uint64_t>(count - 1 - i));
        EXPECT_EQ(d.retry_after_ns, 0);
    }
    const decision rejected = b.at(t0);
    EXPECT_FALSE(rejected.allowed);
    EXPECT_EQ(rejected.limit, 0u);
    EXPECT_EQ(rejected.remaining, 0u);
    EXPECT_EQ(rejected.retry_after_ns, c.interval_ns);
    EXPECT_EQ(rejected.reset_ns, c.interval_ns);

    // One interval later, exactly one more passes.
    EXPECT_FALSE(b.at(t0 + c.interval_ns - 1).allowed);
    EXPECT_EQ(b.passing(3, t0 + c.interval_ns), 1);

    // A whole idle period refills the bucket, and no more than that.
    const std::int64_t later = t0 + c.interval_ns + static_cast<std::int64_t>(c.rule.period_s) * s;
    EXPECT_EQ(b.passing(count + 5, later), count);
}

INSTANTIATE_TEST_SUITE_P(
    Windows, GcraWindow,
    ::testing::Values(window_case{{10, 1, "10/second"}, 100 * ms}, window_case{{100, 60, "100/minute"}, 600 * ms},
                      window_case{{50, 3600, "50/hour"}, 72 * s}, window_case{{200, 86400, "200/day"}, 432 * s},
                      window_case{{5, 10, "5/10s"}, 2 * s}, window_case{{1, 1, "1/second"}, 1 * s}),
    [](const auto& info) {
        std::string name = info.param.rule.name;
        for (char& ch : name) {
            if (ch == '/') ch = '_';
        }
        return name;
    });

TEST(Gcra, SteadyRateAtTheIntervalAlwaysPasses) {
    bucket b(make_policy({{10, 1, "10/second"}}));
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(b.at(t0 + i * 100 * ms).allowed) << i;
    }
    // Having used no burst, the bucket still holds 9 beyond the one just taken.
    EXPECT_EQ(b.passing(20, t0 + 999 * 100 * ms), 9);
}

TEST(Gcra, PeriodNotDivisibleByCountRoundsInTheClientsFavour) {
    bucket b(make_policy({{3, 1, "3/second"}}));
    EXPECT_EQ(b.passing(5, t0), 3);
    EXPECT_EQ(b.passing(5, t0 + 1 * s), 3);  // interval 333,333,333 ns: 3 of them fit one second
}

TEST(Gcra, BurstExtendsTheShortestLimitOnly) {
    bucket b(make_policy({{10, 1, "10/second"}}, 20));
    EXPECT_EQ(b.passing(40, t0), 30);
    // Then the sustained rate: 10 per second.
    EXPECT_EQ(b.passing(40, t0 + 1 * s), 10);
    EXPECT_EQ(b.passing(40, t0 + 1 * s + 300 * ms), 3);

    // Shortest period anywhere in the list; the others keep their count.
    config::rate_limit_policy p = make_policy({{50, 3600, "50/hour"}, {10, 1, "10/second"}}, 5);
    EXPECT_EQ(burst_limit(p), 1u);
    EXPECT_EQ(params(p, 1, ns_per_second).capacity, 15);
    EXPECT_EQ(params(p, 0, ns_per_second).capacity, 50);
    bucket hb(p);
    EXPECT_EQ(hb.passing(100, t0), 15);
    const decision d = hb.at(t0);
    EXPECT_EQ(d.limit, 1u);
}

TEST(Gcra, EveryLimitMustPassAndTheRejectingOneIsNamed) {
    bucket b(make_policy({{10, 1, "10/second"}, {50, 3600, "50/hour"}, {200, 86400, "200/day"}}));
    EXPECT_EQ(b.passing(10, t0), 10);
    decision d = b.at(t0);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.limit, 0u);  // 10/second
    EXPECT_EQ(d.retry_after_ns, 100 * ms);

    // Ten a second for four more seconds: 50 in all, the hourly limit is spent.
    for (int sec = 1; sec <= 4; ++sec) {
        EXPECT_EQ(b.passing(10, t0 + sec * s), 10) << sec;
    }
    d = b.at(t0 + 5 * s);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.limit, 1u);  // 50/hour
    // The hour's first slot comes back 72s (its interval) after it was taken at t0: 67s from now.
    EXPECT_EQ(d.retry_after_ns, 67 * s);
    EXPECT_EQ(d.retry_after_seconds(), 67u);
    EXPECT_EQ(d.reset_ns, d.retry_after_ns);

    // Rejections count against no limit: the per-second bucket is untouched.
    EXPECT_EQ(b.tats[0], t0 + 5 * s);  // last request at t0+4s advanced it by 10 x 100ms
    EXPECT_FALSE(b.at(t0 + 72 * s - 1).allowed);
    EXPECT_TRUE(b.at(t0 + 72 * s).allowed);
    EXPECT_FALSE(b.at(t0 + 72 * s).allowed);
}

TEST(Gcra, RejectionNamesTheLimitWithTheLongestWait) {
    // Both limits spent by the same single request; the day's wait is longer.
    bucket b(make_policy({{1, 1, "1/second"}, {1, 86400, "1/day"}}));
    EXPECT_TRUE(b.at(t0).allowed);
    const decision d = b.at(t0);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.limit, 1u);
    EXPECT_EQ(d.retry_after_ns, 86400 * s);
}

TEST(Gcra, RemainingAndResetOfTheMostRestrictiveLimit) {
    bucket b(make_policy({{100, 1, "100/second"}, {5, 60, "5/minute"}}));
    decision d = b.at(t0);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 1u);  // 4 left of 5/minute beat 99 left of 100/second
    EXPECT_EQ(d.remaining, 4u);
    EXPECT_EQ(d.reset_ns, 12 * s);  // the minute bucket regains one request every 12s
    EXPECT_EQ(d.reset_seconds(), 12u);

    // Partway through an interval, reset is what is left of it.
    d = b.at(t0 + 5 * s);
    EXPECT_EQ(d.remaining, 3u);
    EXPECT_EQ(d.reset_ns, 7 * s);
}

TEST(Gcra, ResetOfAFullBucketIsOneInterval) {
    config::rate_limit_policy p = make_policy({{10, 1, "10/second"}});
    const std::vector<std::int64_t> fresh(1, 0);
    const decision d = describe(p, fresh, t0, true);
    EXPECT_EQ(d.remaining, 10u);
    EXPECT_EQ(d.reset_ns, 100 * ms);
    EXPECT_EQ(d.reset_seconds(), 1u);  // rounded up, never 0
}

TEST(Gcra, TiesOnRemainingPickTheLongerReset) {
    bucket b(make_policy({{2, 1, "2/second"}, {2, 60, "2/minute"}}));
    const decision d = b.at(t0);
    EXPECT_EQ(d.remaining, 1u);
    EXPECT_EQ(d.limit, 1u);
    EXPECT_EQ(d.reset_ns, 30 * s);
}

TEST(Gcra, SecondsRoundUp) {
    decision d;
    d.reset_ns = 1;
    d.retry_after_ns = 1 * s + 1;
    EXPECT_EQ(d.reset_seconds(), 1u);
    EXPECT_EQ(d.retry_after_seconds(), 2u);
    d.retry_after_ns = 3 * s;
    EXPECT_EQ(d.retry_after_seconds(), 3u);
    d.retry_after_ns = 0;
    EXPECT_EQ(d.retry_after_seconds(), 0u);
}

TEST(Gcra, MicrosecondTicksDecideTheSame) {
    const config::rate_limit_policy p = make_policy({{10, 1, "10/second"}, {50, 3600, "50/hour"}}, 3);
    bucket ns(p);
    bucket us(p, us_per_second);
    for (int step = 0; step < 400; ++step) {
        const std::int64_t now_ns = t0 + step * 37 * ms;
        const decision a = ns.at(now_ns);
        const decision b = us.at(now_ns / 1000);
        ASSERT_EQ(a.allowed, b.allowed) << step;
        EXPECT_EQ(a.limit, b.limit) << step;
        EXPECT_EQ(a.remaining, b.remaining) << step;
        EXPECT_EQ(a.reset_ns, b.reset_ns) << step;
        EXPECT_EQ(a.retry_after_ns, b.retry_after_ns) << step;
    }
}

TEST(Gcra, IdleAtIsWhenEveryBucketIsFullAgain) {
    bucket b(make_policy({{10, 1, "10/second"}, {50, 3600, "50/hour"}}));
    b.passing(3, t0);
    EXPECT_EQ(idle_at(b.tats), t0 + 3 * 72 * s);
    EXPECT_FALSE(would_reject(b.policy, b.tats, t0));
    b.passing(10, t0);
    EXPECT_TRUE(would_reject(b.policy, b.tats, t0));
}

TEST(Gcra, HugeValuesSaturateInsteadOfOverflowing) {
    // The loader refuses buckets spanning more than 100 years; the arithmetic clamps them anyway.
    bucket b(make_policy({{1, 366 * 86400, "1/366d"}}, 1'000'000'000));
    const decision d = b.at(t0);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 98u);  // 100 years / 366 days, less the one just taken
    const limit_params us = params(b.policy, 0, us_per_second);
    EXPECT_LT(us.tolerance, std::int64_t{1} << 53);  // exact as a Lua double

    bucket fast(make_policy({{1'000'000, 1, "1000000/second"}}, 1'000'000'000));
    EXPECT_EQ(fast.passing(10, t0), 10);
    EXPECT_EQ(params(fast.policy, 0, us_per_second).interval, 1);
}

}  // namespace
}  // namespace sluice::limits
