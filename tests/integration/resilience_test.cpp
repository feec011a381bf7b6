// Upstream resilience through real processes: consistent hashing, retries and their limits,
// outlier ejection, circuit breakers, rate limits (local and shared through a real redis-server).

#include "fixture.hpp"
#include "support/redis_server.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <future>
#include <map>
#include <set>
#include <thread>

namespace sluice::test {
namespace {

namespace json = boost::json;

int backend_requests(const backend& b) {
    return json::parse(get(b.port, "/stats").body).at("requests").to_number<int>() - 1;  // minus this /stats
}

// Waits (bounded) until `b` has seen `n` requests besides our polls: one is then in flight there.
void wait_requests(const backend& b, int n) {
    int polls = 0;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
        ++polls;
        if (json::parse(get(b.port, "/stats").body).at("requests").to_number<int>() - polls >= n) return;
        if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("request never reached the backend");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

TEST(BalancingTest, SameHashKeyAlwaysReachesTheSameBackend) {
    backend a = start_backend("echo", "hash-a"), b = start_backend("echo", "hash-b"), c = start_backend("echo", "hash-c");
    auto p = start_sluice(server_block() +
                          upstream_block("e", {{&a, 1}, {&b, 1}, {&c, 1}},
                                         "balance = \"consistent_hash\"\nhash_key = \"header:X-User\"") +
                          "[[route]]\nupstream = \"e\"\n");
    std::map<std::string, std::string> owner;
    std::set<std::string> used;
    connection conn(p.port);
    for (int i = 0; i < 1000; ++i) {
        const std::string user = "user-" + std::to_string(i % 20);
        auto r = conn.request("GET", "/echo", {{"X-User", user}});
        ASSERT_EQ(r.status, 200u);
        const auto backend_name = r.header("x-backend");
        auto [it, fresh] = owner.emplace(user, backend_name);
        ASSERT_EQ(it->second, backend_name) << user << " moved";
        used.insert(backend_name);
    }
    EXPECT_GE(used.size(), 2u) << "20 users all hashed to one of three servers";
}

class RetryTest : public ::testing::Test {
protected:
    void SetUp() override {
        ga = start_backend("echo", "get-a");
        gb = start_backend("echo", "get-b");
        pa = start_backend("echo", "post-a");
        pb = start_backend("echo", "post-b");
        const std::string policy =
            "retries = { attempts = 3, on = [\"connect-failure\", \"reset\", \"timeout\"], budget_percent = 100 }\n"
            "outlier = { consecutive_failures = 1, base_ejection = \"30s\" }\n";
        sluice = start_sluice(server_block() + upstream_block("g", {{&ga, 1}, {&gb, 1}}, policy) +
                              upstream_block("p", {{&pa, 1}, {&pb, 1}}, policy) +
                              "[[route]]\nmatch = { path_prefix = \"/delay\", method = \"POST\" }\nupstream = \"p\"\n\n"
                              "[[route]]\nupstream = \"g\"\n");
    }
    backend ga, gb, pa, pb;
    proxy sluice;
};

TEST_F(RetryTest, GetIsRetriedElsewhereWhenItsServerDiesMidRequest) {
    // Round-robin starts at the first server: the request lands on get-a, which then dies.
    auto pending = std::async(std::launch::async, [&] { return get(sluice.port, "/delay/1000"); });
    wait_requests(ga, 1);
    ga.proc->signal(SIGKILL);
    const auto r = pending.get();
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("x-backend"), "get-b");
}

TEST_F(RetryTest, PostWithASentBodyIsNotRetried) {
    auto pending = std::async(std::launch::async, [&] {
        return request(sluice.port, "POST", "/delay/1000", {{"Content-Type", "text/plain"}}, "not idempotent");
    });
    wait_requests(pa, 1);
    pa.proc->signal(SIGKILL);
    const auto r = pending.get();
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(backend_requests(pb), 0) << "the POST was replayed on another server";
}

TEST_F(RetryTest, KilledBackendUnderLoadCostsNoClientError) {
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::thread client([&] {
        connection c(sluice.port);
        while (!stop) {
            try {
                (c.request("GET", "/echo").status == 200 ? ok : failed)++;
            } catch (const std::exception&) {
                failed++;
                return;
            }
        }
    });
    while (ok < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    gb.proc->signal(SIGKILL);
    const int at_kill = ok;
    while (ok < at_kill + 200 && failed == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop = true;
    client.join();
    EXPECT_EQ(failed.load(), 0);
    // After the first failure the dead server is ejected: everything goes to get-a.
    const auto r = get(sluice.port, "/echo");
    EXPECT_EQ(r.header("x-backend"), "get-a");
}

TEST(RetryStatusTest, LastServerAnswerIsRelayedNotReplacedBy503) {
    backend e = start_backend("echo", "only");
    auto p = start_sluice(server_block() +
                          upstream_block("e", {{&e, 1}}, "retries = { attempts = 3, on = [\"500\"] }\n"
                                                        "outlier = { consecutive_failures = 0 }") +
                          "[[route]]\nupstream = \"e\"\n");
    auto r = get(p.port, "/status/500");
    EXPECT_EQ(r.status, 500u) << r.body;
    EXPECT_EQ(r.header("x-backend"), "only");
}

TEST(BreakerTest, OpensAfterThresholdThenOneProbeClosesIt) {
    backend e = start_backend("echo", "flaky");
    auto p = start_sluice(
        "[server]\nworkers = 1\naccess_log = \"off\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"
        "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n" +
        upstream_block("e", {{&e, 1}},
                       "circuit_breaker = { failure_threshold = 3, recovery_timeout = \"400ms\", half_open_requests = 1 }\n"
                       "retries = { attempts = 1 }\noutlier = { consecutive_failures = 0 }\n") +
        "[[route]]\nupstream = \"e\"\n");
    const auto admin = admin_port(p);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(get(p.port, "/status/500").status, 500u);  // relayed, counted
    const int seen = backend_requests(e);
    auto r = get(p.port, "/echo");
    EXPECT_EQ(r.status, 503u);
    const auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("error").as_string(), "circuit_open");
    EXPECT_EQ(body.at("upstream").as_string(), "e");
    EXPECT_EQ(backend_requests(e), seen + 1) << "a request reached the server through an open circuit";
    const std::string state = R"(sluice_circuit_state{server=")" + e.address() + R"(",upstream="e"})";
    EXPECT_EQ(sample(get(admin, "/metrics").body, state), 2);
    EXPECT_TRUE(p.proc->wait_for("circuit closed -> open"));
    // After recovery_timeout a probe goes through; its success closes the circuit.
    unsigned status = 0;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         status != 200 && std::chrono::steady_clock::now() < deadline;) {
        status = get(p.port, "/echo").status;
        if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(status, 200u);
    EXPECT_EQ(sample(get(admin, "/metrics").body, state), 0);
    EXPECT_TRUE(p.proc->wait_for("circuit half-open -> closed"));
}

std::string limited_config(const backend& e, const std::string& policy, const std::string& extra = {}) {
    return "[server]\nworkers = 2\naccess_log = \"off\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"
           "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n" + extra +
           upstream_block("e", {{&e, 1}}) + "[rate_limit.per_client]\n" + policy +
           "\n[[route]]\nupstream = \"e\"\nrate_limit = \"per_client\"\n";
}

TEST(RateLimitTest, ClientOverItsLimitGets429WhileAnotherIsServed) {
    backend e = start_backend("echo", "rl");
    auto p = start_sluice(limited_config(e, "key = \"header:X-Client\"\nlimits = [\"5/minute\"]\n"));
    const auto admin = admin_port(p);
    for (int i = 0; i < 5; ++i) {
        auto r = get(p.port, "/echo", {{"X-Client", "alice"}});
        ASSERT_EQ(r.status, 200u) << i;
        EXPECT_EQ(r.header("ratelimit").rfind("\"5/minute\";r=" + std::to_string(4 - i) + ";t=", 0), 0u)
            << r.header("ratelimit");
    }
    auto limited = get(p.port, "/echo", {{"X-Client", "alice"}});
    EXPECT_EQ(limited.status, 429u);
    EXPECT_EQ(json::parse(limited.body).at("error").as_string(), "rate_limited");
    EXPECT_EQ(limited.header("ratelimit-policy"), "\"5/minute\";q=5;w=60");
    EXPECT_NE(limited.header("ratelimit").find(";r=0;"), std::string::npos) << limited.header("ratelimit");
    const int retry_after = std::stoi(limited.header("retry-after"));
    EXPECT_GE(retry_after, 1);
    EXPECT_LE(retry_after, 12);
    EXPECT_EQ(get(p.port, "/echo", {{"X-Client", "bob"}}).status, 200u);
    EXPECT_EQ(sample(get(admin, "/metrics").body, R"(sluice_ratelimit_rejected_total{limit="per_client 5/minute"})"), 1);
}

TEST(RateLimitTest, TwoProxiesShareOneLimitThroughRedisAndFailOpenWithoutIt) {
    redis_server redis;
    backend e = start_backend("echo", "rl-shared");
    const std::string redis_block = "[redis]\nservers = [\"" + redis.address() + "\"]\ntimeout = \"200ms\"\n\n";
    const std::string policy = "key = \"route\"\nlimits = [\"10/minute\"]\nstore = \"redis\"\n";
    auto p1 = start_sluice(limited_config(e, policy, redis_block));
    auto p2 = start_sluice(limited_config(e, policy, redis_block));
    int allowed = 0, rejected = 0;
    for (int i = 0; i < 30; ++i) {
        const auto status = get(i % 2 ? p1.port : p2.port, "/echo").status;
        ASSERT_TRUE(status == 200 || status == 429) << status;
        (status == 200 ? allowed : rejected)++;
    }
    EXPECT_EQ(allowed, 10);
    EXPECT_EQ(rejected, 20);

    redis.kill();
    for (int i = 0; i < 10; ++i) EXPECT_EQ(get(i % 2 ? p1.port : p2.port, "/echo").status, 200u) << "not failing open";
    const auto metrics = get(admin_port(p1), "/metrics").body;
    EXPECT_GE(sample(metrics, R"(sluice_ratelimit_redis_errors_total{limit="per_client"})"), 1);
    EXPECT_TRUE(p1.proc->wait_for("redis error"));
}

}  // namespace
}  // namespace sluice::test
