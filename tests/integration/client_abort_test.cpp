// Clients that leave or stall mid-body (issue 9): a client gone mid-upload or mid-download frees
// every descriptor it held (its own connection and the upstream one, which cannot be reused), and
// an upload that stops moving is cut after idle_timeout, while other clients are served.

#include "fixture.hpp"

#include <dirent.h>
#include <sys/socket.h>

#include <future>
#include <thread>

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// Open descriptors of a process.
int open_fds(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(path.c_str());
    if (!d) return -1;
    int n = 0;
    while (const dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

class ClientAbortTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-1");
        sluice = start_sluice(server_block("idle_timeout = \"500ms\"\nmax_body_bytes = \"1GiB\"\n") +
                              upstream_block("echo", {{&echo, 1}}, "timeouts = { response = \"10s\" }") +
                              "[[route]]\nmatch = { path_prefix = \"/\" }\nupstream = \"echo\"\n");
        // One request first: its pooled upstream connection is part of the baseline.
        EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
        baseline = open_fds(sluice.proc->pid());
    }

    // Polls until sluice holds no more descriptors than at the baseline.
    bool back_to_baseline() {
        for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
            if (open_fds(sluice.proc->pid()) <= baseline) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    // Polls until sluice holds more descriptors than at the baseline (the client was accepted).
    bool above_baseline() {
        for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
            if (open_fds(sluice.proc->pid()) > baseline) return true;
            std::this_thread::sleep_for(5ms);
        }
        return false;
    }

    backend echo;
    proxy sluice;
    int baseline = 0;
};

TEST_F(ClientAbortTest, ClientGoneMidUploadFreesEverything) {
    {
        connection c(sluice.port);
        c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
        c.send_raw(std::string(1 << 20, 'u'));  // 1 MiB of 50 MB, then the client is gone
        ASSERT_TRUE(above_baseline());
    }
    EXPECT_TRUE(back_to_baseline()) << open_fds(sluice.proc->pid()) << " fds, baseline " << baseline;
    // The upstream connection that carried half a body was closed, not pooled: had it been
    // reused, this request would wait behind the 49 MB the backend still expects there.
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
    }
    EXPECT_TRUE(back_to_baseline()) << open_fds(sluice.proc->pid()) << " fds, baseline " << baseline;
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
}

TEST_F(ClientAbortTest, StalledUploadIsCutAfterIdleTimeoutWhileOthersAreServed) {
    connection stalled(sluice.port);
    stalled.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
    auto other = std::async(std::launch::async, [&] { return get(sluice.port, "/echo").status; });
    EXPECT_EQ(other.get(), 200u);
    // No body byte for idle_timeout (500 ms): sluice gives up on the request and the connection.
    EXPECT_TRUE(stalled.closed_by_peer());
    EXPECT_TRUE(back_to_baseline()) << open_fds(sluice.proc->pid()) << " fds, baseline " << baseline;
}



}  // namespace
}  // namespace sluice::test
