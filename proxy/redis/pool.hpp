#pragma once
// A small set of pipelined connections to one Redis server, owned by one worker (one io_context,
// one thread: no locks). Each connection has a supervisor that connects, waits for the
// connection to drop and reconnects with exponential backoff and jitter. Calls never connect:
// they take the open connection with the fewest pending requests, wait (within their deadline)
// only while a connect attempt is under way and nothing is open, and fail at once with
// errc::connection while the server is down, so an outage costs neither a connect storm nor a
// stalled worker.
//
// Lifetime: the pool is a handle on shared state; supervisors and calls in flight hold that
// state, so destroying the pool (which stops it) while calls are suspended is safe. Destroy it
// on its io_context's thread, or after that io_context has stopped running, and before the
// io_context itself is destroyed.

#include "redis/command.hpp"
#include "redis/endpoint.hpp"
#include "redis/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace sluice::redis {

class script;

struct pool_options {
    std::chrono::milliseconds timeout{200};  // [redis].timeout: deadline of each call and of each connect
    std::size_t connections = 2;             // per server, per worker
    // Wait before reconnecting after a failed connect (or a connection that dropped within 1 s):
    // reconnect_min, doubled on each further failure up to reconnect_max, times 0.5-1.0 (jitter).
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
};

// Counters for metrics and tests; they only grow.
struct pool_stats {
    std::uint64_t connect_attempts = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t drops = 0;  // open connections lost (timeout, protocol error, closed by the server)
};

class pool {
public:
    // Starts connecting at once (the supervisors are posted to `ex`). May be constructed on any
    // thread before the io_context runs, or on its own thread; used from that thread only.
    pool(boost::asio::any_io_executor ex, endpoint server, pool_options options = {});
    ~pool();  // stop()
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    // One command; the deadline is options.timeout from now.
    boost::asio::awaitable<result> execute(command args);
    // The same with the arguments inline: co_await p.execute("SET", key, value). (GCC 12 rejects
    // a braced list inside a co_await expression; this builds the command outside the coroutine.)
    template <class... Args>
    boost::asio::awaitable<result> execute(std::string_view name, const Args&... args) {
        return execute(command{name, std::string_view(args)...});
    }

    // Several commands written together on one connection, in order; one result per command
    // (an error reply fails only its own command). On a timeout or a lost connection the
    // commands whose replies had not arrived carry that error. One deadline for the batch.
    boost::asio::awaitable<std::vector<result>> pipeline(std::vector<command> commands);

    // EVALSHA script.sha1() numkeys keys... args...; on NOSCRIPT (first use, server restarted,
    // SCRIPT FLUSH) sends SCRIPT LOAD + EVALSHA again in one pipelined round trip, once.
    // One deadline for both attempts.
    boost::asio::awaitable<result> eval(const script& s, std::vector<std::string_view> keys,
                                        std::vector<std::string_view> args);

    // Waits until at least one connection is open; false at the timeout or when stopped.
    boost::asio::awaitable<bool> wait_ready(std::chrono::milliseconds timeout);

    // Closes every connection, stops reconnecting; calls in flight and later calls fail with
    // errc::connection. Idempotent.
    void stop();

    std::size_t connected() const noexcept;  // open connections now
    pool_stats stats() const noexcept;
    const endpoint& server() const noexcept;

private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace sluice::redis
