// Request coalescing bookkeeping: one leader per key, waiters woken exactly once, promotion when
// the leader gives up, timeouts on an injected clock.

#include "cache/coalescer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sluice::cache {
namespace {

using outcome = coalescer::outcome;
using namespace std::chrono_literals;

// "prefix" followed by i (built by append: GCC 12 warns falsely on "literal" + std::string&&).
std::string numbered(std::string_view prefix, std::uint64_t i) {
    std::string out(prefix);
    out += std::to_string(i);
    return out;
}

const coalescer::clock::time_point t0{std::chrono::seconds(1000)};

// Records what a waiter's callback received.
struct probe {
    int calls = 0;
    outcome got = outcome::pending;
    std::function<void(outcome)> fn() {
        return [this](outcome o) {
            ++calls;
            got = o;
        };
    }
};

TEST(Coalescer, FirstLeadsOthersWait) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    auto w1 = c.join("k", t0 + 1s);
    auto other = c.join("other", t0);
    EXPECT_TRUE(leader.leader());
    EXPECT_FALSE(w1.leader());
    EXPECT_TRUE(other.leader());
    EXPECT_EQ(w1.deadline(), t0 + 6s);
    EXPECT_EQ(w1.state(), outcome::pending);
    EXPECT_EQ(c.in_flight(), 2u);
    EXPECT_EQ(c.waiting(), 1u);
}

TEST(Coalescer, FinishWakesEveryWaiterOnce) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    std::vector<coalescer::ticket> waiters;
    std::vector<probe> probes(5);
    for (auto& p : probes) {
        waiters.push_back(c.join("k", t0));
        waiters.back().on_done(p.fn());
    }
    EXPECT_EQ(c.waiting(), 5u);
    leader.finish(true);
    for (const auto& p : probes) {
        EXPECT_EQ(p.calls, 1);
        EXPECT_EQ(p.got, outcome::stored);
    }
    EXPECT_EQ(c.in_flight(), 0u);
    EXPECT_EQ(c.waiting(), 0u);
    leader.finish(true);  // a second finish is ignored
    leader.abandon();
    for (const auto& p : probes) EXPECT_EQ(p.calls, 1);
    // The key is free again: the next miss leads.
    EXPECT_TRUE(c.join("k", t0 + 1s).leader());
}

TEST(Coalescer, NotStoredSendsWaitersUpstream) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    auto waiter = c.join("k", t0);
    probe p;
    waiter.on_done(p.fn());
    leader.finish(false);
    EXPECT_EQ(p.got, outcome::not_stored);
    EXPECT_EQ(waiter.state(), outcome::not_stored);
}

TEST(Coalescer, OnDoneAfterTheWaitEndedRunsAtOnce) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    auto waiter = c.join("k", t0);
    leader.finish(true);
    probe p;
    waiter.on_done(p.fn());
    EXPECT_EQ(p.calls, 1);
    EXPECT_EQ(p.got, outcome::stored);
}

TEST(Coalescer, AbandonPromotesTheOldestWaiter) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    auto w1 = c.join("k", t0 + 1s);
    auto w2 = c.join("k", t0 + 2s);
    probe p1, p2;
    w1.on_done(p1.fn());
    w2.on_done(p2.fn());
    leader.abandon();
    EXPECT_EQ(p1.got, outcome::lead);
    EXPECT_TRUE(w1.leader());
    EXPECT_EQ(p2.calls, 0);  // still waiting, now on w1
    EXPECT_EQ(c.in_flight(), 1u);
    EXPECT_EQ(c.waiting(), 1u);
    w1.finish(true);
    EXPECT_EQ(p2.got, outcome::stored);
    EXPECT_EQ(p1.calls, 1);
    EXPECT_EQ(c.in_flight(), 0u);
}

TEST(Coalescer, DestroyedLeaderAbandons) {
    coalescer c(5s);
    auto waiter = c.join("k", t0);  // leads: nobody else yet
    probe p;
    {
        auto second = c.join("k", t0);
        std::swap(waiter, second);  // `waiter` is now the waiting ticket; the leader is `second`
        waiter.on_done(p.fn());
    }  // leader ticket destroyed without finishing
    EXPECT_EQ(p.got, outcome::lead);
    EXPECT_TRUE(waiter.leader());
    // And a promoted leader that is dropped too frees the key.
    waiter = coalescer::ticket{};
    EXPECT_EQ(c.in_flight(), 0u);
}

TEST(Coalescer, AbandonWithoutWaitersFreesTheKey) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    leader.abandon();
    EXPECT_FALSE(leader.leader());
    EXPECT_EQ(c.in_flight(), 0u);
    EXPECT_TRUE(c.join("k", t0).leader());
}

TEST(Coalescer, ExpireTimesOutWaitersPastTheirDeadline) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    auto early = c.join("k", t0);
    auto late = c.join("k", t0 + 3s);
    probe pe, pl;
    early.on_done(pe.fn());
    late.on_done(pl.fn());
    EXPECT_EQ(c.expire(t0 + 4s), 0u);
    EXPECT_EQ(pe.calls, 0);
    EXPECT_EQ(c.expire(t0 + 5s), 1u);  // deadline reached: goes upstream itself
    EXPECT_EQ(pe.got, outcome::timed_out);
    EXPECT_EQ(pl.calls, 0);
    EXPECT_EQ(c.waiting(), 1u);
    leader.finish(true);
    EXPECT_EQ(pe.calls, 1);  // not woken twice
    EXPECT_EQ(pl.got, outcome::stored);
}

TEST(Coalescer, LeaveStopsWaitingOrReportsWhatHappened) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    auto gone = c.join("k", t0);
    auto stays = c.join("k", t0);
    probe pg, ps;
    gone.on_done(pg.fn());
    stays.on_done(ps.fn());
    EXPECT_EQ(gone.leave(), outcome::timed_out);  // its own timer fired, or its client left
    EXPECT_EQ(c.waiting(), 1u);
    leader.finish(true);
    EXPECT_EQ(pg.calls, 0);  // a waiter that left is never called
    EXPECT_EQ(ps.calls, 1);
    EXPECT_EQ(stays.leave(), outcome::stored);  // the race lost by the timer: use the result

    auto l2 = c.join("k2", t0);
    auto w2 = c.join("k2", t0);
    l2.abandon();
    EXPECT_EQ(w2.leave(), outcome::lead);  // promoted before its timer ran: it leads now
    EXPECT_TRUE(w2.leader());
    w2.finish(false);
    EXPECT_EQ(c.in_flight(), 0u);
}

TEST(Coalescer, DestroyedWaiterLeaves) {
    coalescer c(5s);
    auto leader = c.join("k", t0);
    {
        auto w = c.join("k", t0);
        w.on_done([](outcome) { FAIL() << "called after its ticket was gone"; });
    }
    EXPECT_EQ(c.waiting(), 0u);
    leader.finish(true);
}

// Many threads joining one key: exactly one leads.
TEST(Coalescer, ConcurrentJoinsHaveOneLeader) {
    coalescer c(5s);
    for (int round = 0; round < 50; ++round) {
        const std::string key = numbered("k", round);
        std::vector<coalescer::ticket> tickets(8);
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&, t] { tickets[t] = c.join(key, t0); });
        }
        for (auto& th : threads) th.join();
        int leaders = 0;
        for (auto& t : tickets) leaders += t.leader() ? 1 : 0;
        ASSERT_EQ(leaders, 1);
        EXPECT_EQ(c.waiting(), 7u);
        for (auto& t : tickets) {
            if (t.leader()) t.finish(true);
        }
        EXPECT_EQ(c.waiting(), 0u);
    }
}

// Waiters leaving while the leader finishes on another thread: each waiter either is woken or
// its leave() reports timed_out, never both, never neither.
TEST(Coalescer, LeaveRacingFinishResolvesEachWaiterOnce) {
    coalescer c(5s);
    for (int round = 0; round < 200; ++round) {
        const std::string key = numbered("k", round);
        auto leader = c.join(key, t0);
        constexpr int n = 16;
        std::vector<coalescer::ticket> waiters;
        std::vector<std::atomic<int>> woken(n);
        for (int i = 0; i < n; ++i) {
            waiters.push_back(c.join(key, t0));
            waiters.back().on_done([&woken, i](outcome o) {
                EXPECT_EQ(o, outcome::stored);
                ++woken[i];
            });
        }
        std::vector<outcome> left(n, outcome::pending);
        std::thread finisher([&] { leader.finish(true); });
        for (int i = 0; i < n; i += 2) left[i] = waiters[i].leave();
        finisher.join();
        for (int i = 0; i < n; ++i) {
            if (left[i] == outcome::timed_out) {
                EXPECT_EQ(woken[i], 0) << i;
            } else {
                EXPECT_EQ(woken[i], 1) << i;
            }
        }
        EXPECT_EQ(c.in_flight(), 0u);
    }
}

}  // namespace
}  // namespace sluice::cache
