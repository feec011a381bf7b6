#pragma once
// The proxy path: pick a server, take or open a keep-alive connection, stream the request
// upstream and the response downstream through fixed-size buffers (bodies are never held
// whole), and return the connection to the worker's pool when the exchange left it clean.
// A template over the downstream stream; proxy_pass_plain.cpp and proxy_pass_tls.cpp
// instantiate it.

#include "http/cache_glue.hpp"
#include "http/exchange.hpp"
#include "http/framing.hpp"
#include "http/lua_glue.hpp"
#include "http/tunnel.hpp"

#include "lb/balancer.hpp"
#include "lb/hash_key.hpp"
#include "lua/request_call.hpp"
#include "route/router.hpp"
#include "route/transform.hpp"
#include "upstream/outcome.hpp"
#include "upstream/outlier.hpp"
#include "upstream/retry_budget.hpp"
#include "upstream/server_state.hpp"
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
#include <mutex>

#include <spdlog/spdlog.h>
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
    case error::upstream_tls_failed: return "tls_failure";
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

inline breaker::attempt_result to_attempt_result(const upstream::outcome& o) {
    switch (o.type) {
    case upstream::outcome::kind::response: return breaker::attempt_result::response;
    case upstream::outcome::kind::connect_failure: return breaker::attempt_result::connect_failure;
    case upstream::outcome::kind::timeout: return breaker::attempt_result::timeout;
    case upstream::outcome::kind::reset: return breaker::attempt_result::reset;
    }
    return breaker::attempt_result::reset;
}

inline void log_transition(std::string_view upstream, std::string_view server, const breaker::transition& t) {
    spdlog::warn("upstream \"{}\" server {}: circuit {} -> {} ({})", upstream, server, breaker::to_string(t.from),
                 breaker::to_string(t.to), t.reason);
}

// Holds what one upstream attempt takes and gives it back on every exit path: the server's
// in-flight count (least_request and bounded loads read it) and a half-open probe slot.
class attempt_guard {
public:
    attempt_guard() = default;
    attempt_guard(const attempt_guard&) = delete;
    attempt_guard& operator=(const attempt_guard&) = delete;
    ~attempt_guard() {
        end_attempt();
        abandon_probe();
    }
    void start_attempt(upstream::server_state* s) {
        end_attempt();
        in_flight_ = s;
        if (s) s->in_flight.fetch_add(1, std::memory_order_relaxed);
    }
    void end_attempt() {
        if (in_flight_) in_flight_->in_flight.fetch_sub(1, std::memory_order_relaxed);
        in_flight_ = nullptr;
    }
    void take_probe(upstream::server_state* s) {
        abandon_probe();
        probe_ = s;
    }
    void probe_reported() { probe_ = nullptr; }

private:
    void abandon_probe() {
        if (!probe_) return;
        std::lock_guard lock(probe_->mutex);
        probe_->breaker.on_probe_abandoned();
        probe_ = nullptr;
    }
    upstream::server_state* in_flight_ = nullptr;
    upstream::server_state* probe_ = nullptr;
};

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
    tunnel_control ctl;
    ex.w.add_tunnel(&ctl);
    if (ex.w.draining()) ctl.request_close();
    const auto stats =
        co_await run_tunnel(ex.ds, ex.dbuf, conn.stream, conn.buffer, ex.cfg.server.idle_timeout, ctl);
    ex.w.remove_tunnel(&ctl);
    sessions.Decrement();
    ex.bytes_in += stats.to_upstream;
    ex.bytes_out += stats.to_downstream;
}

template <class Stream>
asio::awaitable<void> proxy_pass(exchange<Stream>& ex) {
    using namespace pp_detail;
    const config::upstream& up = ex.cfg.upstreams[ex.upstream_index];
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
    // A body already read for the Lua filter goes up from memory; any other streams. A background
    // cache refresh sends no body.
    const bool has_body = !ex.discard_response && (!ex.parser.is_done() || (ex.body && !ex.body->empty()));
    if (ex.cache && ex.cache->revalidating && ex.cache->stored) {
        // Revalidation: the stored entry's validators replace the client's (a 304 then refreshes
        // the entry and the session answers the client from it, 304 only if its own matched).
        ureq.erase(bhttp::field::if_none_match);
        ureq.erase(bhttp::field::if_modified_since);
        for (const auto& [name, value] : cache::conditional_headers(*ex.cache->stored)) ureq.set(name, value);
    }

    std::unique_ptr<char[]> buf;
    auto relay_buf = [&] {
        if (!buf) buf.reset(new char[relay_buffer_size]);
        return buf.get();
    };

    auto& pool = ex.w.pool();
    auto& balancer = ex.w.balancer(ex.cfg, ex.upstream_index);
    auto& views = ex.w.server_views();
    const std::size_t n_servers = up.servers.size();
    // Servers already tried in this exchange (std::vector<bool> cannot be viewed as a span).
    std::unique_ptr<bool[]> tried(new bool[n_servers]());
    upstream::upstream_state* shared = up.shared.get();
    std::optional<upstream::retry_budget::request> budget_request;
    if (shared) budget_request.emplace(shared->budget.start_request());
    std::optional<upstream::retry_budget::retry> retry_token;
    const auto* breaker_cfg = up.circuit_breaker ? &*up.circuit_breaker : nullptr;

    std::optional<std::uint64_t> hash;
    if (up.balance == config::balance_kind::consistent_hash && ex.hash_key) {
        if (!ex.hash_key->empty()) hash = lb::hash_key(*ex.hash_key);  // chosen by the Lua filter
    } else if (up.balance == config::balance_kind::consistent_hash) {
        const std::string_view target = req.target();
        const auto q = target.find('?');
        const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
        hash = lb::request_hash(up.hash_key, ex.client_ip, route::target_path(target), query,
                                [&](std::string_view name) -> std::optional<std::string_view> {
                                    auto it = req.find(name);
                                    if (it == req.end()) return std::nullopt;
                                    return std::string_view(it->value());
                                });
    }

    auto& metrics = ex.w.metrics();
    auto attempt_started = std::chrono::steady_clock::now();
    auto seconds_since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };

    std::unique_ptr<upstream::connection> conn;
    std::string key;
    std::optional<response_parser> rp;
    bool body_sent = false;
    bool have_server = false;
    bool fresh_only = false;  // a pooled connection turned out stale: open a new one to the same server

    // The current attempt: its server, its in-flight count, its breaker probe, its cap slot.
    std::size_t idx = 0;
    upstream::server_state* st = nullptr;
    attempt_guard guard;
    breaker::resource_slot conn_slot;
    bool breaker_refused = false;  // some server was skipped because its circuit is open

    // Feeds the outcome of the current attempt to the metrics, outlier detection and breaker.
    auto record = [&](const upstream::outcome& o, std::string_view label) {
        metrics.upstream_done(up.name, ex.server, label, seconds_since(attempt_started));
        const auto now = std::chrono::steady_clock::now();
        upstream::record_outcome(up.servers, idx, o, now, up.outlier);
        if (breaker_cfg && st) {
            std::lock_guard lock(st->mutex);
            const bool failed = breaker::counts_as_failure(*breaker_cfg, to_attempt_result(o), o.status);
            const auto now_ns = now.time_since_epoch().count();
            auto t = failed ? st->breaker.on_failure(now_ns, *breaker_cfg) : st->breaker.on_success(now_ns);
            guard.probe_reported();
            if (t) log_transition(up.name, ex.server, *t);
        }
    };
    // After a failed attempt: true when the retry policy and the budget allow another try.
    auto may_retry = [&](const upstream::outcome& o) {
        tried[idx] = true;
        guard.end_attempt();
        conn_slot = {};
        if (!upstream::should_retry(o, ex.attempts, up.retries, req.method_string(), has_body, body_sent)) return false;
        if (!shared) return true;
        auto t = shared->budget.try_retry(up.retries);
        if (!t) return false;
        retry_token = std::move(*t);
        return true;
    };

    for (;;) {
        // ---- choose a server ----
        if (!have_server) {
            const auto now = std::chrono::steady_clock::now();
            const auto now_ns = now.time_since_epoch().count();
            views.resize(n_servers);
            for (std::size_t i = 0; i < n_servers; ++i) {
                const auto& s = up.servers[i];
                auto* state = s.state.get();
                bool available = true;
                if (state) {
                    available = state->healthy.load(std::memory_order_relaxed) && !upstream::is_ejected(*state, now);
                    if (available && breaker_cfg) {
                        std::lock_guard lock(state->mutex);
                        if (state->breaker.current(now_ns) == breaker::state::open) {
                            available = false;
                            breaker_refused = true;
                        }
                    }
                }
                views[i] = {s.weight, state ? state->in_flight.load(std::memory_order_relaxed) : 0, available};
            }
            const auto pick = balancer.pick({std::span<const lb::server_view>(views.data(), n_servers),
                                             std::span<const bool>(tried.get(), n_servers), hash});
            if (!pick) {
                // Keep the last attempt's error; with no attempt at all, say why nothing was tried.
                if (!ex.err || ex.attempts == 0) ex.err = breaker_refused ? error::circuit_open : error::no_server;
                co_return;
            }
            idx = *pick;
            st = up.servers[idx].state.get();
            if (breaker_cfg && st) {
                std::unique_lock lock(st->mutex);
                const auto adm = st->breaker.allow(now_ns, *breaker_cfg);
                lock.unlock();
                if (adm.changed) log_transition(up.name, up.servers[idx].address.to_string(), *adm.changed);
                if (!adm.allowed) {  // half-open with every probe slot taken: another server
                    tried[idx] = true;
                    breaker_refused = true;
                    continue;
                }
                if (adm.probe) guard.take_probe(st);
            }
            if (breaker_cfg && shared) {
                conn_slot = breaker::resource_slot::try_take(shared->caps.connections, breaker_cfg->max_connections);
                if (!conn_slot) {
                    guard.end_attempt();
                    ex.err = error::upstream_overflow;  // Sluice's own refusal: no breaker, no outlier
                    co_return;
                }
            }
            have_server = true;
            ++ex.attempts;
            key = up.servers[idx].address.to_string();
            ex.server = key;
            if (up.tls) key.insert(0, "tls|");  // never shares pooled connections with plain ones
            guard.start_attempt(st);
            attempt_started = std::chrono::steady_clock::now();
        }
        // ---- a connection to it ----
        if (!conn) {
            if (!fresh_only) conn = pool.take(key, up.timeouts.idle);
            fresh_only = false;
            if (!conn) {
                breaker::resource_slot pending;
                if (breaker_cfg && shared) {
                    pending = breaker::resource_slot::try_take(shared->caps.pending, breaker_cfg->max_pending);
                    if (!pending) {
                        guard.end_attempt();
                        ex.err = error::upstream_overflow;
                        co_return;
                    }
                }
                auto res = co_await pool.connect(up.servers[idx].address, up.timeouts.connect,
                                                 up.tls ? up.tls->client.get() : nullptr);
                if (!res.conn) {
                    ex.err = res.err;
                    const auto o = upstream::outcome::connect_failure();
                    record(o, outcome_of(res.err));
                    have_server = false;
                    if (may_retry(o)) continue;
                    co_return;
                }
                conn = std::move(res.conn);
            }
        }
        const bool reused = conn->requests > 0;
        ++conn->requests;
        // A failure on this connection: the outcome it means for the server.
        auto fail = [&](error e) {
            ex.err = e;
            const auto o = e == error::upstream_timeout ? upstream::outcome::timeout() : upstream::outcome::reset();
            record(o, outcome_of(e));
            have_server = false;
            return may_retry(o);
        };

        // ---- request head (and body) upstream ----
        ureq.body().data = nullptr;
        ureq.body().size = 0;
        ureq.body().more = has_body;
        bhttp::request_serializer<bhttp::buffer_body> sr{ureq};
        conn->stream.expires_after(up.timeouts.response);
        auto [hec, hn] = co_await bhttp::async_write_header(conn->stream, sr, token);
        if (hec) {
            conn.reset();
            if (reused) {  // stale pooled connection: nothing was consumed, try a fresh one
                fresh_only = true;
                continue;
            }
            if (fail(is_timeout(hec) ? error::upstream_timeout : error::upstream_reset)) continue;
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
            char* b = ex.body ? nullptr : relay_buf();
            bool body_given = false;  // ex.body handed to the serializer (once per attempt)
            for (;;) {
                if (ex.body && !body_given) {
                    ureq.body().data = const_cast<char*>(ex.body->data());
                    ureq.body().size = ex.body->size();
                    ureq.body().more = false;
                    body_given = true;
                } else if (!ex.body && !ex.parser.is_done()) {
                    ex.parser.get().body().data = b;
                    ex.parser.get().body().size = relay_buffer_size;
                    lowest(ex.ds).expires_after(ex.cfg.server.idle_timeout);
                    auto [rec, rn] = co_await bhttp::async_read(ex.ds, ex.dbuf, ex.parser, token);
                    if (rec == bhttp::error::need_buffer) rec = {};
                    if (rec) {
                        ex.close_downstream = true;
                        if (rec == bhttp::error::body_limit) ex.err = error::body_too_large;
                        else if (rec.category() == bhttp::make_error_code(bhttp::error::body_limit).category()) ex.err = error::bad_request;
                        co_return;  // the client's fault: the upstream connection is dropped with conn
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
                    ex.close_downstream = !ex.parser.is_done();
                    fail(is_timeout(wec) ? error::upstream_timeout : error::upstream_reset);  // body sent: no retry
                    co_return;
                }
                if (sr.is_done()) break;
            }
        } else {
            beast::error_code wec;
            while (!sr.is_done()) {
                auto [ec, wn] = co_await bhttp::async_write(conn->stream, sr, token);
                wec = ec == bhttp::error::need_buffer ? beast::error_code() : ec;
                if (wec) break;
            }
            if (wec) {
                conn.reset();
                if (reused) {
                    fresh_only = true;
                    continue;
                }
                if (fail(is_timeout(wec) ? error::upstream_timeout : error::upstream_reset)) continue;
                co_return;
            }
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
            if (reused && !body_sent && nothing_received && !is_timeout(rec)) {  // stale connection
                fresh_only = true;
                continue;
            }
            if (fail(classify_upstream_read(rec))) continue;
            co_return;
        }
        if (framing::check_response(rp->get())) {  // ambiguous framing (framing.hpp): 502, never reused
            conn.reset();
            if (fail(error::upstream_bad_response)) continue;
            co_return;
        }
        const unsigned code = rp->get().result_int();
        const auto o = upstream::outcome::response(code);
        record(o, code >= 500 ? "5xx" : "success");
        auto another_server = [&] {
            for (std::size_t i = 0; i < n_servers; ++i)
                if (i != idx && !tried[i] && views[i].available) return true;
            return false;
        };
        if (upstream::retry_on(o, up.retries) && code != 101 && another_server()) {
            // A status the retry policy names, with a server left to ask: try it if allowed,
            // else relay this answer (never replace it with Sluice's own 503).
            const auto kept_err = ex.err;
            if (may_retry(o)) {
                ex.err = kept_err;
                conn.reset();  // its body is not read: the connection cannot be reused
                have_server = false;
                continue;
            }
        }
        ex.err.reset();  // earlier attempts failed, this one answered
        break;
    }

    if (ex.cache) {
        auto& cr = *ex.cache;
        const unsigned code = rp->get().result_int();
        cr.status.fwd_status = code;
        // RFC 9111 4.4: an unsafe method the upstream accepted invalidates what was stored for the
        // URI; done before the answer is relayed, so the client's next request cannot see it.
        if (!cr.invalidate_key.empty() && cache::invalidates(req.method_string(), code))
            if (auto* store = ex.w.cache_store()) co_await store->erase(ex.cfg, cr.invalidate_key);
        if (cr.active && cr.revalidating && code == 304) {
            // The stored entry is still current: hand the 304 to the session (never relayed as is).
            cr.not_modified = true;
            cr.response_time = cache_now();
            cr.response_headers = to_header_list(rp->get());
            if (rp->is_done() && rp->keep_alive() && conn->buffer.size() == 0 && up.keepalive > 0)
                pool.put(key, std::move(conn), up.keepalive, up.timeouts.idle);
            co_return;
        }
        if (cr.active && cr.stored && cache::is_error_status(code) && cache::usable_on_error(*cr.stored, cache_now())) {
            cr.serve_stale = true;  // the session answers from the stored entry (stale-if-error)
            co_return;              // this response is not read: the connection is dropped
        }
        if (cr.active && !cr.policy.head) {
            cr.response_time = cache_now();
            cr.response_headers = to_header_list(rp->get());
            cr.storage = cache::check_response(cr.policy, code, cr.response_headers, cr.request_time, cr.response_time,
                                               cr.settings);
            const auto length = rp->content_length();
            cr.capture = cr.storage.store && (!length || *length <= cr.max_object_bytes);
            cr.response_status = code;
            cr.status.stored = cr.capture;
        }
    }

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
    if (ex.extra_response_headers)
        for (const auto& [name, value] : *ex.extra_response_headers) dres.set(name, value);
    if (ex.cache) dres.set("Cache-Status", ex.cache->status.to_string());
    if (ex.lua) {
        // on_response sees the head as it will go out; a failure answers 500 instead (nothing
        // was sent downstream yet, and the unread upstream connection is dropped).
        lua_response<bhttp::fields> access{dres};
        if (ex.lua->on_response(access) == lua::outcome::failed) {
            ex.err = error::lua_error;
            co_return;
        }
    }
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
            if (ex.cache && ex.cache->capture && got > 0) {
                auto& cr = *ex.cache;
                if (cr.body.size() + got > cr.max_object_bytes) {
                    cr.capture = false;  // too large to store: it streams through, uncached
                    std::string().swap(cr.body);
                } else {
                    cr.body.append(b, got);
                }
            }
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
        if (ex.cache && ex.cache->capture && rp->is_done())
            if (auto* store = ex.w.cache_store()) co_await store_captured(*ex.cache, *store, ex.cfg, req);
        if (ex.discard_response) {  // a background refresh: read (and store) the body, send nothing
            if (rp->is_done()) break;
            continue;
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
