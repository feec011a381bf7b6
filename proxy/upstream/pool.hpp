#pragma once
// Per-worker pool of keep-alive connections to upstream servers. Single-threaded by design:
// each worker (one io_context, one thread) owns its pool, so no locks are taken.

#include "config/config.hpp"
#include "http/error.hpp"
#include "upstream/stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::upstream {

class tls_client;

// One connection to one upstream server, with the read buffer that belongs to it.
struct connection {
    explicit connection(boost::asio::io_context& ioc) : stream(ioc) {}
    upstream::stream stream;  // plain TCP, or TLS when the upstream has `tls`
    boost::beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since{};
    std::chrono::milliseconds max_idle{60'000};  // the upstream's timeouts.idle when pooled
    unsigned requests = 0;  // requests sent on it; > 0 means it came from the pool
};

struct connect_result {
    std::unique_ptr<connection> conn;  // null on error
    http::error err{};
};

class pool {
public:
    explicit pool(boost::asio::io_context& ioc);

    // An idle connection to `key` (the server's "host:port") that is still open and was idle
    // for less than max_idle, or null. Dead and expired connections met on the way are closed.
    std::unique_ptr<connection> take(const std::string& key, std::chrono::milliseconds max_idle);

    // Returns a connection after a complete exchange; closed instead when max_idle_per_key
    // connections to that key are already idle. It is closed after max_idle unused.
    void put(const std::string& key, std::unique_ptr<connection> c, std::size_t max_idle_per_key,
             std::chrono::milliseconds max_idle);

    // Opens a new connection (resolving names) within `timeout`; with `tls`, the TLS handshake
    // (SNI, certificate and name verified) completes within the same timeout.
    boost::asio::awaitable<connect_result> connect(const config::endpoint& address, std::chrono::milliseconds timeout,
                                                   tls_client* tls = nullptr);

    // Closes connections idle past their max_idle or closed by the server (called periodically).
    void sweep();

    // Closes every idle connection.
    void clear();

    std::size_t idle_count() const;

private:
    boost::asio::io_context& ioc_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<connection>>> idle_;
};

}  // namespace sluice::upstream
