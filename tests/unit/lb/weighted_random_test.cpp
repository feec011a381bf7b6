// weighted_random: plain weighted draws ("random") and two draws, the less loaded wins
// ("random_two").

#include "lb/weighted_random.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::lb {
namespace {

std::vector<int> counts(balancer& b, const std::vector<server_view>& view, int picks, std::span<const bool> tried = {}) {
    std::vector<int> out(view.size(), 0);
    for (int i = 0; i < picks; ++i) {
        const auto p = b.pick({view, tried, std::nullopt});
        EXPECT_TRUE(p);
        if (p) ++out[*p];
    }
    return out;
}

TEST(WeightedRandom, SharesFollowWeights) {
    weighted_random r({1, 2, 3, 4}, 1, 1);
    const std::vector<server_view> view(4);
    const int picks = 100'000;
    const auto c = counts(r, view, picks);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(c[i], picks * (i + 1) / 10, picks * 0.01) << i;
}

TEST(WeightedRandom, SkipsUnavailableAndTried) {
    weighted_random r({1, 2, 3, 4}, 1, 2);
    std::vector<server_view> view(4);
    view[3].available = false;
    const bool tried[4] = {true, false, false, false};
    const int picks = 50'000;
    const auto c = counts(r, view, picks, tried);
    EXPECT_EQ(c[0], 0);
    EXPECT_EQ(c[3], 0);
    EXPECT_NEAR(c[1], picks * 2 / 5, picks * 0.015);
    EXPECT_NEAR(c[2], picks * 3 / 5, picks * 0.015);
    for (auto& v : view) v.available = false;
    EXPECT_FALSE(r.pick({view, {}, std::nullopt}));
}

TEST(RandomTwo, LoadedServerLosesEveryComparison) {
    weighted_random r({1, 1, 1, 1}, 2, 3);
    std::vector<server_view> view(4);
    view[0].in_flight = 5;
    const auto c = counts(r, view, 20'000);
    EXPECT_EQ(c[0], 0);
    for (int i = 1; i < 4; ++i) EXPECT_NEAR(c[i], 20'000 / 3, 400) << i;
}

TEST(RandomTwo, EqualLoadsFollowWeights) {
    // Ties go to the first draw, so with equal loads the shares are the weight shares.
    weighted_random r({1, 3}, 2, 4);
    const std::vector<server_view> view(2);
    const int picks = 40'000;
    const auto c = counts(r, view, picks);
    EXPECT_NEAR(c[0], picks / 4, picks * 0.015);
    EXPECT_NEAR(c[1], picks * 3 / 4, picks * 0.015);
}

TEST(RandomTwo, OneEligibleIsTaken) {
    weighted_random r({1, 1, 1}, 2, 5);
    std::vector<server_view> view(3);
    view[1].available = false;
    const bool tried[3] = {true, false, false};
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(r.pick({view, tried, std::nullopt}), 2u);
}

}  // namespace
}  // namespace sluice::lb
