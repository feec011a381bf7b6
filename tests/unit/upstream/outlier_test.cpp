// Passive outlier ejection on a simulated clock: ejection after a run of failures, times that
// grow and cap, decay, max_ejected_percent, and the server_state glue the workers use.

#include "config/config.hpp"
#include "upstream/outlier.hpp"
#include "upstream/server_state.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::upstream {
namespace {

using namespace std::chrono_literals;
using clock_type = outlier_detector::clock;

const clock_type::time_point t0 = clock_type::time_point{} + 1000h;

config::outlier_settings settings(std::uint32_t failures = 5, std::chrono::milliseconds base = 30s,
                                  std::chrono::milliseconds max = 300s, std::uint32_t percent = 50) {
    config::outlier_settings s;
    s.consecutive_failures = failures;
    s.base_ejection = base;
    s.max_ejection = max;
    s.max_ejected_percent = percent;
    return s;
}

// Feeds `n` failures at `now`; returns the ejection end if the last one ejected.
std::optional<clock_type::time_point> fail(outlier_detector& d, int n, clock_type::time_point now,
                                           const config::outlier_settings& s, outcome o = outcome::response(503)) {
    std::optional<clock_type::time_point> r;
    for (int i = 0; i < n; ++i) r = d.record(o, now, s, 0, 10);
    return r;
}

TEST(Outlier, EjectsAfterConsecutiveFailuresOnly) {
    const auto s = settings();
    outlier_detector d;
    EXPECT_FALSE(fail(d, 4, t0, s));
    EXPECT_EQ(d.consecutive_failures(), 4u);
    EXPECT_FALSE(d.record(outcome::response(200), t0, s, 0, 10));  // a success ends the run
    EXPECT_EQ(d.consecutive_failures(), 0u);
    EXPECT_FALSE(fail(d, 4, t0, s));
    EXPECT_FALSE(d.ejected(t0));
    const auto until = fail(d, 1, t0, s);
    ASSERT_TRUE(until);
    EXPECT_EQ(*until, t0 + 30s);
    EXPECT_TRUE(d.ejected(t0));
    EXPECT_TRUE(d.ejected(t0 + 29'999ms));
    EXPECT_FALSE(d.ejected(t0 + 30s));
    EXPECT_EQ(d.consecutive_failures(), 0u);
    EXPECT_EQ(d.ejections(), 1u);
}

TEST(Outlier, EveryKindOfFailureCounts) {
    const auto s = settings(4);
    outlier_detector d;
    EXPECT_FALSE(d.record(outcome::connect_failure(), t0, s, 0, 10));
    EXPECT_FALSE(d.record(outcome::timeout(), t0, s, 0, 10));
    EXPECT_FALSE(d.record(outcome::reset(), t0, s, 0, 10));
    EXPECT_FALSE(d.record(outcome::response(404), t0, s, 0, 10));  // 4xx is the client's problem
    EXPECT_EQ(d.consecutive_failures(), 0u);
    EXPECT_FALSE(d.record(outcome::connect_failure(), t0, s, 0, 10));
    EXPECT_FALSE(d.record(outcome::timeout(), t0, s, 0, 10));
    EXPECT_FALSE(d.record(outcome::reset(), t0, s, 0, 10));
    EXPECT_TRUE(d.record(outcome::response(500), t0, s, 0, 10));
}

// Ejected for base x times ejected: 30, 60, 90 ... capped at 300 s, back-to-back failures.
TEST(Outlier, EjectionTimesGrowAndCap) {
    const auto s = settings(1);
    outlier_detector d;
    auto now = t0;
    std::vector<std::chrono::seconds> lengths;
    for (int i = 0; i < 14; ++i) {
        const auto until = d.record(outcome::timeout(), now, s, 0, 10);
        ASSERT_TRUE(until) << i;
        lengths.push_back(std::chrono::duration_cast<std::chrono::seconds>(*until - now));
        now = *until;  // fails again the moment it is back
    }
    const std::vector<std::chrono::seconds> expected = {30s,  60s,  90s,  120s, 150s, 180s, 210s,
                                                        240s, 270s, 300s, 300s, 300s, 300s, 300s};
    EXPECT_EQ(lengths, expected);
    EXPECT_EQ(outlier_detector::ejection_time(1'000'000, s), 300s);
}

TEST(Outlier, OutcomesWhileEjectedAreIgnored) {
    const auto s = settings(2);
    outlier_detector d;
    ASSERT_TRUE(fail(d, 2, t0, s));
    EXPECT_FALSE(fail(d, 10, t0 + 1s, s));  // late answers of requests started before
    EXPECT_EQ(d.ejections(), 1u);
    EXPECT_EQ(d.consecutive_failures(), 0u);
    EXPECT_EQ(d.ejected_until(), t0 + 30s);
}

TEST(Outlier, MultiplierDecaysWhileBackInService) {
    const auto s = settings(1);
    outlier_detector d;
    auto now = t0;
    for (int i = 0; i < 3; ++i) now = *d.record(outcome::timeout(), now, s, 0, 10);
    EXPECT_EQ(d.ejections(), 3u);
    // Back at `now`; 65 s of good service later two base periods have passed.
    d.record(outcome::response(200), now + 65s, s, 0, 10);
    EXPECT_EQ(d.ejections(), 1u);
    const auto until = d.record(outcome::timeout(), now + 70s, s, 0, 10);
    ASSERT_TRUE(until);
    EXPECT_EQ(*until - (now + 70s), 60s);  // second ejection's length again
    // After a long healthy stretch it starts from base.
    outlier_detector e;
    auto t = *e.record(outcome::timeout(), t0, s, 0, 10);
    t = *e.record(outcome::timeout(), t, s, 0, 10);
    EXPECT_EQ(e.ejections(), 2u);
    const auto again = e.record(outcome::timeout(), t + 1h, s, 0, 10);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again - (t + 1h), 30s);
}

TEST(Outlier, MaxEjectedPercentArithmetic) {
    EXPECT_TRUE(may_eject(0, 2, 50));
    EXPECT_FALSE(may_eject(1, 2, 50));
    EXPECT_TRUE(may_eject(1, 4, 50));
    EXPECT_FALSE(may_eject(2, 4, 50));
    EXPECT_FALSE(may_eject(0, 1, 50));  // the only server is never ejected at 50%
    EXPECT_TRUE(may_eject(0, 1, 100));
    EXPECT_FALSE(may_eject(0, 10, 0));
    EXPECT_TRUE(may_eject(2, 10, 30));
    EXPECT_FALSE(may_eject(3, 10, 30));
}

TEST(Outlier, RefusedEjectionHappensOnceThereIsRoom) {
    const auto s = settings(3);
    outlier_detector full;
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(full.record(outcome::reset(), t0, s, 2, 4)) << i;  // 2 of 4 out
    EXPECT_EQ(full.consecutive_failures(), 5u);
    EXPECT_TRUE(full.record(outcome::reset(), t0 + 1s, s, 1, 4));  // one came back
}

TEST(Outlier, DisabledWithZeroFailures) {
    const auto s = settings(0);
    outlier_detector d;
    EXPECT_FALSE(fail(d, 1000, t0, s));
    EXPECT_FALSE(d.ejected(t0));
}

TEST(Outlier, SettingsMayChangeBetweenCalls) {
    outlier_detector d;
    EXPECT_FALSE(fail(d, 3, t0, settings(5)));
    // Reloaded with a lower threshold: the run so far counts.
    const auto until = d.record(outcome::timeout(), t0, settings(4, 10s), 0, 10);
    ASSERT_TRUE(until);
    EXPECT_EQ(*until, t0 + 10s);
}

std::vector<config::upstream_server> pool(std::size_t n) {
    std::vector<config::upstream_server> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        out[i].address = config::endpoint{"127.0.0.1", static_cast<std::uint16_t>(9001 + i)};
        out[i].state = std::make_shared<server_state>();
    }
    return out;
}

TEST(Outlier, RecordOutcomePublishesEjectionAndRespectsMaxPercent) {
    const auto s = settings(2, 30s, 300s, 50);
    auto servers = pool(5);  // 50% of 5: at most 2 ejected
    int ejected = 0;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        for (int k = 0; k < 2; ++k) ejected += record_outcome(servers, i, outcome::connect_failure(), t0, s);
    }
    EXPECT_EQ(ejected, 2);
    EXPECT_EQ(count_ejected(servers, t0), 2u);
    EXPECT_TRUE(is_ejected(*servers[0].state, t0));
    EXPECT_TRUE(is_ejected(*servers[1].state, t0));
    EXPECT_FALSE(is_ejected(*servers[2].state, t0));
    EXPECT_FALSE(is_ejected(*servers[0].state, t0 + 30s));
    EXPECT_EQ(count_ejected(servers, t0 + 30s), 0u);
    // The others kept their runs: their next failure ejects them now that there is room.
    EXPECT_TRUE(record_outcome(servers, 2, outcome::connect_failure(), t0 + 30s, s));
    EXPECT_FALSE(record_outcome(servers, 99, outcome::connect_failure(), t0, s));  // no such server
    servers[3].state.reset();
    EXPECT_FALSE(record_outcome(servers, 3, outcome::connect_failure(), t0, s));  // no state attached
}

// 10,000 random outcomes on a pool of 10: the share ejected never passes the limit.
TEST(Outlier, MaxEjectedPercentHoldsUnderRandomFailures) {
    const auto s = settings(3, 1s, 10s, 30);
    auto servers = pool(10);
    std::uint64_t x = 12345;
    auto now = t0;
    int at_limit = 0;
    for (int i = 0; i < 10'000; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const std::size_t server = (x >> 33) % 10;
        const bool failure = ((x >> 20) % 100) < (server < 5 ? 90 : 5);
        record_outcome(servers, server, failure ? outcome::response(502) : outcome::response(200), now, s);
        const std::size_t out = count_ejected(servers, now);
        ASSERT_LE(out, 3u) << i;
        at_limit += out == 3;
        now += 37ms;
    }
    EXPECT_GT(at_limit, 1000) << "five bad servers should keep the pool at its ejection limit";
}

}  // namespace
}  // namespace sluice::upstream
