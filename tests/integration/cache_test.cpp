// The response cache through real processes: sluice-items' GET /items/{id} answers
// Cache-Control: public, max-age=60 and an ETag (?cc= and ?vary= override what it sends).
// Every CacheTest runs against the memory store and against a real redis-server ([cache]
// store = "redis"); CacheRedisTest covers what only the shared store does.

#include "fixture.hpp"
#include "support/redis_server.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

namespace sluice::test {
namespace {

namespace json = boost::json;

std::string cache_config(const backend& items, const std::string& store_block) {
    return "[server]\nworkers = 2\naccess_log = \"stderr\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"
           "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n[cache]\nmax_bytes = \"1MiB\"\n"
           "max_object_bytes = \"64KiB\"\n" +
           store_block + "\n" + upstream_block("items", {{&items, 1}}) +
           "[[route]]\nname = \"items\"\nupstream = \"items\"\ncache = true\n"
           "set_response_headers = { X-Route = \"items\" }\nremove_response_headers = [\"X-Backend\"]\n";
}

std::string redis_block(const redis_server& redis) {
    return "store = \"redis\"\n[redis]\nservers = [\"" + redis.address() + "\"]\ntimeout = \"200ms\"\n";
}

// Polls `f` until it is true or 10 s passed.
template <class F>
bool eventually(F f) {
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
        if (f()) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Shared by both suites: the backend's counters (excluding the /stats calls themselves).
class ItemsBackend {
protected:
    void start_items() {
        items = start_backend("items", "items-c");
        auto created = request(items.port, "POST", "/items", {{"Content-Type", "application/json"}},
                               R"({"name":"tea","price":3})");
        id = std::to_string(json::parse(created.body).at("id").to_number<int>());
    }
    int backend_requests() {
        ++stats_calls;
        return json::parse(get(items.port, "/stats").body).at("requests").to_number<int>() - stats_calls - 1;
    }
    int backend_not_modified() {
        ++stats_calls;
        return json::parse(get(items.port, "/stats").body).at("not_modified").to_number<int>();
    }
    backend items;
    std::string id;
    int stats_calls = 0;
};

class CacheTest : public ::testing::TestWithParam<std::string>, protected ItemsBackend {
protected:
    void SetUp() override {
        start_items();
        std::string store;
        if (GetParam() == "redis") {
            redis = std::make_unique<redis_server>();
            store = redis_block(*redis);
        }
        sluice = start_sluice(cache_config(items, store));
        admin = admin_port(sluice);
    }
    std::unique_ptr<redis_server> redis;
    proxy sluice;
    unsigned short admin = 0;
};

TEST_P(CacheTest, MissThenHitWithAgeAndCacheStatus) {
    const int before = backend_requests();
    auto miss = get(sluice.port, "/items/" + id);
    ASSERT_EQ(miss.status, 200u);
    EXPECT_EQ(miss.header("cache-status"), "sluice; fwd=uri-miss; fwd-status=200; stored");
    auto hit = get(sluice.port, "/items/" + id);
    ASSERT_EQ(hit.status, 200u);
    EXPECT_EQ(hit.body, miss.body);
    EXPECT_EQ(hit.header("cache-status").rfind("sluice; hit; ttl=", 0), 0u) << hit.header("cache-status");
    EXPECT_FALSE(hit.header("age").empty());
    EXPECT_EQ(hit.header("etag"), miss.header("etag"));  // the stored head
    EXPECT_EQ(hit.header("content-length"), std::to_string(hit.body.size()));
    // The route's response transforms apply to hits as to misses.
    EXPECT_EQ(miss.header("x-route"), "items");
    EXPECT_EQ(hit.header("x-route"), "items");
    EXPECT_EQ(miss.header("x-backend"), "");
    EXPECT_EQ(hit.header("x-backend"), "");
    EXPECT_NE(hit.header("x-request-id"), miss.header("x-request-id"));
    EXPECT_EQ(backend_requests(), before + 1) << "the hit reached the backend";
    // HEAD is answered from the GET's entry.
    connection c(sluice.port);
    auto head = c.request("HEAD", "/items/" + id);
    EXPECT_EQ(head.status, 200u);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(backend_requests(), before + 1);
}

TEST_P(CacheTest, ResponsesWithoutFreshnessAndNoStoreRequestsBypass) {
    const int before = backend_requests();
    get(sluice.port, "/items");  // no Cache-Control on the list, default_ttl 0: not stored
    auto again = get(sluice.port, "/items");
    EXPECT_EQ(again.header("cache-status").find("stored"), std::string::npos) << again.header("cache-status");
    auto bypass = get(sluice.port, "/items/" + id, {{"Cache-Control", "no-store"}});
    EXPECT_EQ(bypass.header("cache-status"), "sluice; fwd=bypass; fwd-status=200");
    EXPECT_EQ(backend_requests(), before + 3);
}

TEST_P(CacheTest, HundredConcurrentMissesMakeOneUpstreamRequest) {
    const int before = backend_requests();
    std::vector<std::future<unsigned>> clients;
    for (int i = 0; i < 100; ++i)
        clients.push_back(std::async(std::launch::async, [&] { return get(sluice.port, "/items/" + id).status; }));
    for (auto& c : clients) EXPECT_EQ(c.get(), 200u);
    EXPECT_EQ(backend_requests(), before + 1);
}

TEST_P(CacheTest, PurgeForcesAMissAndUnsafeMethodsInvalidate) {
    get(sluice.port, "/items/" + id);
    const int before = backend_requests();
    get(sluice.port, "/items/" + id);
    EXPECT_EQ(backend_requests(), before);  // hit

    // The key is built from the Host the client sent (the test client sends "127.0.0.1").
    const std::string url = "http://127.0.0.1/items/" + id;
    auto purge = request(admin, "POST", "/cache/purge?key=" + url);
    ASSERT_EQ(purge.status, 200u) << purge.body;
    EXPECT_EQ(json::parse(purge.body).at("purged").to_number<int>(), 1);
    EXPECT_EQ(get(sluice.port, "/items/" + id).header("cache-status").find("hit"), std::string::npos);
    EXPECT_EQ(backend_requests(), before + 1);

    auto by_prefix = request(admin, "POST", "/cache/purge?prefix=/items/");
    EXPECT_EQ(json::parse(by_prefix.body).at("purged").to_number<int>(), 1);
    EXPECT_EQ(request(admin, "POST", "/cache/purge").status, 400u);
    EXPECT_EQ(request(admin, "POST", "/cache/purge?key=not-a-url").status, 400u);

    // A PUT through sluice invalidates the stored GET.
    get(sluice.port, "/items/" + id);
    request(sluice.port, "PUT", "/items/" + id, {{"Content-Type", "application/json"}}, R"({"name":"green","price":4})");
    auto fresh = get(sluice.port, "/items/" + id);
    EXPECT_EQ(json::parse(fresh.body).at("name").as_string(), "green");
}

TEST_P(CacheTest, MetricsAndAccessLogCountResults) {
    get(sluice.port, "/items/" + id);
    get(sluice.port, "/items/" + id);
    ASSERT_TRUE(sluice.proc->wait_for(R"("cache":"hit")"));
    // Results are counted just after each response is written: wait (bounded) for both.
    std::string metrics;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);;) {
        metrics = get(admin, "/metrics").body;
        if (metrics.find(R"(result="miss"} 1)") != std::string::npos &&
            metrics.find(R"(result="hit"} 1)") != std::string::npos)
            break;
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_NE(metrics.find(R"(sluice_cache_requests_total{result="hit"} 1)"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find(R"(sluice_cache_requests_total{result="miss"} 1)"), std::string::npos);
}

TEST_P(CacheTest, ObjectsOverMaxObjectBytesStreamThroughUnstored) {
    // A 100 KiB name makes the item larger than max_object_bytes (64 KiB).
    auto created = request(items.port, "POST", "/items", {{"Content-Type", "application/json"}},
                           R"({"name":")" + std::string(100 * 1024, 'x') + R"(","price":1})");
    const std::string big = std::to_string(json::parse(created.body).at("id").to_number<int>());
    const int before = backend_requests();
    auto first = get(sluice.port, "/items/" + big);
    ASSERT_EQ(first.status, 200u);
    EXPECT_GT(first.body.size(), 100u * 1024);
    EXPECT_FALSE(contains(first.header("cache-status"), "stored")) << first.header("cache-status");
    auto second = get(sluice.port, "/items/" + big);
    EXPECT_EQ(second.body, first.body);
    EXPECT_FALSE(contains(second.header("cache-status"), "hit")) << second.header("cache-status");
    EXPECT_EQ(backend_requests(), before + 2);
}

TEST_P(CacheTest, StaleEntryRevalidatesWithAConditionalRequest) {
    // max-age=0 with an ETag: stored, stale at once, revalidated on every use.
    const std::string path = "/items/" + id + "?cc=public%2C%20max-age%3D0";
    auto miss = get(sluice.port, path);
    ASSERT_EQ(miss.status, 200u);
    ASSERT_TRUE(contains(miss.header("cache-status"), "stored")) << miss.header("cache-status");
    const std::string etag = miss.header("etag");
    ASSERT_FALSE(etag.empty());
    const int requests = backend_requests();
    const int not_modified = backend_not_modified();

    // The backend sees If-None-Match and answers 304 without a body; the client gets the entry, 200.
    auto revalidated = get(sluice.port, path);
    EXPECT_EQ(revalidated.status, 200u);
    EXPECT_EQ(revalidated.body, miss.body);
    EXPECT_EQ(revalidated.header("cache-status"), "sluice; fwd=stale; fwd-status=304; stored");
    EXPECT_EQ(backend_requests(), requests + 1);
    EXPECT_EQ(backend_not_modified(), not_modified + 1);

    // The client's own matching If-None-Match: 304 to the client too.
    auto conditional = get(sluice.port, path, {{"If-None-Match", etag}});
    EXPECT_EQ(conditional.status, 304u);
    EXPECT_TRUE(conditional.body.empty());
    EXPECT_EQ(backend_not_modified(), not_modified + 2);

    // A client validator that does not match still gets the full entry.
    auto other = get(sluice.port, path, {{"If-None-Match", "\"other\""}});
    EXPECT_EQ(other.status, 200u);
    EXPECT_EQ(other.body, miss.body);

    // Changed on the backend directly (no invalidation through sluice): the revalidation gets a
    // full 200 with the new representation, which replaces the entry.
    request(items.port, "PUT", "/items/" + id, {{"Content-Type", "application/json"}}, R"({"name":"oolong","price":5})");
    auto changed = get(sluice.port, path);
    EXPECT_EQ(changed.status, 200u);
    EXPECT_EQ(json::parse(changed.body).at("name").as_string(), "oolong");
    EXPECT_EQ(changed.header("cache-status"), "sluice; fwd=stale; fwd-status=200; stored");
    EXPECT_NE(changed.header("etag"), etag);
}

TEST_P(CacheTest, RequestNoCacheRevalidatesAFreshEntry) {
    auto miss = get(sluice.port, "/items/" + id);
    const int not_modified = backend_not_modified();
    auto revalidated = get(sluice.port, "/items/" + id, {{"Cache-Control", "no-cache"}});
    EXPECT_EQ(revalidated.status, 200u);
    EXPECT_EQ(revalidated.body, miss.body);
    EXPECT_EQ(revalidated.header("cache-status"), "sluice; fwd=stale; fwd-status=304; stored");
    EXPECT_EQ(backend_not_modified(), not_modified + 1);
}

TEST_P(CacheTest, StaleWhileRevalidateServesStaleAndRefreshesOnce) {
    const std::string path = "/items/" + id + "?cc=public%2C%20max-age%3D0%2C%20stale-while-revalidate%3D300";
    ASSERT_TRUE(contains(get(sluice.port, path).header("cache-status"), "stored"));
    const int requests = backend_requests();
    const int not_modified = backend_not_modified();
    auto stale = get(sluice.port, path);
    EXPECT_EQ(stale.status, 200u);
    EXPECT_TRUE(contains(stale.header("cache-status"), "sluice; hit") &&
                contains(stale.header("cache-status"), "detail=stale-while-revalidate"))
        << stale.header("cache-status");
    // The refresh happens after the answer: a conditional request the backend answers 304.
    EXPECT_TRUE(eventually([&] { return backend_not_modified() == not_modified + 1; }));
    EXPECT_EQ(backend_requests(), requests + 1);
}

TEST_P(CacheTest, StaleIfErrorServesTheStaleCopyWhileTheBackendIsDown) {
    const std::string path = "/items/" + id + "?cc=public%2C%20max-age%3D0%2C%20stale-if-error%3D300";
    auto miss = get(sluice.port, path);
    ASSERT_TRUE(contains(miss.header("cache-status"), "stored")) << miss.header("cache-status");
    // The backend answers 500: the stale copy stands in.
    auto on_500 = get(sluice.port, path, {{"X-Items-Status", "500"}});
    EXPECT_EQ(on_500.status, 200u);
    EXPECT_EQ(on_500.body, miss.body);
    EXPECT_TRUE(contains(on_500.header("cache-status"), "detail=stale-if-error")) << on_500.header("cache-status");
    // With nothing stored, the 500 is relayed.
    EXPECT_EQ(get(sluice.port, "/items/" + id + "?nothing-stored", {{"X-Items-Status", "500"}}).status, 500u);

    items.proc.reset();  // stopped by its PID: connections to it are refused from now on
    auto stale = get(sluice.port, path);
    EXPECT_EQ(stale.status, 200u);
    EXPECT_EQ(stale.body, miss.body);
    EXPECT_TRUE(contains(stale.header("cache-status"), "detail=stale-if-error")) << stale.header("cache-status");
    // Without a stale-if-error window the same failure is a 502.
    EXPECT_EQ(get(sluice.port, "/items/" + id).status, 502u);
}

TEST_P(CacheTest, VaryKeepsVariantsApart) {
    const std::string path = "/items/" + id + "?vary=Accept-Language";
    const int before = backend_requests();
    auto en = get(sluice.port, path, {{"Accept-Language", "en"}});
    EXPECT_EQ(en.header("cache-status"), "sluice; fwd=uri-miss; fwd-status=200; stored");
    auto en_again = get(sluice.port, path, {{"Accept-Language", "en"}});
    EXPECT_TRUE(contains(en_again.header("cache-status"), "sluice; hit")) << en_again.header("cache-status");
    auto fr = get(sluice.port, path, {{"Accept-Language", "fr"}});
    EXPECT_EQ(fr.header("cache-status"), "sluice; fwd=vary-miss; fwd-status=200; stored");
    auto none = get(sluice.port, path);
    EXPECT_EQ(none.header("cache-status"), "sluice; fwd=vary-miss; fwd-status=200; stored");
    EXPECT_TRUE(contains(get(sluice.port, path, {{"Accept-Language", "fr"}}).header("cache-status"), "sluice; hit"));
    EXPECT_TRUE(contains(get(sluice.port, path, {{"Accept-Language", "en"}}).header("cache-status"), "sluice; hit"));
    EXPECT_EQ(backend_requests(), before + 3);
    // Purging the URL drops every variant.
    auto purge = request(admin, "POST", "/cache/purge?key=http://127.0.0.1" + path);
    ASSERT_EQ(purge.status, 200u) << purge.body;
    EXPECT_EQ(json::parse(purge.body).at("purged").to_number<int>(), 3);
    EXPECT_FALSE(contains(get(sluice.port, path, {{"Accept-Language", "fr"}}).header("cache-status"), "hit"));
}

INSTANTIATE_TEST_SUITE_P(Stores, CacheTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// A TCP server on 127.0.0.1 (kernel-chosen port) that accepts connections and never answers:
// a Redis that hangs. Its sockets are closed when it is destroyed.
class silent_server {
public:
    silent_server() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("silent_server: cannot listen");
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] {
            for (;;) {
                const int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;  // shut down
                std::lock_guard lock(mutex_);
                clients_.push_back(c);
            }
        });
    }
    ~silent_server() {
        ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
        thread_.join();
        ::close(fd_);
        for (int c : clients_) ::close(c);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int fd_ = -1;
    unsigned short port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<int> clients_;
};

// What only the shared store does: several processes, Redis failures.
class CacheRedisTest : public ::testing::Test, protected ItemsBackend {
protected:
    void SetUp() override { start_items(); }
    redis_server redis;
};

TEST_F(CacheRedisTest, AMissOnOneProcessIsAHitOnAnother) {
    auto a = start_sluice(cache_config(items, redis_block(redis)));
    auto b = start_sluice(cache_config(items, redis_block(redis)));
    const int before = backend_requests();
    auto miss = get(a.port, "/items/" + id);
    EXPECT_EQ(miss.header("cache-status"), "sluice; fwd=uri-miss; fwd-status=200; stored");
    auto hit = get(b.port, "/items/" + id);
    EXPECT_TRUE(contains(hit.header("cache-status"), "sluice; hit")) << hit.header("cache-status");
    EXPECT_EQ(hit.body, miss.body);
    EXPECT_EQ(backend_requests(), before + 1);
    // A purge through one process's admin listener is seen by the other.
    auto purge = request(admin_port(a), "POST", "/cache/purge?prefix=/items/");
    EXPECT_EQ(json::parse(purge.body).at("purged").to_number<int>(), 1);
    EXPECT_FALSE(contains(get(b.port, "/items/" + id).header("cache-status"), "hit"));
    EXPECT_EQ(backend_requests(), before + 2);
}

TEST_F(CacheRedisTest, RedisDownMeansBypassNotErrors) {
    auto p = start_sluice(cache_config(items, redis_block(redis)));
    const auto admin = admin_port(p);
    ASSERT_TRUE(contains(get(p.port, "/items/" + id).header("cache-status"), "stored"));
    const unsigned short redis_port = redis.port();
    redis.kill();
    const int before = backend_requests();
    for (int i = 0; i < 5; ++i) {
        auto r = get(p.port, "/items/" + id);
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.header("cache-status"), "sluice; fwd=bypass; fwd-status=200; detail=store-unavailable");
    }
    EXPECT_EQ(backend_requests(), before + 5);
    // only-if-cached cannot be served from a store that does not answer: 504, nothing forwarded.
    EXPECT_EQ(get(p.port, "/items/" + id, {{"Cache-Control", "only-if-cached"}}).status, 504u);
    EXPECT_EQ(backend_requests(), before + 5);
    std::string metrics;
    EXPECT_TRUE(eventually([&] {
        metrics = get(admin, "/metrics").body;
        return sample(metrics, R"(sluice_cache_requests_total{result="bypass"})") >= 5;
    })) << metrics;
    EXPECT_GE(sample(metrics, R"(sluice_cache_store_errors_total{op="lookup"})"), 5) << metrics;
    EXPECT_EQ(request(admin, "POST", "/cache/purge?prefix=/").status, 503u);

    // Redis back on the same port: the cache works again once the pools (one per worker) have
    // reconnected.
    redis_server again(redis_port);
    EXPECT_TRUE(eventually([&] { return contains(get(p.port, "/items/" + id).header("cache-status"), "stored"); }));
    EXPECT_TRUE(eventually([&] { return contains(get(p.port, "/items/" + id).header("cache-status"), "sluice; hit"); }));
}

TEST_F(CacheRedisTest, ARedisThatDoesNotAnswerTimesOutIntoBypass) {
    silent_server hung;
    auto p = start_sluice(cache_config(
        items, "store = \"redis\"\n[redis]\nservers = [\"" + hung.address() + "\"]\ntimeout = \"100ms\"\n"));
    const auto admin = admin_port(p);
    const int before = backend_requests();
    for (int i = 0; i < 3; ++i) {
        auto r = get(p.port, "/items/" + id);
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.header("cache-status"), "sluice; fwd=bypass; fwd-status=200; detail=store-unavailable");
    }
    EXPECT_EQ(backend_requests(), before + 3);
    std::string metrics;
    EXPECT_TRUE(eventually([&] {
        metrics = get(admin, "/metrics").body;
        return sample(metrics, R"(sluice_cache_store_errors_total{op="lookup"})") >= 3;
    })) << metrics;
}

}  // namespace
}  // namespace sluice::test
