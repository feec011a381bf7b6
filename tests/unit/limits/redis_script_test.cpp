// The Redis side of store = "redis" without the proxy's client: the arguments, the reply parser
// (every malformed shape rejected with a reason), and the script itself run by a real
// redis-server that the test starts on a Unix socket in a temporary directory (no TCP port at all),
// driven with redis-cli. Skipped when redis-server is not installed.

#include "limits/redis_script.hpp"

#include "policy_fixture.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sluice::limits {
namespace {

using namespace test;

const config::rate_limit_policy design_policy =
    make_policy({{10, 1, "10/second"}, {50, 3600, "50/hour"}, {200, 86400, "200/day"}}, 2, "per_client");

TEST(RedisScript, ArgumentsCarryEveryLimitInMicroseconds) {
    const std::vector<std::string> argv = build_args(design_policy, "10.0.0.7", 1'700'000'000'000'000);
    const std::vector<std::string> expected = {
        "EVALSHA", std::string(redis_script_sha1()), "1", "sluice:rl:per_client:10.0.0.7", "1700000000000000",
        "10/1", "100000", "1200000",           // 10/second with burst 2: 12 x 100ms
        "50/3600", "72000000", "3600000000",   // 50/hour
        "200/86400", "432000000", "86400000000",
    };
    EXPECT_EQ(argv, expected);
    EXPECT_EQ(build_args(design_policy, "10.0.0.7")[4], "0");  // the server's clock
    EXPECT_EQ(redis_script_sha1().size(), 40u);
    EXPECT_EQ(redis_script_sha1().find_first_not_of("0123456789abcdef"), std::string_view::npos);
    EXPECT_NE(redis_script().find("PEXPIRE"), std::string_view::npos);
}

TEST(RedisScript, KeysSeparatePoliciesAndStayShort) {
    const auto other = make_policy({{10, 1, "10/second"}}, 0, "login");
    EXPECT_NE(redis_key(design_policy, "c"), redis_key(other, "c"));
    EXPECT_EQ(redis_key(other, "c"), "sluice:rl:login:c");
    const std::string long_key(5000, 'x');
    const std::string k = redis_key(other, long_key);
    EXPECT_EQ(k.size(), std::string("sluice:rl:login:#").size() + 64);
    EXPECT_EQ(k, redis_key(other, long_key));  // the same on every replica
    EXPECT_NE(k, redis_key(other, long_key + "y"));
    EXPECT_EQ(redis_key(other, std::string(64, 'x')), "sluice:rl:login:" + std::string(64, 'x'));
}

TEST(RedisScript, ParsesAllowedAndRejectedReplies) {
    const auto p = make_policy({{10, 1, "10/second"}});
    const std::int64_t now = 1'700'000'000'000'000;
    std::vector<std::int64_t> reply = {1, now, now + 300'000};  // 3 taken: 7 left
    redis_reply r = parse_reply(p, reply);
    ASSERT_TRUE(r.result) << r.error;
    EXPECT_TRUE(r.result->allowed);
    EXPECT_EQ(r.result->remaining, 7u);
    EXPECT_EQ(r.result->reset_ns, 100 * ms);

    reply = {0, now, now + 950'000};  // spent; a slot frees in 50ms
    r = parse_reply(p, reply);
    ASSERT_TRUE(r.result) << r.error;
    EXPECT_FALSE(r.result->allowed);
    EXPECT_EQ(r.result->retry_after_ns, 50 * ms);
    EXPECT_EQ(r.result->retry_after_seconds(), 1u);
}

TEST(RedisScript, RejectsMalformedReplies) {
    const auto p = make_policy({{10, 1, "10/second"}, {50, 3600, "50/hour"}});
    const std::int64_t now = 1'700'000'000'000'000;
    auto error_of = [&](std::vector<std::int64_t> reply) {
        const redis_reply r = parse_reply(p, reply);
        EXPECT_FALSE(r.result);
        return r.error;
    };
    EXPECT_EQ(error_of({}), "rate-limit script reply: expected 4 integers (allowed, now, 2 TATs), got 0");
    EXPECT_EQ(error_of({1, now, now + 100'000}),
              "rate-limit script reply: expected 4 integers (allowed, now, 2 TATs), got 3");
    EXPECT_EQ(error_of({2, now, now + 100'000, now + 72'000'000}),
              "rate-limit script reply: allowed must be 0 or 1, got 2");
    EXPECT_EQ(error_of({1, 0, 100'000, 72'000'000}), "rate-limit script reply: now must be positive, got 0");
    EXPECT_EQ(error_of({1, now, -1, now + 72'000'000}),
              "rate-limit script reply: TAT of \"10/second\" is out of range: -1 at now 1700000000000000");
    EXPECT_EQ(error_of({1, now, now + 100'000, now + 3'600'000'001}),
              "rate-limit script reply: TAT of \"50/hour\" is out of range: 1700003600000001 at now "
              "1700000000000000");
    EXPECT_EQ(error_of({1, now, now, now + 72'000'000}),
              "rate-limit script reply: TAT of \"10/second\" was not advanced by an allowed request");
    EXPECT_EQ(error_of({0, now, now + 100'000, now + 72'000'000}),
              "rate-limit script reply: request rejected although every limit has room");
}

// ---------------------------------------------------------------------------------------------
// Against a real redis-server.

struct run_result {
    int status = -1;
    std::string out;
};

run_result run(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) {
        return {};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    run_result result;
    if (rc == 0) {
        char buffer[4096];
        ssize_t n;
        while ((n = read(fds[0], buffer, sizeof buffer)) > 0) {
            result.out.append(buffer, static_cast<std::size_t>(n));
        }
        int status = 0;
        waitpid(pid, &status, 0);
        result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    close(fds[0]);
    return result;
}

bool installed(const char* program) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
        if (access((std::string(dir) + program).c_str(), X_OK) == 0) {
            return true;
        }
    }
    return false;
}

class RedisScriptLive : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!installed("redis-server") || !installed("redis-cli")) {
            return;
        }
        char dir_template[] = "/tmp/sluice-limits-XXXXXX";
        if (!mkdtemp(dir_template)) {
            return;
        }
        dir_ = dir_template;
        socket_ = dir_ + "/redis.sock";
        const std::vector<std::string> args = {"redis-server", "--port", "0", "--unixsocket", socket_,
                                               "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                                               "--dir", dir_, "--logfile", dir_ + "/redis.log"};
        std::vector<char*> argv;
        for (const std::string& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        if (posix_spawnp(&server_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
            server_ = -1;
            return;
        }
        // Wait for the server to answer (start-up, not a rate: the only wait in these tests).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            if (cli({"PING"}) == "PONG\n") {
                // Every test may run alone (ctest runs each in its own process): load the script here.
                ready_ = cli({"SCRIPT", "LOAD", std::string(redis_script())}) == std::string(redis_script_sha1()) + "\n";
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    static void TearDownTestSuite() {
        if (server_ > 0) {
            kill(server_, SIGTERM);
            int status = 0;
            waitpid(server_, &status, 0);
            server_ = -1;
        }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    void SetUp() override {
        if (!ready_) {
            GTEST_SKIP() << "redis-server and redis-cli are needed (not installed, or it did not start)";
        }
    }

    static std::string cli(const std::vector<std::string>& command) {
        std::vector<std::string> args = {"redis-cli", "-s", socket_};
        args.insert(args.end(), command.begin(), command.end());
        return run(args).out;
    }

    // The script's reply as integers (redis-cli prints one per line when not on a terminal).
    static std::vector<std::int64_t> eval(const std::vector<std::string>& argv) {
        std::vector<std::int64_t> values;
        std::istringstream in(cli(argv));
        std::string line;
        while (std::getline(in, line)) {
            std::size_t used = 0;
            values.push_back(std::stoll(line, &used));
            EXPECT_EQ(used, line.size()) << "not an integer: " << line;
        }
        return values;
    }

    static inline std::string dir_;
    static inline std::string socket_;
    static inline pid_t server_ = -1;
    static inline bool ready_ = false;
};

TEST_F(RedisScriptLive, ScriptLoadGivesOurSha1) {
    EXPECT_EQ(cli({"SCRIPT", "LOAD", std::string(redis_script())}), std::string(redis_script_sha1()) + "\n");
}

TEST_F(RedisScriptLive, DecidesLikeTheLocalArithmetic) {
    cli({"SCRIPT", "LOAD", std::string(redis_script())});
    const std::int64_t now_us = 1'700'000'000'000'000;
    std::vector<std::int64_t> tats(design_policy.limits.size(), 0);
    int allowed = 0;
    for (int step = 0; step < 40; ++step) {
        // Bursts of requests 250ms apart.
        const std::int64_t at = now_us + (step / 10) * 250'000;
        const std::vector<std::int64_t> reply = eval(build_args(design_policy, "10.0.0.1", at));
        const redis_reply r = parse_reply(design_policy, reply);
        ASSERT_TRUE(r.result) << r.error;
        const decision local = check(design_policy, tats, at, us_per_second);
        ASSERT_EQ(r.result->allowed, local.allowed) << step;
        EXPECT_EQ(r.result->limit, local.limit) << step;
        EXPECT_EQ(r.result->remaining, local.remaining) << step;
        EXPECT_EQ(r.result->reset_ns, local.reset_ns) << step;
        EXPECT_EQ(r.result->retry_after_ns, local.retry_after_ns) << step;
        allowed += r.result->allowed ? 1 : 0;
    }
    EXPECT_EQ(allowed, 10 + 4 + 3 + 2);  // capacity 12 (burst 2), refilled 2.5 per 250ms
    // The key lives until every bucket is full again: the day's 19 x 432s from the last request.
    const std::string key = redis_key(design_policy, "10.0.0.1");
    const long long pttl = std::stoll(cli({"PTTL", key}));
    EXPECT_GT(pttl, 19 * 432'000 - 1'000);
    EXPECT_LE(pttl, 19 * 432'000);
}

TEST_F(RedisScriptLive, PoliciesAndClientsAreSeparate) {
    const auto a = make_policy({{2, 60, "2/minute"}}, 0, "a");
    const auto b = make_policy({{2, 60, "2/minute"}}, 0, "b");
    const std::int64_t now_us = 1'700'000'100'000'000;
    auto allowed = [&](const config::rate_limit_policy& p, const char* client) {
        const redis_reply r = parse_reply(p, eval(build_args(p, client, now_us)));
        EXPECT_TRUE(r.result) << r.error;
        return r.result && r.result->allowed;
    };
    EXPECT_TRUE(allowed(a, "c"));
    EXPECT_TRUE(allowed(a, "c"));
    EXPECT_FALSE(allowed(a, "c"));
    EXPECT_TRUE(allowed(b, "c"));
    EXPECT_TRUE(allowed(a, "d"));
}

TEST_F(RedisScriptLive, UsesTheServerClockByDefault) {
    const auto p = make_policy({{5, 1, "5/second"}}, 0, "clock");
    const redis_reply r = parse_reply(p, eval(build_args(p, "c")));
    ASSERT_TRUE(r.result) << r.error;
    EXPECT_TRUE(r.result->allowed);
    const std::vector<std::int64_t> reply = eval(build_args(p, "c"));
    ASSERT_EQ(reply.size(), 3u);
    const auto wall_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    EXPECT_LT(std::abs(reply[1] - wall_us), 60'000'000);  // the same machine's clock
}

}  // namespace
}  // namespace sluice::limits
