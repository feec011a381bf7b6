// Connection limits per listener and per client IP: exact counts, release on slot destruction,
// exact under concurrent workers, and no per-IP entry left behind once a client's last
// connection ends.

#include "server/connection_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sluice::server {
namespace {

using verdict = listener_connections::verdict;
using slot = listener_connections::slot;
namespace ip = boost::asio::ip;

const auto a = ip::make_address("10.0.0.1");
const auto b = ip::make_address("10.0.0.2");

TEST(ConnectionLimiter, NoLimitsAdmitsEverythingAndCounts) {
    auto c = std::make_shared<listener_connections>();
    std::vector<slot> held(50);
    for (auto& s : held) EXPECT_EQ(listener_connections::admit(c, a, {}, s), verdict::admitted);
    EXPECT_EQ(c->open(), 50u);
    EXPECT_EQ(c->tracked_ips(), 0u);  // per-IP counting only when a per-IP limit is set
    held.clear();
    EXPECT_EQ(c->open(), 0u);
}

TEST(ConnectionLimiter, ListenerLimitRejectsTheNextAndReleasesOnClose) {
    auto c = std::make_shared<listener_connections>();
    const listener_connections::limits lim{3, 0};
    slot s1, s2, s3, s4;
    EXPECT_EQ(listener_connections::admit(c, a, lim, s1), verdict::admitted);
    EXPECT_EQ(listener_connections::admit(c, b, lim, s2), verdict::admitted);
    EXPECT_EQ(listener_connections::admit(c, a, lim, s3), verdict::admitted);
    EXPECT_EQ(listener_connections::admit(c, b, lim, s4), verdict::listener_full);
    EXPECT_FALSE(s4);
    EXPECT_EQ(c->open(), 3u);
    s2 = slot{};  // one closes
    EXPECT_EQ(c->open(), 2u);
    EXPECT_EQ(listener_connections::admit(c, b, lim, s4), verdict::admitted);
    EXPECT_TRUE(s4);
}

TEST(ConnectionLimiter, PerIpLimitSeparatesClients) {
    auto c = std::make_shared<listener_connections>();
    const listener_connections::limits lim{0, 2};
    slot a1, a2, a3, b1;
    EXPECT_EQ(listener_connections::admit(c, a, lim, a1), verdict::admitted);
    EXPECT_EQ(listener_connections::admit(c, a, lim, a2), verdict::admitted);
    EXPECT_EQ(listener_connections::admit(c, a, lim, a3), verdict::ip_full);
    EXPECT_EQ(listener_connections::admit(c, b, lim, b1), verdict::admitted);  // another client is unaffected
    EXPECT_EQ(c->open_from(a), 2u);
    EXPECT_EQ(c->open_from(b), 1u);
    EXPECT_EQ(c->open(), 3u);  // the rejected one gave its place back
    a1 = slot{};
    EXPECT_EQ(listener_connections::admit(c, a, lim, a3), verdict::admitted);
    a2 = slot{};
    a3 = slot{};
    b1 = slot{};
    EXPECT_EQ(c->tracked_ips(), 0u);  // nothing left behind
    EXPECT_EQ(c->open(), 0u);
}

TEST(ConnectionLimiter, MappedIpv6CountsAsItsIpv4Address) {
    auto c = std::make_shared<listener_connections>();
    const listener_connections::limits lim{0, 1};
    slot s1, s2;
    EXPECT_EQ(listener_connections::admit(c, a, lim, s1), verdict::admitted);
    EXPECT_EQ(listener_connections::admit(c, ip::make_address("::ffff:10.0.0.1"), lim, s2), verdict::ip_full);
}

TEST(ConnectionLimiter, MovedSlotReleasesOnce) {
    auto c = std::make_shared<listener_connections>();
    const listener_connections::limits lim{0, 5};
    slot s;
    ASSERT_EQ(listener_connections::admit(c, a, lim, s), verdict::admitted);
    slot moved(std::move(s));
    EXPECT_EQ(c->open(), 1u);
    slot assigned;
    assigned = std::move(moved);
    EXPECT_EQ(c->open(), 1u);
    EXPECT_EQ(c->open_from(a), 1u);
    assigned = slot{};
    EXPECT_EQ(c->open(), 0u);
    EXPECT_EQ(c->open_from(a), 0u);
}

TEST(ConnectionLimiter, SlotsKeepTheCountsAliveAfterTheRegistryForgetsThem) {
    slot s;
    std::weak_ptr<listener_connections> weak;
    {
        connection_limiter registry;
        auto c = registry.for_listener("http");
        EXPECT_EQ(registry.for_listener("http"), c);  // one set per name, shared by workers
        EXPECT_NE(registry.for_listener("other"), c);
        weak = c;
        ASSERT_EQ(listener_connections::admit(c, a, {0, 1}, s), verdict::admitted);
    }
    EXPECT_FALSE(weak.expired());
    s = slot{};
    EXPECT_TRUE(weak.expired());
}

TEST(ConnectionLimiter, ExactUnderConcurrentWorkers) {
    auto c = std::make_shared<listener_connections>();
    const listener_connections::limits lim{100, 30};
    std::atomic<int> admitted{0};
    std::vector<std::vector<slot>> held(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                slot s;
                const auto ip = ip::make_address_v4(0x0A000000u + static_cast<unsigned>(i % 5));
                if (listener_connections::admit(c, ip, lim, s) == verdict::admitted) {
                    ++admitted;
                    held[static_cast<std::size_t>(t)].push_back(std::move(s));
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    // 5 clients x 30 per IP = 150 would fit the per-IP limits; the listener allows 100.
    EXPECT_EQ(admitted.load(), 100);
    EXPECT_EQ(c->open(), 100u);
    std::uint32_t per_ip_sum = 0;
    for (unsigned i = 0; i < 5; ++i) {
        const auto n = c->open_from(ip::make_address_v4(0x0A000000u + i));
        EXPECT_LE(n, 30u);
        per_ip_sum += n;
    }
    EXPECT_EQ(per_ip_sum, 100u);
    held.clear();
    EXPECT_EQ(c->open(), 0u);
    EXPECT_EQ(c->tracked_ips(), 0u);
}

}  // namespace
}  // namespace sluice::server
