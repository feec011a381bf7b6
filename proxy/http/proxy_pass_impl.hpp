#pragma once
// The proxy path: pick a server, take or open a keep-alive connection, stream the request
// upstream and the response downstream through fixed-size buffers (bodies are never held
// whole), and return the connection to the worker's pool when the exchange left it clean.
// A template over the downstream stream; proxy_pass_plain.cpp and proxy_pass_tls.cpp
// instantiate it.

#include "http/exchange.hpp"
#include "http/tunnel.hpp"

#include "route/transform.hpp"
#include "server/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include <memory>
#include <vector>

namespace sluice::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace pp_detail {

constexpr auto token = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t relay_buffer_size = 64 * 1024;
constexpr int max_interim_responses = 8;

using response_parser = bhttp::response_parser<bhttp::buffer_body>;

inline bool is_timeout(const beast::error_code& ec) { return ec == beast::error::timeout; }

// The outcome label of sluice_upstream_requests_total for an error.
inline std::string_view outcome_of(error e) {
    switch (e) {
    case error::upstream_connect_failed: return "connect_failure";
    case error::upstream_connect_timeout:
    case error::upstream_timeout: return "timeout";
    case error::upstream_bad_response: return "bad_response";
    default: return "reset";
    }
}

// What went wrong reading an upstream response head.
inline error classify_upstream_read(const beast::error_code& ec) {
    if (is_timeout(ec)) return error::upstream_timeout;
    if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() && ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message)
        return error::upstream_bad_response;
    return error::upstream_reset;
}

// Sets the framing of the request that goes upstream: the one the client used, re-applied
// after hop-by-hop removal (Transfer-Encoding is hop-by-hop; Content-Length is not).
inline void set_request_framing(bhttp::request<bhttp::buffer_body>& ureq, const request_parser& p) {
    ureq.erase(bhttp::field::content_length);
    if (p.chunked()) ureq.chunked(true);
    else if (auto len = p.content_length()) ureq.content_length(*len);
}

}  // namespace pp_detail

// Relays the upstream's 101 and splices the two connections until the tunnel ends.
template <class Stream>
asio::awaitable<void> relay_upgrade(exchange<Stream>& ex, pp_detail::response_parser& rp, upstream::connection& conn) {
    using namespace pp_detail;
    bhttp::response<bhttp::empty_body> res;
    static_cast<bhttp::response_header<>&>(res) = rp.get().base();
    route::prepare_downstream_response(res, ex.route, ex.request_id);
    res.version(11);
    res.set(bhttp::field::upgrade, rp.get()[bhttp::field::upgrade]);
    res.set(bhttp::field::connection, "Upgrade");
    ex.status = 101;
    ex.response_started = true;
    ex.close_downstream = true;  // the connection belongs to the tunnel from here on
    lowest(ex.ds).expires_after(ex.cfg.server.idle_timeout);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    auto [ec, n] = co_await bhttp::async_write_header(ex.ds, sr, token);
    if (ec) co_return;
    auto& sessions = ex.w.metrics().websocket_sessions();
    sessions.Increment();
    const auto stats = co_await run_tunnel(ex.ds, ex.dbuf, conn.stream, conn.buffer, ex.cfg.server.idle_timeout);
    sessions.Decrement();
    ex.bytes_in += stats.to_upstream;
    ex.bytes_out += stats.to_downstream;
}

template <class Stream>
asio::awaitable<void> proxy_pass(exchange<Stream>& ex) {
    using namespace pp_detail;
    const config::upstream& up = ex.cfg.upstreams[ex.route.upstream_index];
    auto& req = ex.parser.get();
    const bool is_head = req.method() == bhttp::verb::head;

    // The request head as it goes upstream: copied once, then rewritten.
    bhttp::request<bhttp::buffer_body> ureq;
    static_cast<bhttp::request_header<>&>(ureq) = req.base();
    ureq.version(11);
    ureq.target(route::rewrite_target(ex.route, req.target()));
    bool expect_continue = false;
    if (auto it = req.find(bhttp::field::expect); it != req.end()) {
        expect_continue = beast::iequals(it->value(), "100-continue");
        ureq.erase(bhttp::field::expect);
    }
    route::prepare_upstream_request(ureq, ex.route, {ex.client_ip, ex.scheme, ex.request_id});
    if (ex.websocket) {
        // Upgrade and Connection are hop-by-hop; a WebSocket handshake asks this hop for them.
        ureq.set(bhttp::field::upgrade, req[bhttp::field::upgrade]);
        ureq.set(bhttp::field::connection, "Upgrade");
    }
    set_request_framing(ureq, ex.parser);
    const bool has_body = !ex.parser.is_done();

    std::unique_ptr<char[]> buf;
    auto relay_buf = [&] {
        if (!buf) buf.reset(new char[relay_buffer_size]);
        return buf.get();
    };

    auto& pool = ex.w.pool();
    auto& balancer = ex.w.balancer(ex.cfg, ex.route.upstream_index);
    // Servers already failed in this exchange (std::vector<bool> cannot be viewed as a span).
    std::unique_ptr<bool[]> excluded(new bool[up.servers.size()]());

    auto& metrics = ex.w.metrics();
    auto attempt_started = std::chrono::steady_clock::now();
    auto seconds_since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    auto count_failure = [&](error e) { metrics.upstream_done(up.name, ex.server, outcome_of(e), seconds_since(attempt_started)); };

    std::unique_ptr<upstream::connection> conn;
    std::string key;
    std::optional<response_parser> rp;
    bool body_sent = false;

    for (;;) {
        // ---- choose a server and a connection ----
        if (!conn) {
            auto idx = balancer.pick(std::span<const bool>(excluded.get(), up.servers.size()));
            if (!idx) {
                if (!ex.err) ex.err = error::no_server;
                co_return;
            }
            const auto& server = up.servers[*idx];
            ++ex.attempts;
            key = server.address.to_string();
            ex.server = key;
            conn = pool.take(key, up.timeouts.idle);
            attempt_started = std::chrono::steady_clock::now();
            if (!conn) {
                auto res = co_await pool.connect(server.address, up.timeouts.connect);
                if (!res.conn) {
                    ex.err = res.err;
                    count_failure(res.err);
                    excluded[*idx] = true;  // connect failures are safe to retry elsewhere
                    continue;
                }
                conn = std::move(res.conn);
            }
        }
        const bool reused = conn->requests > 0;
        ++conn->requests;

        // ---- request head (and body) upstream ----
        ureq.body().data = nullptr;
        ureq.body().size = 0;
        ureq.body().more = has_body;
        bhttp::request_serializer<bhttp::buffer_body> sr{ureq};
        conn->stream.expires_after(up.timeouts.response);
        auto [hec, hn] = co_await bhttp::async_write_header(conn->stream, sr, token);
        if (hec) {
            conn.reset();
            if (reused) continue;  // stale pooled connection: nothing was consumed, try a fresh one
            ex.err = is_timeout(hec) ? error::upstream_timeout : error::upstream_reset;
            count_failure(*ex.err);
            co_return;
        }

        if (has_body) {
            if (expect_continue && !body_sent) {
                static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
                lowest(ex.ds).expires_after(ex.cfg.server.idle_timeout);
                auto [cec, cn] = co_await asio::async_write(ex.ds, asio::buffer(continue_line), token);
                if (cec) {
                    ex.close_downstream = true;
                    co_return;
                }
            }
            body_sent = true;  // from here on the body is consumed: no more retries
            char* b = relay_buf();
            for (;;) {
                if (!ex.parser.is_done()) {
                    ex.parser.get().body().data = b;
                    ex.parser.get().body().size = relay_buffer_size;
                    lowest(ex.ds).expires_after(ex.cfg.server.idle_timeout);
                    auto [rec, rn] = co_await bhttp::async_read(ex.ds, ex.dbuf, ex.parser, token);
                    if (rec == bhttp::error::need_buffer) rec = {};
                    if (rec) {
                        ex.close_downstream = true;
                        if (rec == bhttp::error::body_limit) ex.err = error::body_too_large;
                        else if (rec.category() == bhttp::make_error_code(bhttp::error::body_limit).category()) ex.err = error::bad_request;
                        co_return;  // the upstream connection is dropped with conn
                    }
                    const std::size_t got = relay_buffer_size - ex.parser.get().body().size;
                    ex.bytes_in += got;
                    ureq.body().data = got ? b : nullptr;
                    ureq.body().size = got;
                    ureq.body().more = !ex.parser.is_done();
                } else {
                    ureq.body().data = nullptr;
                    ureq.body().size = 0;
                    ureq.body().more = false;
                }
                conn->stream.expires_after(up.timeouts.response);
                auto [wec, wn] = co_await bhttp::async_write(conn->stream, sr, token);
                if (wec == bhttp::error::need_buffer) wec = {};
                if (wec) {
                    ex.err = is_timeout(wec) ? error::upstream_timeout : error::upstream_reset;
                    count_failure(*ex.err);
                    ex.close_downstream = !ex.parser.is_done();
                    co_return;
                }
                if (sr.is_done()) break;
            }
        } else {
            while (!sr.is_done()) {
                auto [wec, wn] = co_await bhttp::async_write(conn->stream, sr, token);
                if (wec == bhttp::error::need_buffer) wec = {};
                if (wec) {
                    conn.reset();
                    if (reused) break;
                    ex.err = is_timeout(wec) ? error::upstream_timeout : error::upstream_reset;
                    count_failure(*ex.err);
                    co_return;
                }
            }
            if (!conn) continue;
        }

        // ---- response head; interim 1xx responses other than 101 are dropped ----
        conn->stream.expires_after(up.timeouts.response);
        beast::error_code rec;
        for (int interim = 0;; ++interim) {
            rp.emplace();
            rp->body_limit(boost::none);
            if (is_head) rp->skip(true);
            auto [ec, n] = co_await bhttp::async_read_header(conn->stream, conn->buffer, *rp, token);
            rec = ec;
            if (rec) break;
            const unsigned code = rp->get().result_int();
            if (code >= 200 || code == 101 || interim >= max_interim_responses) break;
        }
        if (rec) {
            const bool nothing_received = conn->buffer.size() == 0;
            conn.reset();
            if (reused && !body_sent && nothing_received && !is_timeout(rec)) continue;  // stale connection
            ex.err = classify_upstream_read(rec);
            count_failure(*ex.err);
            co_return;
        }
        break;
    }
    metrics.upstream_done(up.name, ex.server, rp->get().result_int() >= 500 ? "5xx" : "success",
                          seconds_since(attempt_started));

    if (rp->get().result_int() == 101) {
        if (!ex.websocket) {  // a switch nobody asked for would desynchronise the connection
            ex.err = error::upstream_bad_response;
            co_return;
        }
        co_await relay_upgrade(ex, *rp, *conn);
        co_return;
    }

    // ---- response downstream ----
    auto& ures = rp->get();
    const unsigned status = ures.result_int();
    const bool no_body = is_head || status == 204 || status == 304 || (status >= 100 && status < 200);
    const bool client_http11 = req.version() >= 11;
    bool close_after = !ex.client_keep_alive || ex.w.draining();  // draining: last response here

    bhttp::response<bhttp::buffer_body> dres;
    static_cast<bhttp::response_header<>&>(dres) = ures.base();
    const auto upstream_length = rp->content_length();
    route::prepare_downstream_response(dres, ex.route, ex.request_id);
    dres.version(11);
    if (!no_body) {
        dres.erase(bhttp::field::content_length);
        if (upstream_length) {
            dres.content_length(*upstream_length);
        } else if (client_http11) {
            dres.chunked(true);  // chunked upstream, or a body delimited by the upstream closing
        } else {
            close_after = true;  // HTTP/1.0 client: the body ends when we close
        }
    }
    if (close_after) dres.set(bhttp::field::connection, "close");
    else if (!client_http11) dres.set(bhttp::field::connection, "keep-alive");

    ex.status = status;
    bhttp::response_serializer<bhttp::buffer_body> dsr{dres};
    char* b = no_body ? nullptr : relay_buf();
    for (;;) {
        std::size_t got = 0;
        if (!rp->is_done()) {
            rp->get().body().data = b;
            rp->get().body().size = relay_buffer_size;
            conn->stream.expires_after(up.timeouts.response);
            auto [rec, rn] = co_await bhttp::async_read(conn->stream, conn->buffer, *rp, token);
            if (rec == bhttp::error::need_buffer) rec = {};
            got = relay_buffer_size - rp->get().body().size;
            if (rec) {
                ex.err = classify_upstream_read(rec);
                // Nothing sent downstream yet: the session still answers 502/504.
                if (!ex.response_started) co_return;
                // The upstream broke mid-body: relay what arrived, then close, so the client
                // sees a truncated response rather than a complete-looking one.
                ex.close_downstream = true;
                if (got > 0) {
                    dres.body() = {b, got, true};
                    lowest(ex.ds).expires_after(ex.cfg.server.idle_timeout);
                    auto [wec, wn] = co_await bhttp::async_write(ex.ds, dsr, token);
                    if (!wec || wec == bhttp::error::need_buffer) ex.bytes_out += got;
                }
                co_return;
            }
            dres.body().data = got ? b : nullptr;
            dres.body().size = got;
            dres.body().more = !rp->is_done();
        } else {
            dres.body().data = nullptr;
            dres.body().size = 0;
            dres.body().more = false;
        }
        lowest(ex.ds).expires_after(ex.cfg.server.idle_timeout);
        ex.response_started = true;
        auto [wec, wn] = co_await bhttp::async_write(ex.ds, dsr, token);
        if (wec == bhttp::error::need_buffer) wec = {};
        if (wec) {
            ex.close_downstream = true;  // client gone or too slow; the upstream connection is dropped
            co_return;
        }
        ex.bytes_out += got;
        if (dsr.is_done()) break;
    }
    ex.close_downstream = ex.close_downstream || close_after;

    if (rp->is_done() && rp->keep_alive() && conn->buffer.size() == 0 && up.keepalive > 0)
        pool.put(key, std::move(conn), up.keepalive, up.timeouts.idle);
}

}  // namespace sluice::http
