// Operations: admin endpoints, Prometheus metrics, hitless reload, graceful drain.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sluice::test {
namespace {

namespace json = boost::json;

bool can_connect(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string config_text(const backend& echo, const std::string& body_route_text, const std::string& extra = {}) {
    return "[server]\nworkers = 2\naccess_log = \"off\"\ndrain_timeout = \"20s\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n"
           "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n" +
           upstream_block("echo", {{&echo, 1}}) + "[[route]]\nname = \"fixed\"\nmatch = { path_exact = \"/fixed\" }\n" +
           "direct_response = { status = 200, body = \"" + body_route_text + "\" }\n\n" + extra +
           "[[route]]\nname = \"echo\"\nmatch = { path_prefix = \"/\" }\nupstream = \"echo\"\n";
}

class OpsTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-1");
        sluice = start_sluice(config_text(echo, "one"));
        admin = admin_port(sluice);
    }
    backend echo;
    proxy sluice;
    unsigned short admin = 0;
};

TEST_F(OpsTest, AdminHealthReadyConfigAndErrors) {
    EXPECT_EQ(get(admin, "/healthz").status, 200u);
    EXPECT_EQ(get(admin, "/readyz").status, 200u);
    auto cfg = get(admin, "/config");
    ASSERT_EQ(cfg.status, 200u);
    const auto doc = json::parse(cfg.body).as_object();
    EXPECT_EQ(doc.at("generation").to_number<int>(), 1);
    EXPECT_EQ(doc.at("routes").as_array().size(), 2u);
    EXPECT_EQ(doc.at("upstreams").at(0).at("servers").at(0).at("address").as_string(), echo.address());
    EXPECT_EQ(get(admin, "/nope").status, 404u);
    EXPECT_EQ(request(admin, "POST", "/healthz").status, 405u);
    connection bad(admin);
    bad.send_raw("NOT HTTP\r\n\r\n");
    EXPECT_EQ(bad.read_response().status, 400u);
    EXPECT_EQ(get(admin, "/healthz").status, 200u);
}

TEST_F(OpsTest, MetricsParseAndCountersMove) {
    const std::string ok = R"(sluice_requests_total{code="200",route="echo"})";
    const std::string nf = R"(sluice_upstream_requests_total{outcome="success",server=")" + echo.address() +
                           R"(",upstream="echo"})";
    auto before = get(admin, "/metrics");
    ASSERT_EQ(before.status, 200u);
    EXPECT_NE(before.header("content-type").find("text/plain"), std::string::npos);
    const double ok0 = std::max(0.0, sample(before.body, ok));
    const double up0 = std::max(0.0, sample(before.body, nf));
    connection c(sluice.port);
    for (int i = 0; i < 7; ++i) ASSERT_EQ(c.request("GET", "/echo").status, 200u);
    // A request is counted just after its response is written: wait (bounded) for the 7th.
    std::string after;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);;) {
        after = get(admin, "/metrics").body;
        if (sample(after, ok) >= ok0 + 7 || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(sample(after, ok), ok0 + 7);
    EXPECT_EQ(sample(after, nf), up0 + 7);
    EXPECT_GE(sample(after, R"(sluice_request_duration_seconds_count{route="echo"})"), 7);
    EXPECT_EQ(sample(after, "sluice_config_generation"), 1);
    EXPECT_EQ(sample(after, R"(sluice_connections_active{listener="http"})"), 1);
    EXPECT_EQ(sample(after, R"(sluice_upstream_healthy{server=")" + echo.address() + R"(",upstream="echo"})"), 1);
    // Every sample line is "name{labels} value" or "name value"; comments start with #.
    std::istringstream in(after);
    std::string line;
    const std::regex valid(R"(^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.eE+\-]+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (\+Inf|NaN))$)");
    while (std::getline(in, line))
        if (!line.empty()) {
            EXPECT_TRUE(std::regex_match(line, valid)) << line;
        }
}

TEST_F(OpsTest, ReloadSwapsRoutesAddsListenersAndKeepsOldOnError) {
    EXPECT_EQ(get(sluice.port, "/fixed").body, "one");
    std::ofstream(sluice.config_path) << std::regex_replace(
        config_text(echo, "two", "[[route]]\nname = \"new\"\nmatch = { path_exact = \"/new\" }\n"
                                 "direct_response = { status = 201 }\n\n"),
        std::regex("LISTEN"), "127.0.0.1:0")
                                      << "\n[[listener]]\nname = \"extra\"\nlisten = \"127.0.0.1:0\"\n";
    sluice.proc->signal(SIGHUP);
    ASSERT_TRUE(sluice.proc->wait_for("generation 2"));
    EXPECT_EQ(get(sluice.port, "/fixed").body, "two");
    EXPECT_EQ(get(sluice.port, "/new").status, 201u);
    auto extra = sluice.proc->wait_for(R"(reload: listener "extra" on 127\.0\.0\.1:(\d+))");
    ASSERT_TRUE(extra);
    EXPECT_EQ(get(static_cast<unsigned short>(std::stoi((*extra)[1])), "/fixed").body, "two");
    EXPECT_EQ(json::parse(get(admin, "/config").body).at("generation").to_number<int>(), 2);

    std::ofstream(sluice.config_path) << "[server]\nworkers = 2\nbogus = 1\n";
    sluice.proc->signal(SIGHUP);
    ASSERT_TRUE(sluice.proc->wait_for("reload failed"));
    EXPECT_TRUE(sluice.proc->wait_for(sluice.config_path + R"(:3:1: unknown key "bogus")"));
    EXPECT_EQ(get(sluice.port, "/fixed").body, "two");
    const auto metrics = get(admin, "/metrics").body;
    EXPECT_EQ(sample(metrics, R"(sluice_config_reloads_total{result="error"})"), 1);
    EXPECT_EQ(sample(metrics, R"(sluice_config_reloads_total{result="ok"})"), 1);
    EXPECT_EQ(sample(metrics, "sluice_config_generation"), 2);
}

TEST_F(OpsTest, ReloadsUnderLoadDropNothing) {
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t)
        clients.emplace_back([&, t] {
            try {
                connection c(sluice.port);
                while (!stop) {
                    auto r = c.request("GET", t % 2 ? "/echo" : "/fixed");
                    (r.status == 200 ? ok : failed)++;
                }
            } catch (const std::exception&) {
                failed++;
            }
        });
    for (int i = 0; i < 20; ++i) {
        std::ofstream(sluice.config_path) << std::regex_replace(config_text(echo, i % 2 ? "one" : "two"),
                                                                std::regex("LISTEN"), "127.0.0.1:0");
        sluice.proc->signal(SIGHUP);
        ASSERT_TRUE(sluice.proc->wait_for("generation " + std::to_string(i + 2)));
        EXPECT_EQ(get(sluice.port, "/fixed").body, i % 2 ? "one" : "two");  // the new config is in force
        // Let the clients run some requests on this generation before the next reload.
        const int target = ok.load() + 20;
        for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
             ok.load() < target && failed.load() == 0 && std::chrono::steady_clock::now() < deadline;)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop = true;
    for (auto& c : clients) c.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GE(ok.load(), 20 * 20);
}

TEST_F(OpsTest, DrainFinishesInFlightRequestsThenExitsZero) {
    constexpr int n = 50;
    std::vector<std::unique_ptr<connection>> conns;
    for (int i = 0; i < n; ++i) {
        conns.push_back(std::make_unique<connection>(sluice.port));
        conns.back()->send_raw("GET /delay/500 HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    // Wait until all 50 are in flight at the backend (it counts requests as their heads arrive).
    int polls = 0;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
        ++polls;
        const auto stats = json::parse(get(echo.port, "/stats").body);
        if (stats.at("requests").to_number<int>() - polls >= n) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "requests never reached the backend";
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    sluice.proc->signal(SIGTERM);
    ASSERT_TRUE(sluice.proc->wait_for("draining"));
    EXPECT_EQ(get(admin, "/readyz").status, 503u);
    // Workers close their acceptors as soon as they see the drain: poll briefly for that.
    bool refused = false;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
         !refused && std::chrono::steady_clock::now() < deadline;) {
        refused = !can_connect(sluice.port);
        if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(refused) << "new connections are still accepted while draining";
    for (auto& c : conns) {
        auto r = c->read_response();
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.header("connection"), "close");
    }
    EXPECT_EQ(sluice.proc->wait_exit(std::chrono::seconds(15)), 0);
}

}  // namespace
}  // namespace sluice::test
