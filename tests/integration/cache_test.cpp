// The response cache through real processes: sluice-items' GET /items/{id} answers
// Cache-Control: public, max-age=60.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <future>
#include <thread>

namespace sluice::test {
namespace {

namespace json = boost::json;

class CacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        items = start_backend("items", "items-c");
        sluice = start_sluice("[server]\nworkers = 2\naccess_log = \"stderr\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"
                              "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n[cache]\nmax_bytes = \"1MiB\"\n"
                              "max_object_bytes = \"64KiB\"\n\n" +
                              upstream_block("items", {{&items, 1}}) +
                              "[[route]]\nname = \"items\"\nupstream = \"items\"\ncache = true\n");
        auto m = sluice.proc->wait_for(R"(admin on 127\.0\.0\.1:(\d+))");
        admin = static_cast<unsigned short>(std::stoi((*m)[1]));
        auto created = request(items.port, "POST", "/items", {{"Content-Type", "application/json"}},
                               R"({"name":"tea","price":3})");
        id = std::to_string(json::parse(created.body).at("id").to_number<int>());
    }
    int backend_requests() {
        ++stats_calls;
        return json::parse(get(items.port, "/stats").body).at("requests").to_number<int>() - stats_calls - 1;
    }
    backend items;
    proxy sluice;
    unsigned short admin = 0;
    std::string id;
    int stats_calls = 0;
};

TEST_F(CacheTest, MissThenHitWithAgeAndCacheStatus) {
    const int before = backend_requests();
    auto miss = get(sluice.port, "/items/" + id);
    ASSERT_EQ(miss.status, 200u);
    EXPECT_EQ(miss.header("cache-status"), "sluice; fwd=uri-miss; fwd-status=200; stored");
    auto hit = get(sluice.port, "/items/" + id);
    ASSERT_EQ(hit.status, 200u);
    EXPECT_EQ(hit.body, miss.body);
    EXPECT_EQ(hit.header("cache-status").rfind("sluice; hit", 0), 0u) << hit.header("cache-status");
    EXPECT_FALSE(hit.header("age").empty());
    EXPECT_EQ(hit.header("x-backend"), "items-c");  // the stored head
    EXPECT_NE(hit.header("x-request-id"), miss.header("x-request-id"));
    EXPECT_EQ(backend_requests(), before + 1) << "the hit reached the backend";
    // HEAD is answered from the GET's entry.
    connection c(sluice.port);
    auto head = c.request("HEAD", "/items/" + id);
    EXPECT_EQ(head.status, 200u);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(backend_requests(), before + 1);
}

TEST_F(CacheTest, ResponsesWithoutFreshnessAndNoStoreRequestsBypass) {
    const int before = backend_requests();
    get(sluice.port, "/items");  // no Cache-Control on the list, default_ttl 0: not stored
    auto again = get(sluice.port, "/items");
    EXPECT_EQ(again.header("cache-status").find("stored"), std::string::npos) << again.header("cache-status");
    auto bypass = get(sluice.port, "/items/" + id, {{"Cache-Control", "no-store"}});
    EXPECT_EQ(bypass.header("cache-status"), "sluice; fwd=bypass; fwd-status=200");
    EXPECT_EQ(backend_requests(), before + 3);
}

TEST_F(CacheTest, HundredConcurrentMissesMakeOneUpstreamRequest) {
    const int before = backend_requests();
    std::vector<std::future<unsigned>> clients;
    for (int i = 0; i < 100; ++i)
        clients.push_back(std::async(std::launch::async, [&] { return get(sluice.port, "/items/" + id).status; }));
    for (auto& c : clients) EXPECT_EQ(c.get(), 200u);
    EXPECT_EQ(backend_requests(), before + 1);
}

TEST_F(CacheTest, PurgeForcesAMissAndUnsafeMethodsInvalidate) {
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

TEST_F(CacheTest, MetricsAndAccessLogCountResults) {
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

}  // namespace
}  // namespace sluice::test
