// The in-process store: exact under concurrent workers, separate per policy and client, and
// bounded however many distinct clients arrive.

#include "limits/local_store.hpp"

#include "policy_fixture.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sluice::limits {
namespace {

using namespace test;

// "prefix" followed by i (built by append: GCC 12 warns falsely on "literal" + std::string&&).
std::string numbered(std::string_view prefix, int i) {
    std::string out(prefix);
    out += std::to_string(i);
    return out;
}

int passing(local_store& store, const config::rate_limit_policy& p, std::string_view key, int n, std::int64_t now) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        ok += store.check(p, key, now).allowed ? 1 : 0;
    }
    return ok;
}

TEST(LocalStore, ClientsHaveTheirOwnBuckets) {
    local_store store;
    const auto p = make_policy({{10, 1, "10/second"}});
    EXPECT_EQ(passing(store, p, "10.0.0.1", 15, t0), 10);
    EXPECT_EQ(passing(store, p, "10.0.0.2", 15, t0), 10);
    EXPECT_EQ(store.size(), 2u);
    const decision d = store.check(p, "10.0.0.1", t0);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_ns, 100 * ms);
    // A second later 10.0.0.2's bucket is full again: the store may drop it (the hash secret is
    // random per process, so whether it shares a shard with 10.0.0.1 varies), never 10.0.0.1's.
    EXPECT_EQ(passing(store, p, "10.0.0.1", 15, t0 + 1 * s), 10);
    EXPECT_GE(store.size(), 1u);
}

TEST(LocalStore, PoliciesNeverShareCounters) {
    local_store store;
    const auto a = make_policy({{10, 1, "10/second"}}, 0, "a");
    const auto b = make_policy({{10, 1, "10/second"}}, 0, "b");
    EXPECT_EQ(passing(store, a, "client", 10, t0), 10);
    EXPECT_EQ(passing(store, b, "client", 15, t0), 10);
    // Same name with other limits (a reload that changed them): fresh buckets.
    const auto a2 = make_policy({{5, 1, "5/second"}}, 0, "a");
    EXPECT_EQ(passing(store, a2, "client", 15, t0), 5);
    // Burst alone does not change what the stored times mean: the state carries over.
    const auto a_burst = make_policy({{10, 1, "10/second"}}, 2, "a");
    EXPECT_EQ(passing(store, a_burst, "client", 15, t0), 2);
}

TEST(LocalStore, ExactAcrossThreads) {
    local_store store;
    const auto p = make_policy({{1000, 86400, "1000/day"}});
    constexpr int threads = 8;
    constexpr int per_thread = 5000;
    std::atomic<int> allowed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            int mine = 0;
            for (int i = 0; i < per_thread; ++i) {
                mine += store.check(p, "one-client", t0).allowed ? 1 : 0;
            }
            allowed += mine;
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    EXPECT_EQ(allowed.load(), 1000);
}

TEST(LocalStore, ExactAcrossThreadsWithManyKeysAndLimits) {
    local_store store;
    const auto p = make_policy({{20, 1, "20/second"}, {30, 60, "30/minute"}});
    constexpr int threads = 4;
    constexpr int keys = 200;
    std::vector<std::atomic<int>> per_key(keys);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int round = 0; round < 40; ++round) {
                for (int k = 0; k < keys; ++k) {
                    const int key = (k + t * 37) % keys;
                    // Two instants 1s apart: 20 + 10 more (the minute's 30) per key.
                    const std::int64_t now = round < 20 ? t0 : t0 + 1 * s;
                    if (store.check(p, numbered("k", key), now).allowed) {
                        ++per_key[key];
                    }
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    for (int k = 0; k < keys; ++k) {
        EXPECT_EQ(per_key[k].load(), 30) << k;
    }
}

TEST(LocalStore, FloodOfDistinctKeysStaysWithinTheBound) {
    const auto p = make_policy({{10, 1, "10/second"}, {50, 3600, "50/hour"}, {200, 86400, "200/day"}});
    const struct mallinfo2 before = mallinfo2();
    {
        local_store store;
        ASSERT_LE(store.max_keys(), local_store::default_max_keys);
        std::string key;
        for (int i = 0; i < 1'000'000; ++i) {
            key = numbered("client-", i);
            ASSERT_TRUE(store.check(p, key, t0 + i * 1000).allowed);
            if (i % 100'000 == 0) {
                ASSERT_LE(store.size(), store.max_keys());
            }
        }
        EXPECT_LE(store.size(), store.max_keys());
        EXPECT_GT(store.size(), store.max_keys() * 9 / 10);  // the cap is used, not avoided

        // The heap grew by at most ~256 bytes per entry (see the bound in local_store.hpp).
        const struct mallinfo2 after = mallinfo2();
        const std::size_t grown = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
        EXPECT_LT(grown, store.max_keys() * 256) << grown << " bytes";
        RecordProperty("heap_bytes_per_key", std::to_string(grown / store.max_keys()));
    }
}

TEST(LocalStore, RecentlyUsedKeysSurviveAFlood) {
    local_store store(6400);  // 100 per shard
    const auto p = make_policy({{1, 86400, "1/day"}});
    ASSERT_TRUE(store.check(p, "regular", t0).allowed);
    for (int i = 0; i < 100'000; ++i) {
        store.check(p, numbered("flood-", i), t0);
        ASSERT_FALSE(store.check(p, "regular", t0).allowed) << i;  // still remembered
    }
    EXPECT_LE(store.size(), 6400u);
}

TEST(LocalStore, EvictedKeysStartAfresh) {
    local_store store(64);  // one per shard
    const auto p = make_policy({{1, 86400, "1/day"}});
    ASSERT_TRUE(store.check(p, "victim", t0).allowed);
    for (int i = 0; i < 10'000; ++i) {
        store.check(p, numbered("flood-", i), t0);
    }
    EXPECT_LE(store.size(), 64u);
    EXPECT_TRUE(store.check(p, "victim", t0).allowed);  // the documented cost of the bound
}

TEST(LocalStore, IdleKeysExpire) {
    local_store store;
    const auto p = make_policy({{10, 1, "10/second"}, {60, 60, "60/minute"}});
    for (int i = 0; i < 1000; ++i) {
        store.check(p, numbered("c", i), t0);  // full again 1s later (the minute's interval)
    }
    EXPECT_EQ(passing(store, p, "busy", 30, t0), 10);  // 10 x 1s of the minute: full at t0 + 10s
    EXPECT_EQ(store.size(), 1001u);
    EXPECT_EQ(store.collect(t0 + 1 * s - 1), 0u);
    EXPECT_EQ(store.collect(t0 + 1 * s), 1000u);
    EXPECT_EQ(store.size(), 1u);
    EXPECT_EQ(store.collect(t0 + 10 * s), 1u);
    EXPECT_EQ(store.size(), 0u);
    // A dropped key is exactly a fresh key.
    EXPECT_EQ(passing(store, p, "c1", 20, t0 + 10 * s), 10);
}

TEST(LocalStore, ChecksTrimIdleEntriesAsTheyPass) {
    local_store store;
    const auto p = make_policy({{10, 1, "10/second"}});
    for (int i = 0; i < 5000; ++i) {
        store.check(p, numbered("old-", i), t0);
    }
    for (int i = 0; i < 5000; ++i) {
        store.check(p, numbered("new-", i), t0 + 10 * s);
    }
    // Each check drops up to two idle entries of its shard, so the old ones are (nearly) gone.
    EXPECT_LT(store.size(), 5000u + 500u);
}

}  // namespace
}  // namespace sluice::limits
