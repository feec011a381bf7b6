#include "lb/round_robin.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace sluice::lb {
namespace {

// n picks as letters ('a' for server 0, ...), '-' for nullopt.
std::string sequence(round_robin& rr, int n, std::span<const bool> excluded = {}) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        auto p = rr.pick(excluded);
        out += p ? static_cast<char>('a' + *p) : '-';
    }
    return out;
}

std::vector<int> counts(round_robin& rr, int n, std::span<const bool> excluded = {}) {
    std::vector<int> out(rr.size(), 0);
    for (int i = 0; i < n; ++i) {
        auto p = rr.pick(excluded);
        EXPECT_TRUE(p.has_value());
        if (p) {
            ++out.at(*p);
        }
    }
    return out;
}

TEST(RoundRobin, NginxSmoothSequence) {
    // nginx's documented example: weights 5, 1, 1 give a a b a c a a, then repeat.
    round_robin rr({5, 1, 1});
    EXPECT_EQ(sequence(rr, 7), "aabacaa");
    EXPECT_EQ(sequence(rr, 7), "aabacaa");
}

TEST(RoundRobin, SmoothSequenceInterleavesHeavyServer) {
    round_robin rr({3, 2, 1});
    EXPECT_EQ(sequence(rr, 12), "abacbaabacba");
}

TEST(RoundRobin, EqualWeightsRotateInOrder) {
    round_robin rr({1, 1, 1});
    EXPECT_EQ(sequence(rr, 7), "abcabca");
}

TEST(RoundRobin, SharesAreExactlyProportional) {
    round_robin rr({3, 2, 1});
    auto c = counts(rr, 10'000);
    EXPECT_NEAR(c[0], 5000, 1);
    EXPECT_NEAR(c[1], 3333, 1);
    EXPECT_NEAR(c[2], 1667, 1);
}

TEST(RoundRobin, ZeroWeightCountsAsOne) {
    round_robin rr({0, 1});
    EXPECT_EQ(sequence(rr, 4), "abab");

    round_robin heavy({3, 0});
    auto c = counts(heavy, 4000);
    EXPECT_EQ(c[0], 3000);
    EXPECT_EQ(c[1], 1000);
}

TEST(RoundRobin, ExcludedNeverPickedOthersKeepShares) {
    round_robin rr({3, 2, 1});
    const std::array<bool, 3> skip_b{false, true, false};
    auto c = counts(rr, 10'000, skip_b);
    EXPECT_EQ(c[1], 0);
    EXPECT_NEAR(c[0], 7500, 1);  // 3 : 1
    EXPECT_NEAR(c[2], 2500, 1);
}

TEST(RoundRobin, ExclusionCanChangeBetweenPicks) {
    round_robin rr({1, 1, 1});
    const std::array<bool, 3> skip_a{true, false, false};
    const std::array<bool, 3> none{false, false, false};
    for (int i = 0; i < 100; ++i) {
        auto p = rr.pick(skip_a);
        ASSERT_TRUE(p);
        EXPECT_NE(*p, 0u);
    }
    // Back in rotation: over a long run everyone still gets an equal share.
    auto c = counts(rr, 3000, none);
    for (int n : c) {
        EXPECT_NEAR(n, 1000, 100);
    }
}

TEST(RoundRobin, RetryExcludingTriedServer) {
    round_robin rr({5, 1, 1});
    auto first = rr.pick();
    ASSERT_TRUE(first);
    std::array<bool, 3> tried{};
    tried[*first] = true;
    auto second = rr.pick(tried);
    ASSERT_TRUE(second);
    EXPECT_NE(*second, *first);
}

TEST(RoundRobin, AllExcludedGivesNullopt) {
    round_robin rr({2, 1});
    const std::array<bool, 2> all{true, true};
    EXPECT_FALSE(rr.pick(all).has_value());
    // Nothing was disturbed: the unexcluded sequence is the fresh one.
    EXPECT_EQ(sequence(rr, 3), "aba");
}

TEST(RoundRobin, EmptySetGivesNullopt) {
    round_robin rr({});
    EXPECT_EQ(rr.size(), 0u);
    EXPECT_FALSE(rr.pick().has_value());
}

TEST(RoundRobin, SingleServer) {
    round_robin rr({7});
    EXPECT_EQ(rr.size(), 1u);
    EXPECT_EQ(sequence(rr, 5), "aaaaa");
    const std::array<bool, 1> down{true};
    EXPECT_FALSE(rr.pick(down).has_value());
    EXPECT_EQ(rr.pick(), std::optional<std::size_t>{0});
}

TEST(RoundRobin, LargeWeightsDoNotOverflow) {
    round_robin rr({4'000'000'000u, 4'000'000'000u, 1});
    auto c = counts(rr, 8001);
    EXPECT_EQ(c[0] + c[1] + c[2], 8001);
    EXPECT_NEAR(c[0], c[1], 1);
}

}  // namespace
}  // namespace sluice::lb
