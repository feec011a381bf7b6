// cache::redis_store against real redis-servers (kernel-chosen ports): entries round-trip with a
// TTL, Vary variants, purge by key and by prefix, keys placed by the ring over several servers,
// corrupt values read as misses, an unreachable server reported as a failure (not a miss).

#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "cache/redis_store.hpp"
#include "redis/client.hpp"
#include "redis/pool.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <string>
#include <vector>

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using cache::redis_store;

// Runs the coroutine `body(ioc)` on a fresh io_context until it returns (at most 60 s).
template <class Body>
void run(Body body) {
    asio::io_context ioc;
    bool finished = false;
    std::exception_ptr failure;
    asio::co_spawn(ioc, body(ioc), [&](std::exception_ptr e) {
        finished = true;
        failure = e;
        ioc.stop();
    });
    asio::steady_timer guard(ioc, 60s);
    guard.async_wait([&](boost::system::error_code ec) {
        if (!ec) ioc.stop();
    });
    ioc.run();
    EXPECT_TRUE(finished) << "the test coroutine did not finish within 60 s";
    if (failure) std::rethrow_exception(failure);
}

redis::pool_options options() {
    redis::pool_options o;
    o.timeout = 2s;  // generous: two shared cores
    o.connections = 2;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

bool failed(const std::optional<std::string>& error) { return error.has_value(); }

cache::time_point now() { return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()); }

std::shared_ptr<cache::entry> make(std::string body, std::vector<std::string> vary = {},
                                   const cache::header_list& request = {}) {
    auto e = std::make_shared<cache::entry>();
    e->status = 200;
    e->headers = {{"Content-Type", "text/plain"}, {"ETag", "\"v1\""}};
    e->body = std::move(body);
    e->request_time = e->response_time = now();
    e->fresh.lifetime = 60s;
    e->etag = "\"v1\"";
    e->vary = std::move(vary);
    e->secondary = cache::secondary_key(e->vary, request);
    return e;
}

TEST(RedisStore, EntriesRoundTripWithTheirTtl) {
    redis_server server;
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::client client(ioc.get_executor(), {server.address()}, options());
        EXPECT_TRUE(co_await client.wait_ready(5s));
        redis_store store(client);
        const std::string key = "http://example.com/a?x=1";
        const cache::header_list request;
        auto miss = co_await store.lookup(key, request);
        EXPECT_FALSE(miss.failed);
        EXPECT_FALSE(miss.found);

        auto e = make(std::string("binary\0body", 11));
        EXPECT_FALSE(failed(co_await store.insert(key, e, now())));
        auto hit = co_await store.lookup(key, request);
        EXPECT_FALSE(hit.failed);
        EXPECT_TRUE(hit.found);
        if (!hit.found) co_return;
        EXPECT_EQ(*hit.found, *e);

        // EX store_ttl: freshness (60 s) plus the revalidation allowance (at least 300 s).
        auto ttl = co_await client.execute(redis_store::entry_key(key), "TTL", redis_store::entry_key(key));
        EXPECT_TRUE(ttl.ok());
        EXPECT_GT(ttl->integer, 300);
        EXPECT_LE(ttl->integer, cache::store_ttl(*e, now()).count());

        // A value that is not an entry (corrupt, another version) is a miss, not a failure.
        co_await client.execute(redis_store::entry_key(key), "SET", redis_store::entry_key(key), "garbage");
        auto corrupt = co_await store.lookup(key, request);
        EXPECT_FALSE(corrupt.failed);
        EXPECT_FALSE(corrupt.found);
        client.stop();
    });
}

TEST(RedisStore, VariantsPurgeByKeyAndPrefix) {
    redis_server server;
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::client client(ioc.get_executor(), {server.address()}, options());
        EXPECT_TRUE(co_await client.wait_ready(5s));
        redis_store store(client);
        const std::string key = "http://example.com/items/1";
        const std::vector<std::string> names{"accept-language"};
        const cache::header_list en{{"Accept-Language", "en"}}, fr{{"Accept-Language", "fr"}},
            de{{"Accept-Language", "de"}};
        EXPECT_FALSE(failed(co_await store.insert(key, make("english", names, en), now())));
        EXPECT_FALSE(failed(co_await store.insert(key, make("french", names, fr), now())));
        auto got_en = co_await store.lookup(key, en);
        EXPECT_TRUE(got_en.found);
        if (!got_en.found) co_return;
        EXPECT_EQ(got_en.found->body, "english");
        auto got_fr = co_await store.lookup(key, fr);
        EXPECT_TRUE(got_fr.found);
        if (!got_fr.found) co_return;
        EXPECT_EQ(got_fr.found->body, "french");
        auto got_de = co_await store.lookup(key, de);
        EXPECT_FALSE(got_de.found);
        EXPECT_TRUE(got_de.vary_miss);

        // Another resource, and one on another host: a path prefix matches every host.
        EXPECT_FALSE(failed(co_await store.insert("http://example.com/items/2", make("two"), now())));
        EXPECT_FALSE(failed(co_await store.insert("http://other.example/items/3", make("three"), now())));
        EXPECT_FALSE(failed(co_await store.insert("http://example.com/users/1", make("user"), now())));

        auto by_key = co_await store.erase(key);
        EXPECT_FALSE(by_key.error.has_value());
        EXPECT_EQ(by_key.erased, 2u);  // both variants
        EXPECT_FALSE((co_await store.lookup(key, en)).found);

        // Glob characters in a prefix are literal.
        auto literal = co_await store.erase_prefix("/items*");
        EXPECT_EQ(literal.erased, 0u);
        auto by_url = co_await store.erase_prefix("http://other.example/");
        EXPECT_EQ(by_url.erased, 1u);
        auto by_path = co_await store.erase_prefix("/items/");
        EXPECT_FALSE(by_path.error.has_value());
        EXPECT_EQ(by_path.erased, 1u);
        EXPECT_TRUE((co_await store.lookup("http://example.com/users/1", cache::header_list{})).found);
        client.stop();
    });
}

TEST(RedisStore, ChangedVaryNamesDropTheOldVariants) {
    redis_server server;
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::client client(ioc.get_executor(), {server.address()}, options());
        EXPECT_TRUE(co_await client.wait_ready(5s));
        redis_store store(client);
        const std::string key = "http://example.com/v";
        const std::vector<std::string> names{"accept-language"};
        const cache::header_list en{{"Accept-Language", "en"}};
        auto variant = make("english", names, en);
        EXPECT_FALSE(failed(co_await store.insert(key, variant, now())));
        const std::string variant_key = redis_store::entry_key(key, variant->secondary);
        EXPECT_EQ((co_await client.execute(key, "EXISTS", variant_key))->integer, 1);
        // The resource stops varying: its variants go, the new entry answers every request.
        EXPECT_FALSE(failed(co_await store.insert(key, make("plain"), now())));
        EXPECT_EQ((co_await client.execute(key, "EXISTS", variant_key))->integer, 0);
        auto got = co_await store.lookup(key, en);
        EXPECT_TRUE(got.found);
        if (!got.found) co_return;
        EXPECT_EQ(got.found->body, "plain");
        // And varies again: the plain entry goes.
        EXPECT_FALSE(failed(co_await store.insert(key, make("english", names, en), now())));
        EXPECT_EQ((co_await client.execute(key, "EXISTS", redis_store::entry_key(key)))->integer, 0);
        EXPECT_EQ((co_await store.erase(key)).erased, 1u);
        EXPECT_EQ((co_await client.execute(key, "DBSIZE"))->integer, 0);  // v: and i: went too
        client.stop();
    });
}

TEST(RedisStore, KeysArePlacedByTheRingOverSeveralServers) {
    redis_server a, b;
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::client client(ioc.get_executor(), {a.address(), b.address()}, options());
        EXPECT_TRUE(co_await client.wait_ready(5s));
        redis_store store(client);
        int on[2] = {0, 0};
        for (int i = 0; i < 40; ++i) {
            const std::string key = "http://example.com/r/" + std::to_string(i);
            EXPECT_FALSE(failed(co_await store.insert(key, make("x"), now())));
            const std::size_t owner = client.shard_of(key);
            ++on[owner];
            // The entry is on the server the ring picks for its primary key, and only there.
            for (std::size_t s = 0; s < 2; ++s) {
                auto exists = co_await client.shard(s).execute("EXISTS", redis_store::entry_key(key));
                EXPECT_TRUE(exists.ok());
                EXPECT_EQ(exists->integer, s == owner ? 1 : 0) << key << " on server " << s;
            }
            EXPECT_TRUE((co_await store.lookup(key, cache::header_list{})).found);
        }
        EXPECT_GT(on[0], 0);
        EXPECT_GT(on[1], 0);
        auto purged = co_await store.erase_prefix("/r/");
        EXPECT_EQ(purged.erased, 40u);
        client.stop();
    });
}

TEST(RedisStore, AnUnreachableServerIsAFailureNotAMiss) {
    const unsigned short port = closed_port();
    run([&](asio::io_context& ioc) -> asio::awaitable<void> {
        redis::client client(ioc.get_executor(), {"127.0.0.1:" + std::to_string(port)}, options());
        redis_store store(client);
        auto r = co_await store.lookup("http://example.com/", cache::header_list{});
        EXPECT_TRUE(r.failed);
        EXPECT_FALSE(r.found);
        EXPECT_TRUE(failed(co_await store.insert("http://example.com/", make("x"), now())));
        EXPECT_TRUE((co_await store.erase_prefix("/")).error.has_value());
        client.stop();
    });
}

}  // namespace
}  // namespace sluice::test
