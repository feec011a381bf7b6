// Retry policy decisions and the retry budget's arithmetic, including under concurrency.

#include "config/config.hpp"
#include "upstream/retry_budget.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace sluice::upstream {
namespace {

config::retry_settings policy(std::uint32_t attempts = 3) {
    config::retry_settings p;
    p.attempts = attempts;
    p.on_connect_failure = true;
    p.on_timeout = true;
    p.on_reset = false;
    p.on_5xx = false;
    p.on_status = {502, 503};
    return p;
}

TEST(RetryPolicy, IdempotentMethods) {
    for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) EXPECT_TRUE(idempotent(m)) << m;
    for (const char* m : {"POST", "PATCH", "CONNECT", "get", "PURGE"}) EXPECT_FALSE(idempotent(m)) << m;
}

TEST(RetryPolicy, OnlyListedOutcomes) {
    const auto p = policy();
    EXPECT_TRUE(retry_on(outcome::connect_failure(), p));
    EXPECT_TRUE(retry_on(outcome::timeout(), p));
    EXPECT_FALSE(retry_on(outcome::reset(), p));
    EXPECT_TRUE(retry_on(outcome::response(502), p));
    EXPECT_TRUE(retry_on(outcome::response(503), p));
    EXPECT_FALSE(retry_on(outcome::response(504), p));
    EXPECT_FALSE(retry_on(outcome::response(200), p));
    auto any5xx = p;
    any5xx.on_5xx = true;
    EXPECT_TRUE(retry_on(outcome::response(500), any5xx));
    EXPECT_TRUE(retry_on(outcome::response(599), any5xx));
    EXPECT_FALSE(retry_on(outcome::response(429), any5xx));
}

TEST(RetryPolicy, AttemptsCountTheFirstTry) {
    const auto p = policy(3);
    EXPECT_TRUE(should_retry(outcome::response(503), 1, p, "GET", false, false));
    EXPECT_TRUE(should_retry(outcome::response(503), 2, p, "GET", false, false));
    EXPECT_FALSE(should_retry(outcome::response(503), 3, p, "GET", false, false));
    EXPECT_FALSE(should_retry(outcome::connect_failure(), 1, policy(1), "GET", false, false));
}

TEST(RetryPolicy, OnlyWhenSafe) {
    const auto p = policy();
    // A connect failure sent nothing: any method, body or not.
    EXPECT_TRUE(should_retry(outcome::connect_failure(), 1, p, "POST", true, false));
    EXPECT_TRUE(should_retry(outcome::connect_failure(), 1, p, "POST", false, false));
    // After the request reached the server: idempotent methods...
    EXPECT_TRUE(should_retry(outcome::timeout(), 1, p, "GET", false, false));
    EXPECT_TRUE(should_retry(outcome::response(502), 1, p, "DELETE", false, false));
    // ...or a body that has not gone out yet...
    EXPECT_TRUE(should_retry(outcome::response(503), 1, p, "POST", true, false));
    // ...but not a non-idempotent request that arrived whole.
    EXPECT_FALSE(should_retry(outcome::response(503), 1, p, "POST", false, false));
    EXPECT_FALSE(should_retry(outcome::timeout(), 1, p, "PATCH", false, false));
    // A sent body cannot be replayed, whatever the method.
    EXPECT_FALSE(should_retry(outcome::response(503), 1, p, "POST", true, true));
    EXPECT_FALSE(should_retry(outcome::response(503), 1, p, "PUT", true, true));
    // Outcomes not listed never retry.
    EXPECT_FALSE(should_retry(outcome::reset(), 1, p, "GET", false, false));
    EXPECT_FALSE(should_retry(outcome::response(500), 1, p, "GET", false, false));
}

TEST(RetryBudget, AllowedArithmetic) {
    EXPECT_EQ(retry_budget::allowed(0, 20, 3), 3u);
    EXPECT_EQ(retry_budget::allowed(10, 20, 3), 3u);
    EXPECT_EQ(retry_budget::allowed(15, 20, 3), 3u);
    EXPECT_EQ(retry_budget::allowed(20, 20, 3), 4u);
    EXPECT_EQ(retry_budget::allowed(100, 20, 3), 20u);
    EXPECT_EQ(retry_budget::allowed(1000, 0, 3), 3u);
    EXPECT_EQ(retry_budget::allowed(1000, 100, 3), 1000u);
    EXPECT_EQ(retry_budget::allowed(1000, 25, 0), 250u);
    EXPECT_EQ(retry_budget::allowed(3, 20, 0), 0u);
}

TEST(RetryBudget, RetriesStopAtTheBudgetAndResumeWhenOneEnds) {
    retry_budget b;
    std::vector<retry_budget::request> requests;
    for (int i = 0; i < 100; ++i) requests.push_back(b.start_request());
    EXPECT_EQ(b.active_requests(), 100u);

    std::vector<retry_budget::retry> retries;
    for (int i = 0; i < 20; ++i) {
        auto r = b.try_retry(20, 3);
        ASSERT_TRUE(r) << i;
        retries.push_back(std::move(*r));
    }
    EXPECT_EQ(b.active_retries(), 20u);
    EXPECT_FALSE(b.try_retry(20, 3));
    retries.pop_back();  // one retry ended
    EXPECT_EQ(b.active_retries(), 19u);
    EXPECT_TRUE(b.try_retry(20, 3));  // released at once: a temporary
    EXPECT_EQ(b.active_retries(), 19u);

    requests.resize(10);  // load dropped: 20% of 10 is 2, the floor is 3
    EXPECT_EQ(b.active_requests(), 10u);
    EXPECT_FALSE(b.try_retry(20, 3));
    retries.resize(2);
    EXPECT_TRUE(b.try_retry(20, 3));
    requests.clear();
    retries.clear();
    EXPECT_EQ(b.active_requests(), 0u);
    EXPECT_EQ(b.active_retries(), 0u);
}

TEST(RetryBudget, MovedTokensReleaseOnce) {
    retry_budget b;
    {
        auto r = b.start_request();
        auto moved = std::move(r);
        retry_budget::request assigned;
        assigned = std::move(moved);
        EXPECT_EQ(b.active_requests(), 1u);
        auto t = b.try_retry(0, 1);
        ASSERT_TRUE(t);
        retry_budget::retry other = std::move(*t);
        t.reset();
        EXPECT_EQ(b.active_retries(), 1u);
        other.release();
        other.release();
        EXPECT_EQ(b.active_retries(), 0u);
    }
    EXPECT_EQ(b.active_requests(), 0u);
}

TEST(RetryBudget, UsesPolicySettings) {
    retry_budget b;
    config::retry_settings p;
    p.budget_percent = 50;
    p.min_concurrent = 1;
    auto r1 = b.start_request();
    auto r2 = b.start_request();
    auto r3 = b.start_request();
    auto r4 = b.start_request();
    auto a = b.try_retry(p);
    auto c = b.try_retry(p);
    EXPECT_TRUE(a);
    EXPECT_TRUE(c);
    EXPECT_FALSE(b.try_retry(p));
}

// Threads race for retries with 200 active requests and a 10% budget: the count in flight
// never passes 20.
TEST(RetryBudget, ConcurrentRetriesNeverExceedTheBudget) {
    retry_budget b;
    std::vector<retry_budget::request> requests;
    for (int i = 0; i < 200; ++i) requests.push_back(b.start_request());
    std::atomic<std::uint64_t> peak{0};
    std::atomic<int> granted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20'000; ++i) {
                auto r = b.try_retry(10, 3);
                if (!r) continue;
                ++granted;
                const auto now = b.active_retries();
                auto seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_LE(peak.load(), 20u);
    EXPECT_GT(granted.load(), 0);
    EXPECT_EQ(b.active_retries(), 0u);
}

}  // namespace
}  // namespace sluice::upstream
