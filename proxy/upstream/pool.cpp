#include "upstream/pool.hpp"

#include "upstream/tls_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace sluice::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto token = asio::as_tuple(asio::use_awaitable);

namespace {

// An idle keep-alive connection must have nothing to read: readable means the server closed it
// (EOF) or sent bytes we did not ask for; either way it cannot carry another request.
bool still_open(connection& c) {
    char byte;
    const auto fd = c.stream.socket().native_handle();
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

pool::pool(asio::io_context& ioc) : ioc_(ioc) {}

std::unique_ptr<connection> pool::take(const std::string& key, std::chrono::milliseconds max_idle) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    while (!list.empty()) {
        std::unique_ptr<connection> c = std::move(list.back());  // most recently used: warmest
        list.pop_back();
        if (now - c->idle_since < std::min(max_idle, c->max_idle) && still_open(*c)) return c;
        boost::system::error_code ec;
        c->stream.socket().close(ec);
    }
    return nullptr;
}

void pool::put(const std::string& key, std::unique_ptr<connection> c, std::size_t max_idle_per_key,
               std::chrono::milliseconds max_idle) {
    auto& list = idle_[key];
    if (list.size() >= max_idle_per_key) {
        boost::system::error_code ec;
        c->stream.socket().close(ec);
        return;
    }
    c->idle_since = std::chrono::steady_clock::now();
    c->max_idle = max_idle;
    c->stream.expires_never();
    list.push_back(std::move(c));
}

asio::awaitable<connect_result> pool::connect(const config::endpoint& address, std::chrono::milliseconds timeout,
                                              tls_client* tls) {
    connect_result out;
    auto c = std::make_unique<connection>(ioc_);
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(address.host, ec);
    c->stream.expires_after(timeout);
    if (!ec) {
        auto [cec] = co_await c->stream.lowest().async_connect(tcp::endpoint(ip, address.port), token);
        ec = cec;
    } else {
        tcp::resolver resolver(ioc_);
        auto [rec, results] = co_await resolver.async_resolve(address.host, std::to_string(address.port), token);
        if (rec) {
            out.err = http::error::upstream_connect_failed;
            co_return out;
        }
        auto [cec, ep] = co_await c->stream.lowest().async_connect(results, token);
        ec = cec;
    }
    if (ec) {
        out.err = ec == boost::beast::error::timeout ? http::error::upstream_connect_timeout
                                                     : http::error::upstream_connect_failed;
        co_return out;
    }
    c->stream.socket().set_option(tcp::no_delay(true), ec);
    if (tls) {
        // The deadline set before connecting still runs: it bounds the handshake too.
        auto& layer = c->stream.start_tls(tls->context());
        if (!tls->prepare(layer.native_handle(), address.host)) {
            out.err = http::error::upstream_tls_failed;
            co_return out;
        }
        auto [hec] = co_await layer.async_handshake(asio::ssl::stream_base::client, token);
        if (hec) {
            if (hec == boost::beast::error::timeout) {
                out.err = http::error::upstream_connect_timeout;
            } else {
                out.err = http::error::upstream_tls_failed;
                spdlog::warn("upstream TLS handshake with {} ({}) failed: {}", address.to_string(),
                             tls->verified_name(address.host), hec.message());
            }
            c->stream.close();
            co_return out;
        }
    }
    out.conn = std::move(c);
    co_return out;
}

void pool::sweep() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        std::erase_if(list, [&](std::unique_ptr<connection>& c) {
            if (now - c->idle_since < c->max_idle && still_open(*c)) return false;
            boost::system::error_code ec;
            c->stream.socket().close(ec);
            return true;
        });
        it = list.empty() ? idle_.erase(it) : std::next(it);
    }
}

void pool::clear() {
    for (auto& [key, list] : idle_)
        for (auto& c : list) {
            boost::system::error_code ec;
            c->stream.socket().close(ec);
        }
    idle_.clear();
}

std::size_t pool::idle_count() const {
    std::size_t n = 0;
    for (const auto& [key, list] : idle_) n += list.size();
    return n;
}

}  // namespace sluice::upstream
