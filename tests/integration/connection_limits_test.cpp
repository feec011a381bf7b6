// Downstream connection limits (per listener across workers, per client IP) and many idle
// connections: real sluice and backend processes, raw sockets from chosen loopback addresses
// (Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2 is a second client).

#include "fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// A TCP connection from `source` (an IPv4 loopback address) to 127.0.0.1:port; -1 on failure.
int connect_from(const char* source, unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &src.sin_addr);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// What one request on `fd` gets: the first bytes of the answer, or "" when the peer closed
// without a word (or nothing came within 5 s).
std::string ask(int fd) {
    const std::string req = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return {};
    std::string got;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

// True when sluice closes `fd` (EOF or reset) within 5 s without sending anything.
bool closed_silently(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return false;
    char c;
    const auto n = ::recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

class ConnectionLimitsTest : public ::testing::Test {
protected:
    void start(const std::string& listener_extra) {
        echo = start_backend("echo", "echo-1");
        sluice = start_sluice("[server]\nworkers = 2\naccess_log = \"off\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n"
                              "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n" +
                              listener_extra + "\n" + upstream_block("echo", {{&echo, 1}}) +
                              "[[route]]\nmatch = { path_prefix = \"/\" }\nupstream = \"echo\"\n");
        admin = admin_port(sluice);
    }
    void TearDown() override {
        for (int fd : fds) ::close(fd);
    }
    int open(const char* source) {
        const int fd = connect_from(source, sluice.port);
        if (fd >= 0) fds.push_back(fd);
        return fd;
    }
    void close_fd(int fd) {
        std::erase(fds, fd);
        ::close(fd);
    }
    // Polls a metric until it equals `want` (it is updated after the event it counts).
    double metric_reaches(const std::string& series, double want) {
        double v = -1;
        for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
            v = sample(get(admin, "/metrics").body, series);
            if (v == want) break;
            std::this_thread::sleep_for(20ms);
        }
        return v;
    }

    backend echo;
    proxy sluice;
    unsigned short admin = 0;
    std::vector<int> fds;
};

TEST_F(ConnectionLimitsTest, ListenerLimitHoldsAcrossWorkersAndFreesOnClose) {
    start("max_connections = 3\n");
    std::vector<int> held;
    for (int i = 0; i < 3; ++i) {
        const int fd = open("127.0.0.1");
        ASSERT_GE(fd, 0);
        EXPECT_EQ(ask(fd).rfind("HTTP/1.1 200", 0), 0u);  // served: the session holds its place
        held.push_back(fd);
    }
    const int extra = open("127.0.0.3");  // a different client: the listener limit is for everyone
    ASSERT_GE(extra, 0);
    EXPECT_TRUE(closed_silently(extra));
    EXPECT_EQ(metric_reaches(R"(sluice_connections_rejected_total{listener="http",reason="listener_limit"})", 1), 1);
    // One leaves: a new connection is served once sluice has seen the close.
    close_fd(held.front());
    bool served = false;
    for (auto deadline = std::chrono::steady_clock::now() + 10s; !served && std::chrono::steady_clock::now() < deadline;) {
        const int fd = open("127.0.0.1");
        ASSERT_GE(fd, 0);
        served = ask(fd).rfind("HTTP/1.1 200", 0) == 0;
        if (!served) close_fd(fd);
    }
    EXPECT_TRUE(served);
    // The admin listener is not counted.
    EXPECT_EQ(get(admin, "/healthz").status, 200u);
}

TEST_F(ConnectionLimitsTest, PerIpLimitCutsOneClientOnly) {
    start("max_connections_per_ip = 2\n");
    const int a1 = open("127.0.0.2");
    const int a2 = open("127.0.0.2");
    ASSERT_GE(a1, 0);
    ASSERT_GE(a2, 0);
    EXPECT_EQ(ask(a1).rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_EQ(ask(a2).rfind("HTTP/1.1 200", 0), 0u);
    const int a3 = open("127.0.0.2");
    ASSERT_GE(a3, 0);
    EXPECT_TRUE(closed_silently(a3));
    EXPECT_EQ(metric_reaches(R"(sluice_connections_rejected_total{listener="http",reason="per_ip_limit"})", 1), 1);
    // Another client is not affected by the first one's count.
    for (int i = 0; i < 2; ++i) {
        const int b = open("127.0.0.4");
        ASSERT_GE(b, 0);
        EXPECT_EQ(ask(b).rfind("HTTP/1.1 200", 0), 0u);
    }
    // The first client's held connections still work.
    EXPECT_EQ(ask(a1).rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(ConnectionLimitsTest, ReloadChangesTheLimitForNewConnections) {
    start("max_connections_per_ip = 1\n");
    const int a1 = open("127.0.0.5");
    ASSERT_GE(a1, 0);
    EXPECT_EQ(ask(a1).rfind("HTTP/1.1 200", 0), 0u);
    const int a2 = open("127.0.0.5");
    ASSERT_GE(a2, 0);
    EXPECT_TRUE(closed_silently(a2));
    // Raise the limit by reload: the open connection is still counted, a second one now fits.
    std::string cfg;
    {
        std::ifstream in(sluice.config_path);
        cfg.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto pos = cfg.find("max_connections_per_ip = 1");
    ASSERT_NE(pos, std::string::npos);
    cfg.replace(pos, std::string("max_connections_per_ip = 1").size(), "max_connections_per_ip = 2");
    {
        std::ofstream out(sluice.config_path, std::ios::trunc);
        out << cfg;
    }
    sluice.proc->signal(SIGHUP);
    ASSERT_TRUE(sluice.proc->wait_for("config reloaded: generation 2"));
    const int a3 = open("127.0.0.5");
    ASSERT_GE(a3, 0);
    EXPECT_EQ(ask(a3).rfind("HTTP/1.1 200", 0), 0u);
    const int a4 = open("127.0.0.5");
    ASSERT_GE(a4, 0);
    EXPECT_TRUE(closed_silently(a4));
}

// Issue 9: 10,000 idle connections must not keep a new client from being served.
TEST_F(ConnectionLimitsTest, TenThousandIdleConnectionsDoNotStopANewClient) {
    constexpr int idle = 10'000;
    // This process holds the idle connections, sluice (our child: it inherits the limit) the
    // other ends; both need more descriptors than the usual soft limit of 1024.
    rlimit rl{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlimit want = rl;
    want.rlim_cur = want.rlim_max = std::max<rlim_t>(rl.rlim_max, 65536);
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {  // not privileged: up to the hard limit
        want = rl;
        want.rlim_cur = rl.rlim_max;
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &want), 0);
    }
    if (want.rlim_cur < static_cast<rlim_t>(idle + 500)) {
        GTEST_SKIP() << "open file hard limit " << want.rlim_cur << " is below " << idle + 500;
    }
    start("");
    // Spread over several source addresses, as real clients are.
    const char* sources[] = {"127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"};
    for (int i = 0; i < idle; ++i) {
        const int fd = open(sources[i % 4]);
        ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(errno);
    }
    // Every idle connection was accepted and is held open by sluice.
    EXPECT_EQ(metric_reaches(R"(sluice_connections_active{listener="http"})", idle), idle);
    // A new client is served while they stay open.
    const int fresh = open("127.0.0.20");
    ASSERT_GE(fresh, 0);
    EXPECT_EQ(ask(fresh).rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
    // Closing them frees everything sluice held for them.
    for (int fd : std::vector<int>(fds)) close_fd(fd);
    EXPECT_EQ(metric_reaches(R"(sluice_connections_active{listener="http"})", 0), 0);
    ::setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace
}  // namespace sluice::test
