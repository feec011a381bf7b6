// Clients that leave or stall mid-body (issue 9): a client gone mid-upload or mid-download frees
// every descriptor it held (its own connection and the upstream one, which cannot be reused), and
// an upload that stops moving is cut after idle_timeout, while other clients are served.

#include "fixture.hpp"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// Connected TCP sockets `pid` holds whose local (local = true) or remote port is `port`: read from
// its descriptor table and the kernel's TCP tables. Listening sockets are not counted.
int sockets_of(pid_t pid, unsigned short port, bool local) {
    const std::string proc = "/proc/" + std::to_string(pid);
    std::set<std::string> inodes;
    if (DIR* d = ::opendir((proc + "/fd").c_str())) {
        while (const dirent* e = ::readdir(d)) {
            char target[64];
            const auto n = ::readlink((proc + "/fd/" + e->d_name).c_str(), target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = '\0';
            unsigned long inode = 0;
            if (std::sscanf(target, "socket:[%lu]", &inode) == 1) inodes.insert(std::to_string(inode));
        }
        ::closedir(d);
    }
    int count = 0;
    for (const char* table : {"/net/tcp", "/net/tcp6"}) {
        std::ifstream in(proc + table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string sl, local_addr, remote_addr, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> sl >> local_addr >> remote_addr >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            if (state == "0A" || !inodes.contains(inode)) continue;  // 0A: LISTEN
            const std::string& addr = local ? local_addr : remote_addr;
            if (std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16) == port) ++count;
        }
    }
    return count;
}

class ClientAbortTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-1");
        sluice = start_sluice(server_block("idle_timeout = \"500ms\"\nmax_body_bytes = \"1GiB\"\n") +
                              upstream_block("echo", {{&echo, 1}}, "timeouts = { response = \"10s\" }") +
                              "[[route]]\nmatch = { path_prefix = \"/\" }\nupstream = \"echo\"\n");
        // A pooled upstream connection to start from: aborted exchanges must not leave it pooled.
        EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
    }

    int client_sockets() { return sockets_of(sluice.proc->pid(), sluice.port, true); }
    int upstream_sockets() { return sockets_of(sluice.proc->pid(), echo.port, false); }

    // Polls until sluice holds no client connection and at most `upstream` upstream ones.
    bool released(int upstream = 0) {
        for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
            if (client_sockets() == 0 && upstream_sockets() <= upstream) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    // Polls until sluice holds a client connection and an upstream one (the exchange is under way).
    bool in_flight() {
        for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
            if (client_sockets() >= 1 && upstream_sockets() >= 1) return true;
            std::this_thread::sleep_for(5ms);
        }
        return false;
    }

    backend echo;
    proxy sluice;
};

TEST_F(ClientAbortTest, ClientGoneMidUploadFreesEverything) {
    {
        connection c(sluice.port);
        c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
        c.send_raw(std::string(1 << 20, 'u'));  // 1 MiB of 50 MB, then the client is gone
        ASSERT_TRUE(in_flight());
    }
    // Both sides closed: the upstream connection that carried half a body cannot be pooled (had it
    // been, the next request would wait behind the 49 MB the backend still expects there).
    EXPECT_TRUE(released()) << client_sockets() << " client, " << upstream_sockets() << " upstream sockets";
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
}

TEST_F(ClientAbortTest, ClientGoneMidDownloadFreesEverything) {
    {
        connection c(sluice.port);
        c.send_raw("GET /bytes/200000000 HTTP/1.1\r\nHost: x\r\n\r\n");
        char buf[65536];
        std::size_t got = 0;
        while (got < (1u << 20)) {  // 1 MiB of 200 MB, then the client is gone
            const auto n = ::recv(c.native_handle(), buf, sizeof buf, 0);
            ASSERT_GT(n, 0);
            got += static_cast<std::size_t>(n);
        }
        ASSERT_TRUE(in_flight());
    }
    EXPECT_TRUE(released()) << client_sockets() << " client, " << upstream_sockets() << " upstream sockets";
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
}

TEST_F(ClientAbortTest, StalledUploadIsCutAfterIdleTimeoutWhileOthersAreServed) {
    connection stalled(sluice.port);
    stalled.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
    auto other = std::async(std::launch::async, [&] { return get(sluice.port, "/echo").status; });
    EXPECT_EQ(other.get(), 200u);
    // No body byte for idle_timeout (500 ms): sluice gives up on the request and the connection.
    EXPECT_TRUE(stalled.closed_by_peer());
    // The other request's upstream connection may stay pooled; the stalled one's is gone.
    EXPECT_TRUE(released(1)) << client_sockets() << " client, " << upstream_sockets() << " upstream sockets";
}

}  // namespace
}  // namespace sluice::test
