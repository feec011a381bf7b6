// least_request: power of two choices with equal weights, load-adjusted smooth weighted
// round-robin with unequal ones; never an unavailable or tried server.

#include "lb/least_request.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::lb {
namespace {

std::vector<int> counts(balancer& b, std::vector<server_view>& view, int picks, std::span<const bool> tried = {}) {
    std::vector<int> out(view.size(), 0);
    for (int i = 0; i < picks; ++i) {
        const auto p = b.pick({view, tried, std::nullopt});
        EXPECT_TRUE(p);
        if (p) ++out[*p];
    }
    return out;
}

TEST(LeastRequest, TwoServersAlwaysTheLessLoaded) {
    least_request lr({1, 1}, 1);
    std::vector<server_view> view(2);
    view[0].in_flight = 7;
    view[1].in_flight = 3;
    EXPECT_EQ(counts(lr, view, 10'000), (std::vector<int>{0, 10'000}));
}

// With loads 0 < 1 < 2 < 3 < 4, server i wins every pair where it is the lighter: (4 - i) of the
// 10 pairs, so shares 40/30/20/10/0 %. The most loaded server is never picked.
TEST(LeastRequest, PrefersLessLoadedUnderSkew) {
    least_request lr({1, 1, 1, 1, 1}, 2);
    std::vector<server_view> view(5);
    for (std::size_t i = 0; i < 5; ++i) view[i].in_flight = i;
    const int picks = 100'000;
    const auto c = counts(lr, view, picks);
    EXPECT_EQ(c[4], 0);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(c[i], picks * (4 - i) / 10, picks * 0.015) << i;
}

// A slow server (its requests last 10x longer) ends up with far fewer requests than its share:
// a simulation with requests arriving each tick.
TEST(LeastRequest, SlowServerGetsLessTraffic) {
    least_request lr({1, 1, 1, 1}, 3);
    std::vector<server_view> view(4);
    std::vector<std::vector<int>> ends(4);  // tick at which each active request ends
    std::vector<int> picked(4, 0);
    for (int tick = 0; tick < 20'000; ++tick) {
        for (std::size_t s = 0; s < 4; ++s) {
            std::erase_if(ends[s], [&](int end) { return end <= tick; });
            view[s].in_flight = ends[s].size();
        }
        for (int r = 0; r < 2; ++r) {
            const auto p = lr.pick({view, {}, std::nullopt});
            ASSERT_TRUE(p);
            ++picked[*p];
            ends[*p].push_back(tick + (*p == 0 ? 40 : 4));
            ++view[*p].in_flight;
        }
    }
    const int total = picked[0] + picked[1] + picked[2] + picked[3];
    EXPECT_LT(picked[0], total / 10) << "slow server share";
    for (int s = 1; s < 4; ++s) EXPECT_GT(picked[s], total / 4);
}

TEST(LeastRequest, SkipsUnavailableAndTried) {
    least_request lr({1, 1, 1, 1}, 4);
    std::vector<server_view> view(4);
    view[1].available = false;
    const bool tried[4] = {false, false, true, false};
    const auto c = counts(lr, view, 10'000, tried);
    EXPECT_EQ(c[1], 0);
    EXPECT_EQ(c[2], 0);
    EXPECT_NEAR(c[0], 5'000, 300);
    EXPECT_NEAR(c[3], 5'000, 300);
}

TEST(LeastRequest, OneEligibleIsTakenNoneGivesNothing) {
    least_request lr({1, 1, 1}, 5);
    std::vector<server_view> view(3);
    view[0].available = false;
    view[2].available = false;
    view[1].in_flight = 1000;
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(lr.pick({view, {}, std::nullopt}), 1u);
    view[1].available = false;
    EXPECT_FALSE(lr.pick({view, {}, std::nullopt}));
}

TEST(LeastRequest, UnequalWeightsShareByWeightWhenIdle) {
    least_request lr({1, 3}, 6);
    std::vector<server_view> view(2);
    const auto c = counts(lr, view, 10'000);
    EXPECT_NEAR(c[0], 2'500, 1);
    EXPECT_NEAR(c[1], 7'500, 1);
}

TEST(LeastRequest, UnequalWeightsAreDividedByLoad) {
    // Effective weights 2/(0+1) = 2 and 4/(3+1) = 1: two thirds to the idle server.
    least_request lr({2, 4}, 7);
    std::vector<server_view> view(2);
    view[1].in_flight = 3;
    const auto c = counts(lr, view, 9'000);
    EXPECT_NEAR(c[0], 6'000, 1);
    EXPECT_NEAR(c[1], 3'000, 1);
}

TEST(LeastRequest, UnequalWeightsSkipUnavailable) {
    least_request lr({1, 2, 3}, 8);
    std::vector<server_view> view(3);
    view[2].available = false;
    const auto c = counts(lr, view, 9'000);
    EXPECT_EQ(c[2], 0);
    EXPECT_NEAR(c[0], 3'000, 1);
    EXPECT_NEAR(c[1], 6'000, 1);
}

}  // namespace
}  // namespace sluice::lb
