#include "admin/admin_server.hpp"

#include "admin/config_json.hpp"
#include "cache/key.hpp"
#include "cache/worker_store.hpp"
#include "config/store.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

namespace sluice::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto token = asio::as_tuple(asio::use_awaitable);

struct answer {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
};

answer json_error(unsigned status, std::string_view code) {
    return {status, "{\"error\":\"" + std::string(code) + "\"}"};
}

// %XX sequences decoded; '+' kept (query values here are URLs and paths).
std::string percent_decode(std::string_view s) {
    std::string out;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

answer handle(const admin_context& ctx, const bhttp::request<bhttp::string_body>& req) {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    if (path == "/healthz") {
        if (!get) return json_error(405, "method_not_allowed");
        return {200, "{\"status\":\"ok\"}"};
    }
    if (path == "/readyz") {
        if (!get) return json_error(405, "method_not_allowed");
        if (ctx.draining.load()) return {503, "{\"status\":\"draining\"}"};
        return {200, "{\"status\":\"ready\"}"};
    }
    if (path == "/metrics") {
        if (!get) return json_error(405, "method_not_allowed");
        const auto snap = ctx.store.current();
        return {200, ctx.metrics.serialize(snap.get()), "text/plain; version=0.0.4; charset=utf-8"};
    }
    if (path == "/config") {
        if (!get) return json_error(405, "method_not_allowed");
        const auto snap = ctx.store.current();
        return {200, config_to_json(*snap)};
    }
    return json_error(404, "not_found");
}

// POST /cache/purge?key=URL (one URL, every variant) or ?prefix=/PATH (every host) or ?prefix=URL,
// on the store the current config names (memory, or Redis: see cache::redis_store).
asio::awaitable<answer> purge(const admin_context& ctx, const bhttp::request<bhttp::string_body>& req) {
    if (req.method() != bhttp::verb::post) co_return json_error(405, "method_not_allowed");
    const auto snap = ctx.store.current();
    if (!ctx.cache || !ctx.cache->enabled(*snap)) co_return json_error(404, "cache_not_configured");
    const std::string_view target = req.target();
    const auto q = target.find('?');
    const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    std::string key, prefix;
    for (std::size_t start = 0; start <= query.size();) {
        auto amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        const auto pair = query.substr(start, amp - start);
        const auto eq = pair.find('=');
        const auto name = pair.substr(0, eq);
        const std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
        if (name == "key") key = value;
        if (name == "prefix") prefix = value;
        start = amp + 1;
    }
    std::optional<std::size_t> purged;
    if (!key.empty()) {
        auto k = cache::primary_key_from_url(key);
        if (!k) co_return json_error(400, "bad_key_url");
        purged = co_await ctx.cache->erase(*snap, *k);
    } else if (!prefix.empty()) {
        if (prefix.front() != '/') {
            auto k = cache::primary_key_from_url(prefix);
            if (!k) co_return json_error(400, "bad_prefix");
            prefix = *k;
        }
        purged = co_await ctx.cache->erase_prefix(*snap, prefix);
    } else {
        co_return json_error(400, "key_or_prefix_required");
    }
    if (!purged) co_return json_error(503, "cache_store_unavailable");
    co_return answer{200, "{\"purged\":" + std::to_string(*purged) + "}"};
}

asio::awaitable<void> session(tcp::socket socket, const admin_context& ctx) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(64 * 1024);
        stream.expires_after(std::chrono::seconds(30));
        auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, token);
        if (ec) {
            if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout) break;
            if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
                bhttp::response<bhttp::string_body> bad{bhttp::status::bad_request, 11};
                bad.set(bhttp::field::content_type, "application/json");
                bad.body() = "{\"error\":\"bad_request\"}";
                bad.prepare_payload();
                bad.keep_alive(false);
                co_await bhttp::async_write(stream, bad, token);
            }
            break;
        }
        const auto& req = parser.get();
        const std::string_view path = req.target().substr(0, req.target().find('?'));
        answer a;  // (GCC 12 mishandles co_await inside a conditional expression)
        if (path == "/cache/purge") a = co_await purge(ctx, req);
        else a = handle(ctx, req);
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(a.status), 11};
        res.set(bhttp::field::content_type, a.content_type);
        res.set(bhttp::field::cache_control, "no-store");
        res.body() = std::move(a.body);
        res.prepare_payload();
        if (req.method() == bhttp::verb::head) res.body().clear();
        res.keep_alive(req.keep_alive());
        bhttp::serializer<false, bhttp::string_body> sr{res};
        if (req.method() == bhttp::verb::head) sr.split(true);
        auto [wec, wn] = req.method() == bhttp::verb::head ? co_await bhttp::async_write_header(stream, sr, token)
                                                           : co_await bhttp::async_write(stream, sr, token);
        if (wec || !req.keep_alive()) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

struct admin_server::impl {
    impl(asio::io_context& i, admin_context c) : ioc(i), ctx(c), acceptor(i) {}
    asio::io_context& ioc;
    admin_context ctx;
    tcp::acceptor acceptor;

    void accept() {
        acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            if (!ec) asio::co_spawn(ioc, session(std::move(s), ctx), asio::detached);
            accept();
        });
    }
};

admin_server::admin_server(asio::io_context& ioc, admin_context ctx) : impl_(std::make_unique<impl>(ioc, ctx)) {}

admin_server::~admin_server() = default;

std::string admin_server::listen(const config::endpoint& ep) {
    tcp::endpoint e(asio::ip::make_address(ep.host), ep.port);
    auto& a = impl_->acceptor;
    a.open(e.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    a.bind(e);
    a.listen();
    impl_->accept();
    const auto bound = a.local_endpoint();
    const bool v6 = bound.address().is_v6();
    return (v6 ? "[" : "") + bound.address().to_string() + (v6 ? "]:" : ":") + std::to_string(bound.port());
}

void admin_server::close() {
    beast::error_code ec;
    impl_->acceptor.close(ec);
}

}  // namespace sluice::admin
