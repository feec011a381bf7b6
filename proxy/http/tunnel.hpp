#pragma once
// Splices a downstream stream and an upstream TCP stream byte for byte after a 101 Switching
// Protocols. One fixed buffer per direction and a read only after the previous write finished:
// a slow reader slows the writer through TCP, memory does not grow. Half-close is passed on;
// the tunnel ends when both directions ended, or when no byte moved for `idle`.
// On drain, a WebSocket close frame 1001 (going away) is sent to the client at the next frame
// boundary of the upstream-to-client stream; the client's reply travels upstream as usual, so
// the close handshake completes end to end.

#include "http/stream.hpp"
#include "upstream/stream.hpp"

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

// Lets the worker ask a tunnel to close (drain). Touched only on the worker's thread.
struct tunnel_control {
    bool close_requested = false;
    boost::asio::steady_timer* wake = nullptr;  // set while the tunnel runs
    void request_close() {
        close_requested = true;
        if (wake) wake->cancel();
    }
};

// Follows RFC 6455 frame headers in a byte stream to know where frames end, so a close frame
// can be put between two frames and never inside one.
class ws_frame_tracker {
public:
    void feed(const unsigned char* p, std::size_t n) {
        while (n > 0) {
            if (remaining_ > 0) {
                const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n));
                remaining_ -= take;
                p += take;
                n -= take;
                continue;
            }
            header_[header_len_++] = *p++;
            --n;
            if (header_len_ < 2) continue;
            const unsigned len7 = header_[1] & 0x7F;
            std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
            if (header_len_ < need) continue;
            std::uint64_t payload = len7;
            if (len7 == 126) payload = (std::uint64_t(header_[2]) << 8) | header_[3];
            if (len7 == 127) {
                payload = 0;
                for (int i = 2; i < 10; ++i) payload = (payload << 8) | header_[i];
            }
            remaining_ = payload;
            header_len_ = 0;
        }
    }
    bool at_boundary() const { return header_len_ == 0 && remaining_ == 0; }

private:
    unsigned char header_[14] = {};
    std::size_t header_len_ = 0;
    std::uint64_t remaining_ = 0;
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

// Toward an upstream, plain or TLS: a TCP half-close. Under TLS the server sees the TCP end
// without close_notify and ends its side, which ends the tunnel.
inline boost::asio::awaitable<void> half_close_async(upstream::stream& s) {
    boost::system::error_code ec;
    s.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
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

// The close frame a server sends: FIN + opcode 8, unmasked, 2-byte payload 1001 (going away).
inline constexpr unsigned char close_going_away[] = {0x88, 0x02, 0x03, 0xE9};

// State shared by the upstream-to-client pump and the closer, both on the worker's thread:
// only one of them writes to the client at a time.
struct close_state {
    ws_frame_tracker frames;
    bool pump_writing = false;
    bool closer_writing = false;
    bool close_sent = false;
};

// The upstream-to-client direction: like pump(), but tracks frames and sends the pending close
// frame at the first boundary after a drain asked for it.
template <class To>
boost::asio::awaitable<void> pump_to_client(upstream::stream& from, To& to, std::uint64_t& moved,
                                            std::chrono::steady_clock::time_point& last_activity,
                                            tunnel_control& ctl, close_state& cs, boost::asio::steady_timer& client_free) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    unsigned char buf[tunnel_buffer_size];
    for (;;) {
        auto [rec, n] = co_await from.async_read_some(boost::asio::buffer(buf), token);
        if (n > 0) {
            last_activity = std::chrono::steady_clock::now();
            if (cs.closer_writing) {  // the closer is sending the close frame right now
                client_free.expires_at(std::chrono::steady_clock::time_point::max());
                co_await client_free.async_wait(token);
            }
            cs.pump_writing = true;
            auto [wec, wn] = co_await boost::asio::async_write(to, boost::asio::buffer(buf, n), token);
            cs.pump_writing = false;
            if (wec) co_return;
            cs.frames.feed(buf, n);
            moved += wn;
            last_activity = std::chrono::steady_clock::now();
            if (ctl.close_requested && !cs.close_sent && cs.frames.at_boundary()) {
                cs.close_sent = true;
                co_await boost::asio::async_write(to, boost::asio::buffer(close_going_away), token);
            }
        }
        if (rec) break;
    }
    co_await half_close_async(to);
}

// Waits for a drain; sends the close frame at once when the client stream is between frames
// and idle, else leaves it to pump_to_client. Never returns by itself: the tunnel's end stops it.
template <class To>
boost::asio::awaitable<void> closer(To& to, tunnel_control& ctl, close_state& cs, boost::asio::steady_timer& wake,
                                    boost::asio::steady_timer& client_free) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    for (;;) {
        if (ctl.close_requested && !cs.close_sent && !cs.pump_writing && cs.frames.at_boundary()) {
            cs.close_sent = true;
            cs.closer_writing = true;
            co_await boost::asio::async_write(to, boost::asio::buffer(close_going_away), token);
            cs.closer_writing = false;
            client_free.cancel();
        }
        wake.expires_at(std::chrono::steady_clock::time_point::max());
        auto [ec] = co_await wake.async_wait(token);
        if (!ec) co_return;  // cannot happen (time point max); keeps the loop finite in theory
        auto cs_state = co_await boost::asio::this_coro::cancellation_state;
        if (cs_state.cancelled() != boost::asio::cancellation_type::none) co_return;
    }
}

}  // namespace detail

template <class Stream>
boost::asio::awaitable<tunnel_stats> run_tunnel(Stream& client, boost::beast::flat_buffer& client_pending,
                                                upstream::stream& upstream, boost::beast::flat_buffer& upstream_pending,
                                                std::chrono::milliseconds idle, tunnel_control& ctl) {
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
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer wake(executor), client_free(executor);
    detail::close_state cs;
    ctl.wake = &wake;
    if constexpr (is_tls_v<Stream>) {
        co_await ((detail::pump(client, upstream, stats.to_upstream, last_activity) ||
                   detail::pump_to_client(upstream, client, stats.to_downstream, last_activity, ctl, cs, client_free)) ||
                  watchdog() || detail::closer(client, ctl, cs, wake, client_free));
    } else {
        co_await ((detail::pump(client, upstream, stats.to_upstream, last_activity) &&
                   detail::pump_to_client(upstream, client, stats.to_downstream, last_activity, ctl, cs, client_free)) ||
                  watchdog() || detail::closer(client, ctl, cs, wake, client_free));
    }
    ctl.wake = nullptr;
    co_return stats;
}

}  // namespace sluice::http
