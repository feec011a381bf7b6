// Every balancer behind the factory: over 10,000 picks with random availability, loads and
// tried sets, a pick is always available and untried, and nothing is picked only when no
// server qualifies. Plus the round-robin adapter's sequence.

#include "config/config.hpp"
#include "lb/balancer.hpp"
#include "lb/hash_key.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sluice::lb {
namespace {

// "prefix" + number, built by appending (GCC 12 warns falsely on "literal" + std::string).
std::string numbered(std::string_view prefix, std::uint64_t n) {
    std::string s(prefix);
    s += std::to_string(n);
    return s;
}

config::upstream make_upstream(config::balance_kind kind, std::vector<std::uint32_t> weights) {
    config::upstream u;
    u.name = std::string(1, 'u');
    u.balance = kind;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        config::upstream_server s;
        s.address = config::endpoint{"127.0.0.1", static_cast<std::uint16_t>(9001 + i)};
        s.weight = weights[i];
        u.servers.push_back(s);
    }
    return u;
}

constexpr config::balance_kind every_kind[] = {
    config::balance_kind::round_robin, config::balance_kind::consistent_hash, config::balance_kind::least_request,
    config::balance_kind::random_two, config::balance_kind::random,
};

TEST(Balancer, EveryKindPicksOnlyEligibleServers) {
    for (const auto kind : every_kind) {
        for (const auto& weights : {std::vector<std::uint32_t>{1, 1, 1, 1, 1, 1}, std::vector<std::uint32_t>{1, 5, 2, 1, 3, 8}}) {
            auto u = make_upstream(kind, weights);
            if (kind == config::balance_kind::consistent_hash) u.hash_balance_factor = 1.5;
            auto b = make_balancer(u, 42);
            ASSERT_EQ(b->size(), weights.size());
            std::mt19937_64 rng(static_cast<unsigned>(kind) + 1);
            std::vector<server_view> view(weights.size());
            bool tried[6];
            int picked = 0;
            for (int i = 0; i < 10'000; ++i) {
                bool any = false;
                for (std::size_t s = 0; s < view.size(); ++s) {
                    view[s].weight = weights[s];
                    view[s].available = rng() % 4 != 0;
                    view[s].in_flight = rng() % 20;
                    tried[s] = rng() % 5 == 0;
                    any = any || (view[s].available && !tried[s]);
                }
                const auto p = b->pick({view, tried, rng()});
                ASSERT_EQ(p.has_value(), any) << "kind " << static_cast<int>(kind) << " pick " << i;
                if (p) {
                    ASSERT_LT(*p, view.size());
                    ASSERT_TRUE(view[*p].available);
                    ASSERT_FALSE(tried[*p]);
                    ++picked;
                }
            }
            EXPECT_GT(picked, 8'000);
        }
    }
}

TEST(Balancer, EveryKindSpreadsOverAllServersWhenHealthy) {
    for (const auto kind : every_kind) {
        auto u = make_upstream(kind, {1, 1, 1});
        auto b = make_balancer(u, 7);
        std::vector<server_view> view(3);
        std::vector<int> count(3, 0);
        for (int i = 0; i < 30'000; ++i) {
            const auto p = b->pick({view, {}, hash_key(numbered("k", i))});
            ASSERT_TRUE(p);
            ++count[*p];
        }
        for (int c : count) EXPECT_NEAR(c, 10'000, 1'500) << "kind " << static_cast<int>(kind);
    }
}

TEST(Balancer, RoundRobinKeepsTheSmoothSequence) {
    auto b = make_balancer(make_upstream(config::balance_kind::round_robin, {5, 1, 1}), 1);
    std::vector<server_view> view(3);
    std::string seq;
    for (int i = 0; i < 14; ++i) seq += static_cast<char>('a' + *b->pick({view, {}, std::nullopt}));
    EXPECT_EQ(seq, "aabacaaaabacaa");

    view[0].available = false;  // b and c alternate while a is out
    seq.clear();
    for (int i = 0; i < 4; ++i) seq += static_cast<char>('a' + *b->pick({view, {}, std::nullopt}));
    EXPECT_EQ(seq, "bcbc");
}

TEST(Balancer, ConsistentHashUsesTheAddressesOfTheConfig) {
    // Two workers (two seeds) and a reloaded config with the same servers agree on every key.
    auto u = make_upstream(config::balance_kind::consistent_hash, {1, 2, 1});
    auto a = make_balancer(u, 1);
    auto b = make_balancer(u, 2);
    std::vector<server_view> view(3);
    for (int i = 0; i < 10'000; ++i) {
        const auto h = hash_key(numbered("key-", i));
        EXPECT_EQ(a->pick({view, {}, h}), b->pick({view, {}, h}));
    }
}

}  // namespace
}  // namespace sluice::lb
