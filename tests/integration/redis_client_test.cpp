// The Redis client against a real redis-server (started per test on a kernel-chosen port) and
// against in-test fake servers that never answer or answer garbage: values, nil, integers,
// arrays, error replies, pipelining under concurrency, EVALSHA with NOSCRIPT fallback,
// timeouts, protocol errors, a server killed and restarted, several servers on a ring.

#include "redis/client.hpp"
#include "redis/pool.hpp"
#include "redis/ring.hpp"
#include "redis/script.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <numeric>
#include <string>
#include <vector>

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using redis::errc;
using kind = redis::reply::type;
constexpr auto token = asio::as_tuple(asio::use_awaitable);

// Runs the coroutine `body(ioc)` on a fresh io_context until it returns (at most 60 s).
template <class Body>
void run(Body body) {
    asio::io_context ioc;
    bool finished = false;
    std::exception_ptr failure;
    asio::co_spawn(ioc, body(ioc), [&](std::exception_ptr e) {
        finished = true;
        failure = e;
        ioc.stop();  // background loops (fake servers, supervisors of pools still alive) end here
    });
    asio::steady_timer guard(ioc, 60s);
    guard.async_wait([&](boost::system::error_code ec) {
        if (!ec) ioc.stop();
    });
    ioc.run();
    EXPECT_TRUE(finished) << "the test coroutine did not finish within 60 s";
    if (failure) std::rethrow_exception(failure);
}

redis::endpoint local(unsigned short port) { return redis::endpoint{"127.0.0.1", port}; }

redis::pool_options options(std::chrono::milliseconds timeout = 2s) {
    redis::pool_options o;
    o.timeout = timeout;  // generous: two shared cores; timeouts are tested on fake servers
    o.connections = 2;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

// A TCP server inside the test's io_context on 127.0.0.1:0 that reads requests and never
// answers (silent) or answers each read with bytes that are not RESP (garbage).
enum class fake { silent, garbage };

asio::awaitable<void> fake_session(tcp::socket s, fake mode) {
    std::array<char, 4096> buf;
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), token);
        if (ec) co_return;
        if (mode == fake::garbage) {
            static constexpr std::string_view junk = "?this is not RESP\r\n";
            auto [wec, w] = co_await asio::async_write(s, asio::buffer(junk), token);
            if (wec) co_return;
        }
    }
}

asio::awaitable<void> fake_accept(std::shared_ptr<tcp::acceptor> acceptor, fake mode) {
    for (;;) {
        auto [ec, s] = co_await acceptor->async_accept(token);
        if (ec) co_return;
        asio::co_spawn(acceptor->get_executor(), fake_session(std::move(s), mode), asio::detached);
    }
}

unsigned short start_fake(asio::io_context& ioc, fake mode) {
    auto acceptor = std::make_shared<tcp::acceptor>(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    asio::co_spawn(ioc, fake_accept(acceptor, mode), asio::detached);
    return acceptor->local_endpoint().port();
}

class RedisClientTest : public ::testing::Test {
protected:
    redis_server server;
};

TEST_F(RedisClientTest, BinaryValuesRoundTripAndNilDiffersFromEmpty) {
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::pool p(ioc.get_executor(), local(server.port()), options());
        const std::string value("a\0b\r\n\xff\x00z", 8);

        auto set = co_await p.execute("SET", "bin", value);
        EXPECT_TRUE(set.ok());
        if (set) {
            EXPECT_EQ(set->kind, kind::status);
            EXPECT_EQ(set->str, "OK");
        }
        auto get = co_await p.execute("GET", "bin");
        EXPECT_TRUE(get && get->is_string());
        if (get) {
            EXPECT_EQ(get->str, value);
        }

        EXPECT_TRUE((co_await p.execute("SET", "empty", "")).ok());
        auto empty = co_await p.execute("GET", "empty");
        EXPECT_TRUE(empty && empty->is_string() && empty->str.empty());

        auto missing = co_await p.execute("GET", "missing");
        EXPECT_TRUE(missing && missing->is_nil());

        // Larger than the read buffer: the reply is assembled from many reads.
        std::string big(1 << 20, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 256);
        EXPECT_TRUE((co_await p.execute("SET", "big", big)).ok());
        auto got_big = co_await p.execute("GET", "big");
        EXPECT_TRUE(got_big && got_big->str == big);
    });
}

TEST_F(RedisClientTest, IntegersArraysAndNestedArrays) {
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::pool p(ioc.get_executor(), local(server.port()), options());
        auto one = co_await p.execute("INCR", "n");
        EXPECT_TRUE(one && one->is_integer() && one->integer == 1);
        auto big = co_await p.execute("INCRBY", "n", "41");
        EXPECT_TRUE(big && big->integer == 42);

        co_await p.execute("SET", "a", "1");
        co_await p.execute("SET", "b", "2");
        auto m = co_await p.execute("MGET", "a", "nothing", "b");
        EXPECT_TRUE(m && m->is_array());
        if (m && m->elements.size() == 3) {
            EXPECT_EQ(m->elements[0].str, "1");
            EXPECT_TRUE(m->elements[1].is_nil());
            EXPECT_EQ(m->elements[2].str, "2");
        } else {
            ADD_FAILURE() << "MGET: expected 3 elements";
        }

        auto none = co_await p.execute("LRANGE", "nolist", "0", "-1");
        EXPECT_TRUE(none && none->is_array() && none->elements.empty());  // empty array, not nil

        auto nested = co_await p.execute("EVAL", "return {1, {'two', {3}}, false}", "0");
        EXPECT_TRUE(nested && nested->is_array());
        if (nested && nested->elements.size() == 3) {
            const auto& e = nested->elements;
            EXPECT_EQ(e[0].integer, 1);
            EXPECT_TRUE(e[1].is_array() && e[1].elements.size() == 2);
            if (e[1].elements.size() == 2) {
                EXPECT_EQ(e[1].elements[0].str, "two");
                EXPECT_TRUE(e[1].elements[1].is_array() && e[1].elements[1].elements.size() == 1);
                if (e[1].elements[1].elements.size() == 1) {
                    EXPECT_EQ(e[1].elements[1].elements[0].integer, 3);
                }
            }
            EXPECT_TRUE(e[2].is_nil());  // Lua false
        } else {
            ADD_FAILURE() << "EVAL: expected a 3-element array";
        }
    });
}

TEST_F(RedisClientTest, ErrorRepliesAreServerErrorsAndKeepTheConnection) {
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::pool p(ioc.get_executor(), local(server.port()), options());
        co_await p.execute("SET", "s", "text");

        auto not_int = co_await p.execute("INCR", "s");
        EXPECT_FALSE(not_int.ok());
        if (!not_int) {
            EXPECT_EQ(not_int.err().code, errc::server);
            EXPECT_EQ(not_int.err().prefix(), "ERR");
            EXPECT_NE(not_int.err().message.find("not an integer"), std::string::npos) << not_int.err().message;
        }
        auto wrong = co_await p.execute("LPUSH", "s", "x");
        EXPECT_TRUE(!wrong && wrong.err().code == errc::server && wrong.err().prefix() == "WRONGTYPE");
        auto unknown = co_await p.execute("NO-SUCH-COMMAND");
        EXPECT_TRUE(!unknown && unknown.err().code == errc::server);

        // A batch: the error fails its own command only; inside EXEC it is an array element.
        const std::vector<redis::command> batch{{"SET", "k", "v"},  {"INCR", "s"}, {"GET", "k"},
                                                {"MULTI"},          {"INCR", "s"}, {"SET", "k", "w"},
                                                {"EXEC"}};
        auto r = co_await p.pipeline(batch);
        EXPECT_EQ(r.size(), batch.size());
        if (r.size() == batch.size()) {
            EXPECT_TRUE(r[0].ok());
            EXPECT_TRUE(!r[1] && r[1].err().code == errc::server);
            EXPECT_TRUE(r[2] && r[2]->str == "v");
            EXPECT_TRUE(r[3] && r[3]->is_status());
            EXPECT_TRUE(r[4] && r[4]->str == "QUEUED");
            EXPECT_TRUE(r[6] && r[6]->is_array() && r[6]->elements.size() == 2);
            if (r[6] && r[6]->elements.size() == 2) {
                EXPECT_TRUE(r[6]->elements[0].is_error());
                EXPECT_TRUE(r[6]->elements[1].is_status());
            }
        }

        auto pong = co_await p.execute("PING");
        EXPECT_TRUE(pong && pong->str == "PONG");
        EXPECT_EQ(p.stats().drops, 0u);  // server errors never drop a connection
        EXPECT_EQ(p.stats().connect_attempts, 2u);
    });
}

TEST_F(RedisClientTest, ThousandConcurrentPipelinedIncrsSumExactly) {
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::pool p(ioc.get_executor(), local(server.port()), options());
        EXPECT_TRUE(co_await p.wait_ready(5s));
        constexpr int n = 1000;
        std::vector<long long> seen;
        int done = 0;
        int failed = 0;
        asio::steady_timer all_done(ioc, std::chrono::steady_clock::time_point::max());
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(
                ioc,
                [&]() -> asio::awaitable<void> {
                    auto r = co_await p.execute("INCR", "hits");
                    if (r && r->is_integer())
                        seen.push_back(r->integer);
                    else
                        ++failed;
                    if (++done == n) all_done.cancel();
                },
                asio::detached);
        }
        co_await all_done.async_wait(token);
        EXPECT_EQ(done, n);
        EXPECT_EQ(failed, 0);
        // Every caller got its own reply: the values are exactly 1..n, each once.
        std::sort(seen.begin(), seen.end());
        std::vector<long long> expected(n);
        std::iota(expected.begin(), expected.end(), 1);
        EXPECT_EQ(seen, expected);
        auto total = co_await p.execute("GET", "hits");
        EXPECT_TRUE(total && total->str == "1000");
        EXPECT_EQ(p.stats().drops, 0u);
    });
}

TEST_F(RedisClientTest, EvalshaLoadsTheScriptOnNoscriptOnce) {
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::pool p(ioc.get_executor(), local(server.port()), options());
        const redis::script incr_by("return redis.call('INCRBY', KEYS[1], ARGV[1])");
        co_await p.execute("SCRIPT", "FLUSH");
        co_await p.execute("CONFIG", "RESETSTAT");

        const std::vector<std::string_view> keys{"ctr"}, args{"5"}, none;
        auto first = co_await p.eval(incr_by, keys, args);  // NOSCRIPT -> SCRIPT LOAD + EVALSHA
        EXPECT_TRUE(first && first->integer == 5) << (first ? "" : first.err().message);
        auto again = co_await p.eval(incr_by, keys, args);  // cached by the server now
        EXPECT_TRUE(again && again->integer == 10);

        auto exists = co_await p.execute("SCRIPT", "EXISTS", incr_by.sha1());
        EXPECT_TRUE(exists && exists->elements.size() == 1 && exists->elements[0].integer == 1);
        auto stats = co_await p.execute("INFO", "commandstats");
        EXPECT_TRUE(stats.ok());
        if (stats) {
            EXPECT_NE(stats->str.find("cmdstat_script|load:calls=1,"), std::string::npos) << stats->str;
            EXPECT_NE(stats->str.find("cmdstat_evalsha:calls=3,"), std::string::npos) << stats->str;
        }

        // The server forgets it (as after a restart): loaded again, transparently.
        co_await p.execute("SCRIPT", "FLUSH");
        auto after_flush = co_await p.eval(incr_by, keys, args);
        EXPECT_TRUE(after_flush && after_flush->integer == 15);

        // Our SHA1 is the server's.
        auto loaded = co_await p.execute("SCRIPT", "LOAD", incr_by.source());
        EXPECT_TRUE(loaded && loaded->str == incr_by.sha1());

        // A script that does not compile: the SCRIPT LOAD error comes back, no endless retry.
        const redis::script broken("return (");
        auto bad = co_await p.eval(broken, none, none);
        EXPECT_TRUE(!bad && bad.err().code == errc::server) << (bad ? "ok?" : bad.err().message);
    });
}

TEST(RedisClientFailureTest, SilentServerTimesOutAndFailsEveryPendingRequest) {
    run([](asio::io_context& ioc) -> asio::awaitable<void> {
        const auto port = start_fake(ioc, fake::silent);
        redis::pool p(ioc.get_executor(), local(port), options(150ms));
        EXPECT_TRUE(co_await p.wait_ready(5s));

        auto r = co_await p.execute("PING");
        EXPECT_FALSE(r.ok());
        if (!r) {
            EXPECT_EQ(r.err().code, errc::timeout) << r.err().message;
            EXPECT_NE(r.err().message.find("connection dropped"), std::string::npos) << r.err().message;
        }
        // Several requests pending on one connection all fail with it.
        const std::vector<redis::command> batch{{"GET", "a"}, {"GET", "b"}, {"GET", "c"}};
        auto rs = co_await p.pipeline(batch);
        EXPECT_EQ(rs.size(), 3u);
        for (const auto& x : rs) EXPECT_TRUE(!x && (x.err().code == errc::timeout || x.err().code == errc::connection));
    });
}

TEST(RedisClientFailureTest, GarbageRepliesAreProtocolErrors) {
    run([](asio::io_context& ioc) -> asio::awaitable<void> {
        const auto port = start_fake(ioc, fake::garbage);
        redis::pool p(ioc.get_executor(), local(port), options(1s));
        EXPECT_TRUE(co_await p.wait_ready(5s));

        auto r = co_await p.execute("PING");
        EXPECT_FALSE(r.ok());
        if (!r) {
            EXPECT_EQ(r.err().code, errc::protocol) << r.err().message;
            EXPECT_NE(r.err().message.find("protocol error"), std::string::npos) << r.err().message;
        }
        // The connection was dropped; the pool carries on (reconnecting) and nothing crashes.
        for (int i = 0; i < 20; ++i) {
            auto again = co_await p.execute("PING");
            EXPECT_FALSE(again.ok());
        }
        EXPECT_GE(p.stats().drops + p.stats().connect_failures, 1u);
    });
}

TEST(RedisClientFailureTest, UnreachableServerFailsFastWithoutConnectStorm) {
    run([](asio::io_context& ioc) -> asio::awaitable<void> {
        auto o = options();
        o.reconnect_min = 1s;
        o.reconnect_max = 5s;
        redis::pool p(ioc.get_executor(), local(closed_port()), o);
        // The first call waits for the first connect attempt (refused at once), then fails.
        auto r = co_await p.execute("PING");
        EXPECT_TRUE(!r && r.err().code == errc::connection) << (r ? "ok?" : r.err().message);
        // Later calls fail at once, and calls never cause connects: only the supervisors do.
        for (int i = 0; i < 200; ++i) {
            auto again = co_await p.execute("PING");
            EXPECT_TRUE(!again && again.err().code == errc::connection);
        }
        EXPECT_LE(p.stats().connect_attempts, 2u * o.connections);
        EXPECT_FALSE(co_await p.wait_ready(0ms));
    });
}

TEST_F(RedisClientTest, KilledServerFailsFastThenThePoolReconnects) {
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::pool p(ioc.get_executor(), local(server.port()), options());
        EXPECT_TRUE((co_await p.execute("SET", "before", "1")).ok());

        const auto port = server.port();
        server.kill();
        // The first call may still find the connection open and see it die; either way: connection.
        for (int i = 0; i < 50; ++i) {
            auto r = co_await p.execute("GET", "before");
            EXPECT_TRUE(!r && r.err().code == errc::connection) << (r ? "ok?" : r.err().message);
        }
        EXPECT_EQ(p.connected(), 0u);

        redis_server restarted(port);  // same port: the pool's address is still right
        EXPECT_TRUE(co_await p.wait_ready(10s));
        auto set = co_await p.execute("SET", "after", "2");
        EXPECT_TRUE(set.ok()) << (set ? "" : set.err().message);
        auto before = co_await p.execute("GET", "before");
        EXPECT_TRUE(before && before->is_nil());  // a new, empty server
        auto after = co_await p.execute("GET", "after");
        EXPECT_TRUE(after && after->str == "2");
    });
}

TEST_F(RedisClientTest, StopFailsLaterCallsAndLetsTheIoContextDrain) {
    asio::io_context ioc;
    redis::pool p(ioc.get_executor(), local(server.port()), options());
    bool ran = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto pong = co_await p.execute("PING");
            EXPECT_TRUE(pong.ok());
            p.stop();
            auto r = co_await p.execute("PING");
            EXPECT_TRUE(!r && r.err().code == errc::connection);
            ran = true;
        },
        asio::detached);
    ioc.run_for(20s);  // returns early only if nothing (supervisor, reader, timer) is left
    EXPECT_TRUE(ran);
    EXPECT_TRUE(ioc.stopped()) << "stop() left work in the io_context";
}

TEST(RedisRingTest, SpreadsKeysEvenlyIndependentOfOrderAndMovesOnlyTheRemovedServersKeys) {
    const std::vector<std::string> three{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"};
    const redis::ring r(three);
    const redis::ring reversed(std::vector<std::string>(three.rbegin(), three.rend()));
    const redis::ring two({"10.0.0.1:6379", "10.0.0.2:6379"});
    constexpr int keys = 10'000;
    std::map<std::string, int> count;
    for (int i = 0; i < keys; ++i) {
        const std::string key = "ratelimit:api:" + std::to_string(i);
        const std::string& owner = r.servers()[r.pick(key)];
        ++count[owner];
        EXPECT_EQ(reversed.servers()[reversed.pick(key)], owner);
        if (owner != "10.0.0.3:6379") {
            EXPECT_EQ(two.servers()[two.pick(key)], owner) << key;  // only the removed server's keys move
        }
    }
    ASSERT_EQ(count.size(), 3u);
    for (const auto& [server, n] : count) {
        EXPECT_GT(n, keys / 3 * 3 / 4) << server;
        EXPECT_LT(n, keys / 3 * 5 / 4) << server;
    }
}

TEST(RedisShardTest, SeveralServersEachKeyAlwaysOnItsServer) {
    redis_server s0, s1, s2;
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        const std::vector<std::string> servers{s0.address(), s1.address(), s2.address()};
        redis::client c(ioc.get_executor(), servers, options());
        EXPECT_TRUE(co_await c.wait_ready(5s));

        std::vector<std::string> keys, values;
        for (int i = 0; i < 300; ++i) {
            keys.push_back(std::string("user:").append(std::to_string(i)));  // (GCC 12 -Wrestrict false positive on "lit" + string)
            values.push_back(std::string("v").append(std::to_string(i)));
        }
        for (std::size_t i = 0; i < keys.size(); ++i) {
            auto r = co_await c.execute(keys[i], "SET", keys[i], values[i]);
            EXPECT_TRUE(r.ok()) << (r ? "" : r.err().message);
        }
        long long total = 0;
        for (std::size_t s = 0; s < c.size(); ++s) {
            auto n = co_await c.shard(s).execute("DBSIZE");
            EXPECT_TRUE(n && n->integer > 0) << "server " << s << " got no keys";
            if (n) total += n->integer;
        }
        EXPECT_EQ(total, 300);
        // Each key is on the server the ring names, and only there; a second client agrees.
        redis::client other(ioc.get_executor(), servers, options());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const auto owner = c.shard_of(keys[i]);
            EXPECT_EQ(other.shard_of(keys[i]), owner);
            for (std::size_t s = 0; s < c.size(); ++s) {
                auto g = co_await c.shard(s).execute("GET", keys[i]);
                EXPECT_TRUE(g.ok());
                if (!g) continue;
                if (s == owner) {
                    EXPECT_EQ(g->str, values[i]);
                } else {
                    EXPECT_TRUE(g->is_nil()) << keys[i] << " also on server " << s;
                }
            }
        }
        // Scripts follow their first key.
        const redis::script get("return redis.call('GET', KEYS[1])");
        const std::vector<std::string_view> key7{keys[7]}, no_args;
        auto via_eval = co_await c.eval(get, key7, no_args);
        EXPECT_TRUE(via_eval && via_eval->str == values[7]);
    });
}

}  // namespace
}  // namespace sluice::test
