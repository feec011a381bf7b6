// Envoy-style concurrency caps: never exceeded, even by concurrent workers; a reload's new cap
// applies at once.

#include "breaker/resource_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sluice::breaker {
namespace {

TEST(ResourceLimit, AcquireUpToTheCap) {
    resource_limit limit;
    EXPECT_TRUE(limit.try_acquire(2));
    EXPECT_TRUE(limit.try_acquire(2));
    EXPECT_FALSE(limit.try_acquire(2));
    EXPECT_EQ(limit.in_use(), 2u);
    limit.release();
    EXPECT_TRUE(limit.try_acquire(2));
    EXPECT_FALSE(limit.try_acquire(0));  // a cap of 0 refuses everything
}

TEST(ResourceLimit, ANewCapAppliesAtOnce) {
    resource_limit limit;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(limit.try_acquire(10));
    }
    EXPECT_FALSE(limit.try_acquire(3));  // lowered below what is in use: nothing new until released
    limit.release();
    limit.release();
    EXPECT_FALSE(limit.try_acquire(3));
    limit.release();
    EXPECT_TRUE(limit.try_acquire(3));
    EXPECT_TRUE(limit.try_acquire(100));  // raised
}

TEST(ResourceLimit, SlotsGiveBackOnDestruction) {
    resource_limit limit;
    {
        resource_slot a = resource_slot::try_take(limit, 1);
        EXPECT_TRUE(a);
        resource_slot b = resource_slot::try_take(limit, 1);
        EXPECT_FALSE(b);
        resource_slot moved = std::move(a);
        EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
        EXPECT_TRUE(moved);
        EXPECT_EQ(limit.in_use(), 1u);
    }
    EXPECT_EQ(limit.in_use(), 0u);
    resource_slot c = resource_slot::try_take(limit, 1);
    c.reset();
    EXPECT_EQ(limit.in_use(), 0u);
}

TEST(ResourceLimit, NeverExceededAcrossThreads) {
    resource_limit limit;
    constexpr std::uint64_t cap = 7;
    std::atomic<std::uint64_t> peak{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20'000; ++i) {
                if (limit.try_acquire(cap)) {
                    const std::uint64_t now = limit.in_use();
                    std::uint64_t seen = peak.load();
                    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                    }
                    limit.release();
                } else {
                    ++refused;
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_LE(peak.load(), cap);
    EXPECT_EQ(limit.in_use(), 0u);
    upstream_caps caps;
    EXPECT_TRUE(caps.connections.try_acquire(1));
    EXPECT_TRUE(caps.pending.try_acquire(1));
}

}  // namespace
}  // namespace sluice::breaker
