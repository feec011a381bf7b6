// upstream::health_checker against real servers on kernel-chosen ports: sluice-echo processes
// (killed to take a server away) and a tiny in-test HTTP server whose answer the test flips.
// Intervals are short; every wait is for a condition with a generous deadline, never a fixed time.

#include "config/loader.hpp"
#include "support/process.hpp"
#include "upstream/health_checker.hpp"
#include "upstream/server_state.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// Answers every request with the current `status` (then closes), or, in hang mode, reads the
// request and never answers until the connection is dropped by the client. Records each status
// it answered, in order.
class flip_server {
public:
    flip_server() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        const int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
            throw std::runtime_error("flip_server: bind/listen failed");
        }
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { loop(); });
    }
    ~flip_server() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }

    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    void set_status(int s) { status_ = s; }
    void set_hang(bool h) { hang_ = h; }

    std::vector<int> answered() const {
        std::lock_guard lock(mutex_);
        return answered_;
    }
    std::size_t count() const { return answered().size(); }
    // How many of the last answers, in a row, were `status`.
    std::size_t trailing(int status) const {
        const auto a = answered();
        std::size_t n = 0;
        for (auto it = a.rbegin(); it != a.rend() && *it == status; ++it) ++n;
        return n;
    }

private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            timeval tv{0, 200'000};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string req;
            char buf[1024];
            while (req.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                req.append(buf, static_cast<std::size_t>(n));
            }
            if (hang_) {
                // Hold the connection until the client gives up (recv returns 0) or we stop.
                while (!stop_ && ::recv(c, buf, sizeof buf, 0) != 0) {
                }
                ::close(c);
                continue;
            }
            const int s = status_;
            const std::string res = "HTTP/1.1 " + std::to_string(s) +
                                    " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            ::send(c, res.data(), res.size(), MSG_NOSIGNAL);
            ::close(c);
            std::lock_guard lock(mutex_);
            answered_.push_back(s);
        }
    }

    int fd_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> status_{200};
    std::atomic<bool> hang_{false};
    mutable std::mutex mutex_;
    std::vector<int> answered_;
    std::thread thread_;
};

// Waits until `cond` holds, up to `limit`.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (cond()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return cond();
}

// A snapshot from TOML with server states from `registry` attached, as the server does on publish.
config::snapshot snapshot(const std::string& upstreams, upstream::state_registry& registry) {
    const auto r = config::load_string("[[listener]]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\n\n" + upstreams);
    std::string errors;
    for (const auto& e : r.errors) errors += e.to_string() + "\n";
    if (!r.ok()) throw std::runtime_error("bad test config:\n" + errors);
    auto cfg = std::make_shared<config::config>(*r.cfg);
    upstream::attach_states(*cfg, registry);
    return cfg;
}

std::string upstream_toml(const std::string& name, const std::vector<std::string>& addresses,
                          const std::string& health_check) {
    std::string s = "[[upstream]]\nname = \"" + name + "\"\nservers = [";
    for (std::size_t i = 0; i < addresses.size(); ++i) s += (i ? ", \"" : "\"") + addresses[i] + "\"";
    s += "]\n";
    if (!health_check.empty()) s += "health_check = " + health_check + "\n";
    return s + "\n";
}

std::shared_ptr<upstream::server_state> state_of(const config::snapshot& snap, std::size_t u, std::size_t s) {
    return snap->upstreams.at(u).servers.at(s).state;
}

struct transitions {
    std::mutex mutex;
    std::vector<std::string> seen;  // "server:up" / "server:down"
    upstream::health_checker::transition_handler handler() {
        return [this](const std::string&, const std::string& server, bool healthy) {
            std::lock_guard lock(mutex);
            seen.push_back(server + (healthy ? ":up" : ":down"));
        };
    }
    std::vector<std::string> get() {
        std::lock_guard lock(mutex);
        return seen;
    }
};

TEST(HealthCheck, KilledAndRefusingServersGoDownLiveOneStaysUp) {
    backend live = start_backend("echo", "live");
    backend doomed = start_backend("echo", "doomed");
    const std::string refused = "127.0.0.1:" + std::to_string(closed_port());
    upstream::state_registry registry;
    const auto snap = snapshot(
        upstream_toml("echo", {live.address(), doomed.address(), refused},
                      R"({ path = "/healthz", interval = "50ms", timeout = "40ms", unhealthy = 2, healthy = 2 })"),
        registry);
    transitions tr;
    upstream::health_checker checker(tr.handler());
    checker.update(snap);
    ASSERT_TRUE(eventually([&] { return checker.targets() == 3; }));

    ASSERT_TRUE(eventually([&] { return !state_of(snap, 0, 2)->healthy.load(); })) << "refused port not marked down";
    EXPECT_TRUE(state_of(snap, 0, 1)->healthy.load());
    doomed.proc.reset();  // SIGTERM, then SIGKILL: the server is gone
    ASSERT_TRUE(eventually([&] { return !state_of(snap, 0, 1)->healthy.load(); })) << "killed backend not marked down";
    EXPECT_TRUE(state_of(snap, 0, 0)->healthy.load()) << "the live backend was marked down";
    // The handler runs just after the state flips: wait for it before counting.
    auto downs = [&](const std::string& server) {
        const auto seen = tr.get();
        return std::count(seen.begin(), seen.end(), server + ":down");
    };
    EXPECT_TRUE(eventually([&] { return downs(doomed.address()) == 1 && downs(refused) == 1; }));
    EXPECT_EQ(downs(live.address()), 0);
    EXPECT_EQ(downs(doomed.address()), 1);
    EXPECT_EQ(downs(refused), 1);
}

TEST(HealthCheck, FlipsDownAndBackAfterConsecutiveThresholds) {
    flip_server server;
    upstream::state_registry registry;
    const auto snap = snapshot(
        upstream_toml("flip", {server.address()},
                      R"({ path = "/ready", interval = "30ms", timeout = "30ms", unhealthy = 3, healthy = 2, expected = "200-299" })"),
        registry);
    const auto state = state_of(snap, 0, 0);
    transitions tr;
    upstream::health_checker checker(tr.handler());
    checker.update(snap);

    ASSERT_TRUE(eventually([&] { return server.count() >= 5; }));
    EXPECT_TRUE(state->healthy.load());

    server.set_status(503);
    ASSERT_TRUE(eventually([&] { return !state->healthy.load(); }));
    EXPECT_GE(server.trailing(503), 3u) << "went down before 3 failed checks";

    server.set_status(302);  // outside "200-299": still a failure
    ASSERT_TRUE(eventually([&] { return server.trailing(302) >= 4; }));
    EXPECT_FALSE(state->healthy.load());

    server.set_status(204);
    ASSERT_TRUE(eventually([&] { return state->healthy.load(); }));
    EXPECT_GE(server.trailing(204), 2u) << "came back before 2 passed checks";
    EXPECT_EQ(tr.get(), (std::vector<std::string>{server.address() + ":down", server.address() + ":up"}));
}

TEST(HealthCheck, TimeoutIsAFailure) {
    backend slow = start_backend("echo", "slow");
    flip_server hanging;
    hanging.set_hang(true);
    upstream::state_registry registry;
    const auto snap = snapshot(
        upstream_toml("slow", {slow.address(), hanging.address()},
                      R"({ path = "/delay/2000", interval = "100ms", timeout = "50ms", unhealthy = 2 })"),
        registry);
    upstream::health_checker checker;
    checker.update(snap);
    EXPECT_TRUE(eventually([&] { return !state_of(snap, 0, 0)->healthy.load(); })) << "slow answer";
    EXPECT_TRUE(eventually([&] { return !state_of(snap, 0, 1)->healthy.load(); })) << "no answer";
}

TEST(HealthCheck, ReloadKeepsStateOfServersThatStayAndStopsRemovedOnes) {
    flip_server a;
    flip_server b;
    a.set_status(503);
    upstream::state_registry registry;
    const std::string fast = R"({ path = "/", interval = "30ms", timeout = "30ms", unhealthy = 2, healthy = 3 })";
    const auto first = snapshot(upstream_toml("u", {a.address()}, fast), registry);
    upstream::health_checker checker;
    checker.update(first);
    ASSERT_TRUE(eventually([&] { return !state_of(first, 0, 0)->healthy.load(); }));

    // Reload: a stays (same state object, still down), b is new; a's checks go on with the new path.
    const std::string slower = R"({ path = "/v2", interval = "20ms", timeout = "20ms", unhealthy = 2, healthy = 3 })";
    const auto second = snapshot(upstream_toml("u", {a.address(), b.address()}, slower), registry);
    ASSERT_EQ(state_of(second, 0, 0), state_of(first, 0, 0));
    checker.update(second);
    ASSERT_TRUE(eventually([&] { return checker.targets() == 2; }));
    ASSERT_TRUE(eventually([&] { return b.count() >= 3; }));
    EXPECT_FALSE(state_of(second, 0, 0)->healthy.load()) << "a reload must not reset a down server";
    a.set_status(200);
    ASSERT_TRUE(eventually([&] { return state_of(second, 0, 0)->healthy.load(); }));
    EXPECT_GE(a.trailing(200), 3u);

    // Reload without a: its checks stop while b's go on.
    const auto third = snapshot(upstream_toml("u", {b.address()}, slower), registry);
    checker.update(third);
    ASSERT_TRUE(eventually([&] { return checker.targets() == 1; }));
    const std::size_t a_checks = a.count();
    const std::size_t b_checks = b.count();
    ASSERT_TRUE(eventually([&] { return b.count() >= b_checks + 5; }));
    EXPECT_LE(a.count(), a_checks + 1) << "a removed server is still checked";

    // Health checks turned off: a down server is marked healthy, nothing checks it.
    b.set_status(500);
    ASSERT_TRUE(eventually([&] { return !state_of(third, 0, 0)->healthy.load(); }));
    const auto fourth = snapshot(upstream_toml("u", {b.address()}, ""), registry);
    checker.update(fourth);
    EXPECT_TRUE(eventually([&] { return state_of(fourth, 0, 0)->healthy.load() && checker.targets() == 0; }));
}

TEST(HealthCheck, StopsCleanlyWithChecksInFlight) {
    flip_server hanging;
    hanging.set_hang(true);
    upstream::state_registry registry;
    const auto snap = snapshot(
        upstream_toml("u", {hanging.address()}, R"({ path = "/", interval = "5s", timeout = "5s" })"), registry);
    {
        upstream::health_checker checker;
        checker.update(snap);
        ASSERT_TRUE(eventually([&] { return checker.targets() == 1; }));
    }  // destroyed mid-check: must return promptly and not crash
    SUCCEED();
}

}  // namespace
}  // namespace sluice::test
