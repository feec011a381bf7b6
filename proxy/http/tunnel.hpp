#pragma once
// Splices a downstream stream and an upstream TCP stream byte for byte after a 101 Switching
// Protocols. One fixed buffer per direction and a read only after the previous write finished:
// a slow reader slows the writer through TCP, memory does not grow. Half-close is passed on;
// the tunnel ends when both directions ended, or when no byte moved for `idle`.

#include "http/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>

namespace sluice::http {

struct tunnel_stats {
    std::uint64_t to_upstream = 0;
    std::uint64_t to_downstream = 0;
};

namespace detail {

inline constexpr std::size_t tunnel_buffer_size = 16 * 1024;

inline void half_close(plain_stream& s) {
    boost::system::error_code ec;
    s.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
}

inline boost::asio::awaitable<void> half_close_async(plain_stream& s) {
    half_close(s);
    co_return;
}

// TLS has no half-close that leaves the other direction readable (close_notify and the read
// of the peer's reply would race the other pump), so a TLS tunnel ends when either side ends.
inline boost::asio::awaitable<void> half_close_async(tls_stream&) { co_return; }

template <class From, class To>
boost::asio::awaitable<void> pump(From& from, To& to, std::uint64_t& moved,
                                  std::chrono::steady_clock::time_point& last_activity) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    char buf[tunnel_buffer_size];
    for (;;) {
        auto [rec, n] = co_await from.async_read_some(boost::asio::buffer(buf), token);
        if (n > 0) {
            last_activity = std::chrono::steady_clock::now();
            auto [wec, wn] = co_await boost::asio::async_write(to, boost::asio::buffer(buf, n), token);
            if (wec) co_return;
            moved += wn;
            last_activity = std::chrono::steady_clock::now();
        }
        if (rec) break;
    }
    co_await half_close_async(to);  // EOF (or error) from `from`: pass the end on
}

}  // namespace detail

template <class Stream>
boost::asio::awaitable<tunnel_stats> run_tunnel(Stream& client, boost::beast::flat_buffer& client_pending,
                                                plain_stream& upstream, boost::beast::flat_buffer& upstream_pending,
                                                std::chrono::milliseconds idle) {
    using namespace boost::asio::experimental::awaitable_operators;
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    tunnel_stats stats;
    // Bytes that arrived with the handshake belong to the tunnel: pass them on first.
    if (client_pending.size() > 0) {
        auto [ec, n] = co_await boost::asio::async_write(upstream, client_pending.data(), token);
        if (ec) co_return stats;
        stats.to_upstream += n;
        client_pending.consume(client_pending.size());
    }
    if (upstream_pending.size() > 0) {
        auto [ec, n] = co_await boost::asio::async_write(client, upstream_pending.data(), token);
        if (ec) co_return stats;
        stats.to_downstream += n;
        upstream_pending.consume(upstream_pending.size());
    }
    // Deadlines are the watchdog's job here: a quiet direction is fine while the other moves.
    lowest(client).expires_never();
    upstream.expires_never();
    auto last_activity = std::chrono::steady_clock::now();
    auto watchdog = [&]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        for (;;) {
            const auto deadline = last_activity + idle;
            if (std::chrono::steady_clock::now() >= deadline) co_return;
            timer.expires_at(deadline);
            co_await timer.async_wait(token);
        }
    };
    if constexpr (is_tls_v<Stream>) {
        co_await ((detail::pump(client, upstream, stats.to_upstream, last_activity) ||
                   detail::pump(upstream, client, stats.to_downstream, last_activity)) ||
                  watchdog());
    } else {
        co_await ((detail::pump(client, upstream, stats.to_upstream, last_activity) &&
                   detail::pump(upstream, client, stats.to_downstream, last_activity)) ||
                  watchdog());
    }
    co_return stats;
}

}  // namespace sluice::http
